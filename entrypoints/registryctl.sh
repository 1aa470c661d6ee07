#!/bin/sh
# Shim for Harbor's registryctl container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=registryctl
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_wait_writable /storage
harbor_load_env "$HARBOR_SETUP_DIR/config/registryctl/env"
[ "$#" -gt 0 ] || set -- /home/harbor/start.sh
exec "$@"
