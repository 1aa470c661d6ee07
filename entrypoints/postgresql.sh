#!/bin/sh
# Shim for Harbor's postgresql container: wait for the config, then run the image's own entrypoint.
# Before a PostgreSQL upgrade it also waits for init-data's snapshot (or its decision to go
# without one): on every target, whatever the start order (Swarm and Rancher have none).
set -e
HARBOR_SHIM=postgresql
. "$(dirname "$0")/lib.sh"

# The cluster's system identifier, as pg_controldata prints it; nothing when it cannot be read.
# Why this identity (and not PG_VERSION): wrapper/db_snapshot.py, system_identifier. The old
# release's pg_controldata is in the image at the path the entrypoint gives pg_upgrade.
harbor_pg_identity() {
    tool=/usr/pgsql/$2/bin/pg_controldata
    [ -x "$tool" ] || tool=pg_controldata
    control=$(LC_ALL=C "$tool" "$1" 2>/dev/null) || return 0
    case $control in
        *'Database system identifier:'*) ;;
        *) return 0 ;;
    esac
    control=${control#*Database system identifier:}
    set -f
    # shellcheck disable=SC2086
    set -- $control
    set +f
    case ${1:-} in
        '' | *[!0-9]*) ;;
        *) echo "$1" ;;
    esac
}

# The `test -s` checks of the image's /docker-entrypoint.sh OLD NEW (v2.15.2): it runs
# pg_upgrade when there is no PG_VERSION at the top (9.6, refused), none in pgNEW, one in pgOLD.
harbor_pg_upgrade_pending() {
    [ -n "$2" ] && [ -n "$3" ] && [ ! -s "$1/PG_VERSION" ] && [ ! -s "$1/pg$3/PG_VERSION" ] \
        && [ -s "$1/pg$2/PG_VERSION" ]
}

# HARBOR_DATABASE_UPGRADE_SNAPSHOT as init-data reads it (db_snapshot.enabled): spaces around
# ignored, any case; false, 0 or no turn the snapshot off; empty or unset is true.
harbor_pg_snapshot_off() {
    value=${HARBOR_DATABASE_UPGRADE_SNAPSHOT:-}
    while :; do
        case $value in
            [[:space:]]*) value=${value#?} ;;
            *[[:space:]]) value=${value%?} ;;
            *) break ;;
        esac
    done
    case $value in
        [Ff][Aa][Ll][Ss][Ee] | 0 | [Nn][Oo]) return 0 ;;
        *) return 1 ;;
    esac
}

# Wait until init-data has decided for this cluster: a complete snapshot of it (SNAPSHOT.json,
# written last, and the copy's identity), or a record declining it while this service is told
# HARBOR_DATABASE_UPGRADE_SNAPSHOT=false too (a record from a run with other settings does not
# count). A refusal, a record of another cluster or none: wait, each state said once.
harbor_pg_wait_for_snapshot() {
    data=$1 old=$2 new=$3
    snapshot=$data/snapshot-pg$old
    record=$snapshot.decision
    said=
    waited=0
    run_again="run init-data again (compose: docker compose up -d; Swarm: docker service update --force <stack>_init-data; Rancher: start the init-data container)"
    while harbor_pg_upgrade_pending "$data" "$old" "$new"; do
        identity=$(harbor_pg_identity "$data/pg$old" "$old")
        if [ -z "$identity" ]; then
            state=unreadable
            message="cannot read the system identifier of $data/pg$old (pg_controldata, uid $(id -u)): PostgreSQL $old -> $new upgrade pending, and without it this shim cannot tell whether init-data's snapshot or decision is this cluster's; waiting. Its files must be uid $(id -u)'s, with global/pg_control (a complete cluster)."
        elif [ -f "$snapshot/SNAPSHOT.json" ] \
                && [ "$(harbor_pg_identity "$snapshot/pg$old" "$old")" = "$identity" ]; then
            [ "$waited" -eq 0 ] || harbor_say "init-data's snapshot of pg$old is complete after ${waited}s"
            harbor_say "PostgreSQL $old -> $new upgrade: snapshot $snapshot of this cluster is complete; starting"
            return 0
        else
            decision= cluster= system_identifier= reason=
            if [ -r "$record" ]; then
                while IFS= read -r line || [ -n "$line" ]; do
                    case $line in
                        decision=*) decision=${line#decision=} ;;
                        cluster=*) cluster=${line#cluster=} ;;
                        system_identifier=*) system_identifier=${line#system_identifier=} ;;
                        message=*) reason=${line#message=} ;;
                    esac
                done < "$record"
            fi
            if [ -z "$decision" ]; then
                state=none
                message="PostgreSQL $old -> $new upgrade pending ($data/pg$old, no pg$new): waiting for init-data's snapshot of pg$old, or its decision to go without one ($record). Check that init-data ran and its logs (docker compose logs init-data; on Swarm: docker service logs <stack>_init-data)."
            elif [ "$cluster" != "pg$old" ] || [ "$system_identifier" != "$identity" ]; then
                state="stale $system_identifier"
                message="$record is init-data's decision about another cluster (system identifier ${system_identifier:-none}; $data/pg$old is $identity): PostgreSQL $old -> $new upgrade pending, waiting until init-data decides for this one; $run_again."
            elif [ "$decision" = refused ]; then
                state="refused $reason"
                message="init-data refused the snapshot before the PostgreSQL $old -> $new upgrade: $reason -- PostgreSQL does not start until init-data has made it (the upgrade deletes pg$old). Fix what init-data names (no room: free some on the database volume, or grow it), then $run_again. Or set HARBOR_DATABASE_UPGRADE_SNAPSHOT=false, which init-data and postgresql both read (Rancher: the Database snapshot answer), to upgrade without one: back up first."
            elif [ "$decision" = declined ] && harbor_pg_snapshot_off; then
                harbor_say "PostgreSQL $old -> $new upgrade without a snapshot (HARBOR_DATABASE_UPGRADE_SNAPSHOT=false, init-data's decision in $record); starting"
                return 0
            elif [ "$decision" = declined ]; then
                state=declined
                message="init-data declined the snapshot before the PostgreSQL $old -> $new upgrade (HARBOR_DATABASE_UPGRADE_SNAPSHOT=false when it ran), but this service has HARBOR_DATABASE_UPGRADE_SNAPSHOT=${HARBOR_DATABASE_UPGRADE_SNAPSHOT:-true (unset)}: waiting until init-data runs with this service's setting; $run_again."
            else
                state="missing $decision"
                message="init-data's decision in $record is '$decision', but $snapshot/SNAPSHOT.json of this cluster is missing (dropped or moved?): PostgreSQL $old -> $new upgrade pending, waiting for a new snapshot; $run_again."
            fi
        fi
        if [ "$state" != "$said" ]; then
            harbor_say "$message"
            said=$state
        fi
        sleep 1
        waited=$((waited + 1))
    done
    [ "$waited" -eq 0 ] || harbor_say "no PostgreSQL upgrade pending any more after ${waited}s; starting"
}

harbor_wait
data=${PGDATA:-/var/lib/postgresql/data}
harbor_wait_writable "$data"
harbor_load_env "$HARBOR_SETUP_DIR/config/db/env"
[ "$#" -gt 0 ] || set -- /docker-entrypoint.sh 15 18
case $1 in
    docker-entrypoint.sh | */docker-entrypoint.sh)
        harbor_pg_wait_for_snapshot "$data" "${2:-}" "${3:-}" ;;
esac
exec "$@"
