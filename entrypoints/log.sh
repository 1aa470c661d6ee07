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
    # A new root-owned copy, its mode set before it is given away: the image's own file (and
    # ours after a restart) is already 10000's, and root without CAP_FOWNER (compose drops
    # it) may neither chmod nor chown a file it does not own.
    rm -f "$folder/$name"
    cp "$HARBOR_SETUP_DIR/config/log/$name" "$folder/$name"
    chmod 0640 "$folder/$name"
    chown 10000:10000 "$folder/$name"
done
[ "$#" -gt 0 ] || set -- /usr/local/bin/start.sh
exec "$@"
