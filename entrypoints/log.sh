#!/bin/sh
# Shim for Harbor's log container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=log
. "$(dirname "$0")/lib.sh"
harbor_wait
# The log image runs as root and reads its config from fixed paths: copy it in. rsyslogd and
# the hourly logrotate run as uid 10000 there, so both files are 10000's, mode 0640, as
# upstream's installer leaves them (a root-owned 0640 copy: no rotation, ever).
for pair in "logrotate.conf /etc/logrotate.d" "rsyslog_docker.conf /etc/rsyslog.d"; do
    name=${pair% *} folder=${pair#* }
    cp "$HARBOR_SETUP_DIR/config/log/$name" "$folder/$name"
    chown 10000:10000 "$folder/$name"
    chmod 0640 "$folder/$name"
done
[ "$#" -gt 0 ] || set -- /usr/local/bin/start.sh
exec "$@"
