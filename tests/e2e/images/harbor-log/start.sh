#!/bin/bash
# TEST STAND-IN start script of goharbor/harbor-log (not Harbor's file).
# Runs as root: hands /var/log/docker to uid 10000, starts cron (hourly logrotate),
# then runs rsyslogd in the foreground as uid 10000.
set -e
chown -R 10000:10000 /var/log/docker
cron
rm -f /run/rsyslogd.pid
exec sudo -u '#10000' -E rsyslogd -n
