#!/bin/sh
# Shim for Harbor's proxy container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=proxy
. "$(dirname "$0")/lib.sh"
harbor_wait
[ "$#" -gt 0 ] || set -- nginx -c "$HARBOR_SETUP_DIR/config/nginx/nginx.conf" -g 'daemon off;'
exec "$@"
