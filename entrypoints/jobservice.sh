#!/bin/sh
# Shim for Harbor's jobservice container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=jobservice
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_wait_writable /var/log/jobs
harbor_load_env "$HARBOR_SETUP_DIR/config/jobservice/env"
[ "$#" -gt 0 ] || set -- /harbor/entrypoint.sh
exec "$@"
