#!/bin/bash
# TEST STAND-IN entrypoint of goharbor/harbor-db (not Harbor's file).
#
# Usage (image ENTRYPOINT): /docker-entrypoint.sh <old major> <new major>, i.e. 15 18.
# Keeps the path contract of the real image: the cluster lives in $PGDATA/pg<new>.
# Debian bookworm only has PostgreSQL 15 binaries, so the cluster in "pg18" is a
# PostgreSQL 15 cluster; an existing pg<old> cluster is refused instead of upgraded.
#
# Honoured: POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), POSTGRES_USER,
# POSTGRES_DB, POSTGRES_INITDB_ARGS, POSTGRES_MAX_CONNECTIONS (default 1024).
set -euo pipefail

TAG="[db-standin]"
old_major=${1:-}
new_major=${2:?usage: $0 <old major> <new major>}
: "${PGDATA:?PGDATA must be set}"
new_dir="$PGDATA/pg$new_major"

# read VAR or VAR_FILE (not both) into VAR, with an optional default
env_or_file() {
    local var=$1 def=${2:-} file_var="${1}_FILE"
    local val=${!var:-} file=${!file_var:-}
    if [ -n "$val" ] && [ -n "$file" ]; then
        echo "$TAG ERROR: both $var and $file_var are set" >&2
        exit 1
    fi
    if [ -n "$file" ]; then
        val=$(< "$file")
    fi
    export "$var"="${val:-$def}"
    unset "$file_var"
}

if [ -s "$PGDATA/PG_VERSION" ]; then
    echo "$TAG ERROR: $PGDATA holds a cluster in the old flat layout (PostgreSQL 9.6);" \
         "Harbor v2.15.2 refuses to upgrade it directly" >&2
    exit 1
fi

if [ ! -s "$new_dir/PG_VERSION" ]; then
    if [ -n "$old_major" ] && [ -s "$PGDATA/pg$old_major/PG_VERSION" ]; then
        echo "$TAG ERROR: found a PostgreSQL $old_major cluster in $PGDATA/pg$old_major;" \
             "the real image would pg_upgrade it to $new_major, the stand-in cannot" >&2
        exit 1
    fi
    echo "$TAG initialising a new cluster in $new_dir (PostgreSQL $(postgres -V | awk '{print $3}'))"
    env_or_file POSTGRES_PASSWORD
    env_or_file POSTGRES_USER postgres
    env_or_file POSTGRES_DB "$POSTGRES_USER"
    env_or_file POSTGRES_INITDB_ARGS
    # shellcheck disable=SC2086
    initdb -D "$new_dir" -U postgres -E UTF8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS
    if [ -n "$POSTGRES_PASSWORD" ]; then
        method=scram-sha-256
    else
        echo "$TAG WARNING: POSTGRES_PASSWORD is empty: every host may connect without a password" >&2
        method=trust
    fi
    printf '\n# added by the harbor-db stand-in\nhost all all all %s\n' "$method" >> "$new_dir/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >> "$new_dir/postgresql.conf"

    # private server on the unix socket only, to set passwords and databases
    pg_ctl -D "$new_dir" -o "-c listen_addresses=''" -w start
    psql_run() { psql -v ON_ERROR_STOP=1 --no-psqlrc --username postgres --dbname postgres "$@"; }
    if [ "$POSTGRES_USER" = postgres ]; then
        psql_run -v pw="$POSTGRES_PASSWORD" <<'SQL'
SELECT CASE WHEN :'pw' = '' THEN 'ALTER ROLE postgres WITH SUPERUSER'
            ELSE format('ALTER ROLE postgres WITH SUPERUSER PASSWORD %L', :'pw') END \gexec
SQL
    else
        psql_run -v u="$POSTGRES_USER" -v pw="$POSTGRES_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I WITH LOGIN SUPERUSER PASSWORD %L', :'u', NULLIF(:'pw', '')) \gexec
SQL
    fi
    if [ "$POSTGRES_DB" != postgres ]; then
        psql_run -v db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db') \gexec
SQL
    fi
    # Harbor core expects the "registry" database to exist.
    psql_run <<'SQL'
SELECT 'CREATE DATABASE registry ENCODING ''UTF8'''
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'registry') \gexec
SQL
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sql) echo "$TAG running $f"; psql_run -f "$f" ;;
            *.sh)  echo "$TAG running $f"; . "$f" ;;
            *)     if [ -e "$f" ]; then echo "$TAG ignoring $f"; fi ;;
        esac
    done
    pg_ctl -D "$new_dir" -m fast -w stop
    echo "$TAG cluster ready"
fi

env_or_file POSTGRES_MAX_CONNECTIONS 1024
max=$POSTGRES_MAX_CONNECTIONS
if ! [[ "$max" =~ ^[0-9]+$ ]] || [ "$max" -le 0 ] || [ "$max" -gt 262143 ]; then
    max=262143
fi
echo "$TAG starting postgres -D $new_dir (max_connections=$max)"
exec postgres -D "$new_dir" -c max_connections="$max"
