#!/bin/bash
# TEST STAND-IN of goharbor/harbor-db's /upgrade.sh (ours, from reading v2.15.2's
# make/photon/db/upgrade.sh). Usage:
#   /upgrade.sh --old-bindir DIR --old-datadir DIR --new-datadir DIR [--new-bindir DIR]
# pg_upgrade (from /tmp; the new binaries default to /usr/bin) with each cluster's own
# postgresql.conf; then the old pg_hba.conf replaces the new one, and on a socket-only start of
# the new cluster every database that takes connections gets its collation version refreshed.
old_bin=
new_bin=/usr/bin
old_dir=
new_dir=
while [ "$#" -gt 0 ]; do
    case $1 in
        -b | --old-datadir) old_dir=$2; shift ;;
        -B | --new-datadir) new_dir=$2; shift ;;
        -d | --old-bindir) old_bin=$2; shift ;;
        -D | --new-bindir) new_bin=$2; shift ;;
        *) echo "unknown parameter: $1"; exit 1 ;;
    esac
    shift
done
if [ -z "$old_dir" ] || [ -z "$new_dir" ]; then
    echo "missing parameter: --old-datadir '$old_dir', --new-datadir '$new_dir'"
    exit 1
fi

echo "start to upgrade."
cd /tmp || exit 1
if ! "$new_bin/pg_upgrade" --old-datadir="$old_dir" --new-datadir="$new_dir" \
        --old-bindir="$old_bin" --new-bindir="$new_bin" \
        --old-options "-c config_file=$old_dir/postgresql.conf" \
        --new-options "-c config_file=$new_dir/postgresql.conf"; then
    echo "fail to upgrade."
    cat /tmp/pg_upgrade_internal.log "$new_dir"/pg_upgrade_output.d/*/log/*.log 2>/dev/null
    exit 1
fi
cp "$old_dir/pg_hba.conf" "$new_dir/pg_hba.conf"

echo "refresh collation version metadata on all connectable databases."
stop_new() { "$new_bin/pg_ctl" -D "$new_dir" -m fast -w stop; }
if ! "$new_bin/pg_ctl" -D "$new_dir" -w \
        -o "-c listen_addresses='' -c unix_socket_directories='/run/postgresql'" start; then
    echo "cannot start the new cluster to refresh collation versions."
    exit 1
fi
if ! databases=$("$new_bin/psql" -h /run/postgresql -U postgres -d postgres -At -v ON_ERROR_STOP=1 \
        -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname"); then
    echo "cannot list the databases to refresh collation versions."
    stop_new
    exit 1
fi
while IFS= read -r db; do
    [ -n "$db" ] || continue
    echo "  refreshing the collation version of database $db"
    if ! "$new_bin/psql" -h /run/postgresql -U postgres -d "$db" -v ON_ERROR_STOP=1 \
            -c "ALTER DATABASE \"$db\" REFRESH COLLATION VERSION"; then
        echo "cannot refresh the collation version of database $db"
        stop_new
        exit 1
    fi
done <<< "$databases"
if ! stop_new; then
    echo "cannot stop the new cluster after the collation refresh."
    exit 1
fi
echo "success to upgrade."
