#!/bin/sh
# Restore, second step (compose/docker-compose.backup.yml, in the harbor-db image): loads a
# backup's pg_dump into the database of a deployment whose keys were restored (restore-keys).
# Usage: restore-database.sh harbor-backup-<time>
set -eu
HARBOR_SHIM=restore-database
. "$(dirname "$0")/lib.sh"
[ "$#" -eq 1 ] || harbor_die "usage: restore-database BACKUP (a folder name under /backups)"
dump=/backups/$1/registry.pgdump
[ -r "$dump" ] || harbor_die "cannot read $dump (is HARBOR_BACKUP_DIR the folder holding $1?)"
harbor_wait
harbor_load_env "$HARBOR_SETUP_DIR/config/core/env"
if getent hosts core >/dev/null 2>&1; then
    harbor_die "core is running: the database is restored before Harbor starts (docker compose" \
        "stop core jobservice, or restore into a new deployment)."
fi
export PGPASSWORD="$POSTGRESQL_PASSWORD" PGSSLMODE="${POSTGRESQL_SSLMODE:-disable}"
pg_restore --host "$POSTGRESQL_HOST" --port "${POSTGRESQL_PORT:-5432}" \
    --username "$POSTGRESQL_USERNAME" --dbname "$POSTGRESQL_DATABASE" \
    --clean --if-exists --no-owner --single-transaction --exit-on-error "$dump"
harbor_say "database $POSTGRESQL_DATABASE restored from $1; start Harbor: docker compose up -d"
