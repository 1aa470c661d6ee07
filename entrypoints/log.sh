#!/bin/sh
# Shim for Harbor's log container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=log
. "$(dirname "$0")/lib.sh"
harbor_wait
# The log image runs as root and reads its config from fixed paths: copy it in.
cp "$HARBOR_SETUP_DIR/config/log/logrotate.conf" /etc/logrotate.d/logrotate.conf
cp "$HARBOR_SETUP_DIR/config/log/rsyslog_docker.conf" /etc/rsyslog.d/rsyslog_docker.conf
[ "$#" -gt 0 ] || set -- /usr/local/bin/start.sh
exec "$@"
