#!/bin/sh
# Shim for Harbor's proxy container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=proxy
. "$(dirname "$0")/lib.sh"
harbor_wait
if [ "$#" -eq 0 ]; then
    set -- nginx -c "$HARBOR_SETUP_DIR/config/nginx/nginx.conf" -g 'daemon off;'
    # A new generation (a renewed certificate) is served without a restart: nginx reloads on
    # SIGHUP, keeping its connections. This process becomes nginx (exec), so $$ is its master.
    harbor_reload_on_new_generation "$$" &
fi
exec "$@"
