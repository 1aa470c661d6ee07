#!/bin/bash
# TEST STAND-IN health check of goharbor/harbor-db (ours, from reading upstream's
# docker-healthcheck.sh): SELECT 1 over TCP to localhost as POSTGRES_USER (default postgres)
# into POSTGRES_DB (default POSTGRES_USER's name), with PGPASSWORD=POSTGRES_PASSWORD. Like
# upstream it reads no *_FILE variable: initdb's default pg_hba.conf trusts localhost.
set -eo pipefail
user=${POSTGRES_USER:-postgres}
export PGPASSWORD="${POSTGRES_PASSWORD:-}"
out=$(echo 'SELECT 1' | psql --host localhost --username "$user" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
      --quiet --no-align --tuples-only)
[ "$out" = 1 ]
