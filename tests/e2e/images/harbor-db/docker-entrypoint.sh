#!/bin/bash
# TEST STAND-IN of goharbor/harbor-db's /docker-entrypoint.sh (ours, from reading v2.15.2's
# make/photon/db/docker-entrypoint.sh; the same steps in the same order).
#   /docker-entrypoint.sh OLD NEW     (the image runs it as "15 18")
# 1. A cluster in $PGDATA itself (PostgreSQL 9.6's flat layout): refused.
# 2. No cluster in $PGDATA/pgNEW:
#    - one in $PGDATA/pgOLD: initdb pgNEW with the old cluster's data-checksum setting
#      (PostgreSQL 18's initdb turns checksums on, 15's did not, and pg_upgrade needs them
#      equal), start and stop the old cluster once (a server that did not shut down cleanly),
#      /upgrade.sh; on failure pgNEW is removed and the start fails, on success pgOLD is removed;
#    - none: initdb pgNEW and run /docker-entrypoint-initdb.d.
# 3. exec postgres on pgNEW with max_connections = POSTGRES_MAX_CONNECTIONS (or _FILE; default
#    1024; 0 or less, or more than 262143, becomes 262143).
# Like upstream it reads initdb.sh and upgrade.sh from the working folder: it must start in /.
set -e
# shellcheck source=initdb.sh
. "$PWD/initdb.sh"

here=$PWD
old=$1
new=$2
old_bin=/usr/pgsql/$old/bin
old_dir=$PGDATA/pg$old
new_dir=$PGDATA/pg$new

if [ -s "$PGDATA/PG_VERSION" ]; then
    echo "$PGDATA holds a PostgreSQL 9.6 cluster: upgrading it to PostgreSQL $new is not supported by this Harbor release."
    echo "Upgrade to an earlier Harbor release first, then to this one."
    exit 1
fi

if [ ! -s "$new_dir/PG_VERSION" ]; then
    if [ -n "$old" ] && [ -s "$old_dir/PG_VERSION" ]; then
        echo "upgrade DB from $old to $new"
        if ! control=$("$old_bin/pg_controldata" "$old_dir" 2>/dev/null); then
            echo "cannot tell the old cluster's checksum setting: pg_controldata failed"
            exit 1
        fi
        if [[ $control =~ Data\ page\ checksum\ version:[[:space:]]*([0-9]+) ]]; then
            checksum_version=${BASH_REMATCH[1]}
        else
            echo "cannot tell the old cluster's checksum setting: pg_controldata printed no checksum version"
            exit 1
        fi
        if [ "$checksum_version" = 0 ]; then
            echo "the old cluster has no data checksums: the new one is made without them"
            export POSTGRES_INITDB_ARGS="${POSTGRES_INITDB_ARGS:-} --no-data-checksums"
        fi
        init_cluster "$new_dir" false
        set +e
        "$old_bin/pg_ctl" -D "$old_dir" -w -o "-p 5433" start
        "$old_bin/pg_ctl" -D "$old_dir" -m fast -w stop
        if ! "./$here/upgrade.sh" --old-bindir "$old_bin" --old-datadir "$old_dir" --new-datadir "$new_dir"; then
            echo "remove the $new_dir after fail to upgrade."
            rm -rf "$new_dir"
            exit 1
        fi
        set -e
        echo "remove the $old_dir after upgrade success."
        rm -rf "$old_dir"
    else
        echo "init DB, DB version:$new"
        init_cluster "$new_dir" true
    fi
fi

read_env POSTGRES_MAX_CONNECTIONS 1024
if [ "$POSTGRES_MAX_CONNECTIONS" -le 0 ] || [ "$POSTGRES_MAX_CONNECTIONS" -gt 262143 ]; then
    POSTGRES_MAX_CONNECTIONS=262143
fi
exec postgres -D "$new_dir" -c max_connections="$POSTGRES_MAX_CONNECTIONS"
