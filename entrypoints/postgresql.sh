#!/bin/sh
# Shim for Harbor's postgresql container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=postgresql
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_wait_writable /var/lib/postgresql/data
harbor_load_env "$HARBOR_SETUP_DIR/config/db/env"
[ "$#" -gt 0 ] || set -- /docker-entrypoint.sh 15 18
exec "$@"
