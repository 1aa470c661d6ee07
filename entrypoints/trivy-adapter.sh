#!/bin/sh
# Shim for Harbor's trivy-adapter container: wait for the config, then run the image's own entrypoint.
set -e
HARBOR_SHIM=trivy-adapter
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_wait_writable /home/scanner/.cache/trivy /home/scanner/.cache/reports
harbor_load_env "$HARBOR_SETUP_DIR/config/trivy-adapter/env"
# updates off and no DB: trivy would refuse every scan; say why, once, at start
case "${SCANNER_TRIVY_SKIP_UPDATE:-false}" in
    true|TRUE|True|1|t|T)
        db=${SCANNER_TRIVY_CACHE_DIR:-/home/scanner/.cache/trivy}/db
        if [ ! -f "$db/trivy.db" ] || [ ! -f "$db/metadata.json" ]; then
            echo "[harbor-setupwrapper] trivy-adapter: HARBOR_TRIVY_SKIP_UPDATE is true but $db" \
                "has no trivy.db and metadata.json: every scan will fail with trivy's" \
                "\"--skip-db-update cannot be specified on the first run\". Bring the DB in" \
                "with compose/docker-compose.trivy-offline.yml (README, Trivy without the" \
                "internet)." >&2
        fi ;;
esac
[ "$#" -gt 0 ] || set -- /home/scanner/entrypoint.sh
exec "$@"
