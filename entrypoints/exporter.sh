#!/bin/sh
# Shim for Harbor's exporter container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=exporter
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_load_env "$HARBOR_SETUP_DIR/config/exporter/env"
[ "$#" -gt 0 ] || set -- /harbor/entrypoint.sh
exec "$@"
