#!/bin/sh
# Shim for Harbor's trivy-adapter container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=trivy-adapter
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_wait_writable /home/scanner/.cache/trivy /home/scanner/.cache/reports
harbor_load_env "$HARBOR_SETUP_DIR/config/trivy-adapter/env"
[ "$#" -gt 0 ] || set -- /home/scanner/entrypoint.sh
exec "$@"
