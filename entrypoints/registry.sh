#!/bin/sh
# Shim for Harbor's registry container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=registry
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_wait_writable /storage
[ "$#" -gt 0 ] || set -- /home/harbor/entrypoint.sh
exec "$@"
