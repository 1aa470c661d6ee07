#!/bin/bash
# TEST STAND-IN health check of goharbor/harbor-db: SELECT 1 over TCP on localhost.
set -eo pipefail
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ -z "${POSTGRES_PASSWORD:-}" ] && [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(< "$POSTGRES_PASSWORD_FILE")
fi
export PGPASSWORD="${POSTGRES_PASSWORD:-}"
out=$(echo 'SELECT 1' | psql --no-psqlrc --host localhost --username "$user" --dbname "$db" \
      --quiet --no-align --tuples-only)
[ "$out" = 1 ]
