#!/bin/sh
# Shim for Harbor's redis container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=redis
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_wait_writable /var/lib/redis
[ "$#" -gt 0 ] || set -- valkey-server /etc/redis.conf
exec "$@"
