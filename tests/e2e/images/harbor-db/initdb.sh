#!/bin/bash
# TEST STAND-IN of goharbor/harbor-db's /initdb.sh (ours, from reading v2.15.2's
# make/photon/db/initdb.sh): the functions /docker-entrypoint.sh reads in.
set -e

# read_env VAR [DEFAULT]: VAR, else the content of the file VAR_FILE names, else DEFAULT;
# both set is an error. Exports VAR, unsets VAR_FILE.
read_env() {
    local var=$1 default=${2:-} file_var="${1}_FILE"
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        echo >&2 "error: $var and $file_var are both set; set one of them"
        exit 1
    fi
    local value=$default
    if [ -n "${!var:-}" ]; then
        value=${!var}
    elif [ -n "${!file_var:-}" ]; then
        value=$(< "${!file_var}")
    fi
    export "$var"="$value"
    unset "$file_var"
}

# init_cluster DIR RUN_INIT_SCRIPTS: initdb DIR (user postgres, UTF-8, en_US.UTF-8, plus
# POSTGRES_INITDB_ARGS), let every host in with POSTGRES_PASSWORD (scram-sha-256; no password:
# trust, with a warning), then on a socket-only server: create POSTGRES_DB, give POSTGRES_USER
# superuser and the password, and when RUN_INIT_SCRIPTS is true run /docker-entrypoint-initdb.d.
init_cluster() {
    local dir=$1 run_scripts=$2
    read_env POSTGRES_INITDB_ARGS
    if [ -n "${POSTGRES_INITDB_XLOGDIR:-}" ]; then
        export POSTGRES_INITDB_ARGS="$POSTGRES_INITDB_ARGS --xlogdir $POSTGRES_INITDB_XLOGDIR"
    fi
    # shellcheck disable=SC2086
    initdb -D "$dir" -U postgres -E UTF-8 --lc-collate=en_US.UTF-8 --lc-ctype=en_US.UTF-8 \
        $POSTGRES_INITDB_ARGS
    read_env POSTGRES_PASSWORD
    local pass method
    if [ -n "$POSTGRES_PASSWORD" ]; then
        pass="PASSWORD '$POSTGRES_PASSWORD'"
        method=scram-sha-256
    else
        echo >&2 "WARNING: POSTGRES_PASSWORD is empty: any host that reaches the port may connect."
        pass=
        method=trust
    fi
    printf '\nhost all all all %s\n' "$method" >> "$dir/pg_hba.conf"
    whoami
    pg_ctl -D "$dir" -o "-c listen_addresses=''" -w start

    read_env POSTGRES_USER postgres
    read_env POSTGRES_DB "$POSTGRES_USER"
    local psql=(psql -v ON_ERROR_STOP=1)
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" --username postgres <<< "CREATE DATABASE \"$POSTGRES_DB\";"
    fi
    local op=CREATE
    if [ "$POSTGRES_USER" = postgres ]; then
        op=ALTER
    fi
    "${psql[@]}" --username postgres <<< "$op USER \"$POSTGRES_USER\" WITH SUPERUSER $pass;"
    psql+=(--username "$POSTGRES_USER" --dbname "$POSTGRES_DB")

    if [ "$run_scripts" = true ]; then
        local f
        for f in /docker-entrypoint-initdb.d/*; do
            case $f in
                *.sh) echo "$0: running $f"; . "$f" ;;
                *.sql) echo "$0: running $f"; "${psql[@]}" -f "$f" ;;
                *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql[@]}" ;;
                *) echo "$0: ignoring $f" ;;
            esac
        done
    fi
    PGUSER="${PGUSER:-postgres}" pg_ctl -D "$dir" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
}
