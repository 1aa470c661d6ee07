#!/bin/sh
# Shim for Harbor's core container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=core
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_load_env "$HARBOR_SETUP_DIR/config/core/env"
[ "$#" -gt 0 ] || set -- /harbor/entrypoint.sh
exec "$@"
