#!/bin/bash
# TEST STAND-IN start script of goharbor/harbor-log (not Harbor's file).
# Runs as root: hands /var/log/docker to uid 10000, starts cron (hourly logrotate),
# then runs rsyslogd in the foreground as uid 10000 (setpriv rather than sudo: sudo
# would need CAP_AUDIT_WRITE, which compose's cap_drop: ALL removes).
set -e
chown -R 10000:10000 /var/log/docker
cron
rm -f /run/rsyslogd.pid
exec setpriv --reuid=10000 --regid=10000 --clear-groups rsyslogd -n
