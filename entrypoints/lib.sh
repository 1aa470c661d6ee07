# Shared by every shim: wait for the wrapper's marker, load an env file without evaluating it.
# POSIX sh; runs as the image's own user (uid 10000 or 999), so it writes nothing outside /tmp.

HARBOR_SETUP_DIR=${HARBOR_SETUP_DIR:-/harbor-setup}
HARBOR_SETUP_WAIT_SECONDS=${HARBOR_SETUP_WAIT_SECONDS:-600}
HARBOR_SHIM=${HARBOR_SHIM:-shim}

harbor_say() {
    echo "harbor-setupwrapper shim ($HARBOR_SHIM): $*" >&2
}

harbor_die() {
    harbor_say "$*"
    exit 1
}

# Wait until the wrapper has published a complete configuration.
harbor_wait() {
    case $HARBOR_SETUP_WAIT_SECONDS in
        '' | *[!0-9]* | ??????????*)
            harbor_die "HARBOR_SETUP_WAIT_SECONDS=$HARBOR_SETUP_WAIT_SECONDS is not accepted;" \
                "accepted: a whole number of seconds (0 to 999999999)" ;;
    esac
    marker=$HARBOR_SETUP_DIR/ready
    waited=0
    while [ ! -f "$marker" ]; do
        if [ "$waited" -ge "$HARBOR_SETUP_WAIT_SECONDS" ]; then
            harbor_die "gave up after ${waited}s: $marker does not exist. The harbor-setupwrapper" \
                "container writes it; check that it ran (docker compose logs setupwrapper) and" \
                "that this container mounts its volume at $HARBOR_SETUP_DIR."
        fi
        if [ $((waited % 10)) -eq 0 ]; then
            harbor_say "waiting for harbor-setupwrapper to write $marker (${waited}s)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# Export every KEY=value line of a file. Values are taken literally: spaces, quotes, #, $
# and backslashes arrive intact, nothing is evaluated. A line without `=` is refused: the
# wrapper never writes one, so the file is damaged.
harbor_load_env() {
    file=$1
    [ -r "$file" ] || harbor_die "cannot read $file (uid $(id -u)); is the wrapper's volume mounted?"
    count=0
    number=0
    while IFS= read -r line || [ -n "$line" ]; do
        number=$((number + 1))
        case $line in
            '' | '#'*) continue ;;
            *=*) ;;
            *) harbor_die "$file: line $number has no '=': accepted: NAME=value lines" ;;
        esac
        name=${line%%=*}
        case $name in
            '' | [0-9]* | *[!A-Za-z0-9_]*) harbor_die "$file: a line does not start with NAME=" ;;
        esac
        export "$name=${line#*=}"
        count=$((count + 1))
    done < "$file"
    harbor_say "loaded $count variables from $file"
}

# Send SIGHUP to pid whenever the wrapper publishes a new generation (its marker changes).
# Polls every HARBOR_SETUP_RELOAD_SECONDS (10; 0 turns it off); runs until the container stops.
harbor_reload_on_new_generation() {
    pid=$1
    interval=${HARBOR_SETUP_RELOAD_SECONDS:-10}
    [ "$interval" -gt 0 ] 2>/dev/null || return 0
    seen=$(cat "$HARBOR_SETUP_DIR/ready" 2>/dev/null || true)
    while sleep "$interval"; do
        kill -0 "$pid" 2>/dev/null || return 0
        now=$(cat "$HARBOR_SETUP_DIR/ready" 2>/dev/null || true)
        if [ -n "$now" ] && [ "$now" != "$seen" ]; then
            seen=$now
            harbor_say "new configuration published: reloading nginx (SIGHUP to $pid)"
            kill -HUP "$pid" 2>/dev/null || return 0
        fi
    done
}

# Wait until each data folder given is writable by this user: a one-shot init-data container
# (harbor-setupwrapper init-data) gives the data volumes to the users the images run as.
harbor_wait_writable() {
    for folder in "$@"; do
        waited=0
        while [ ! -w "$folder" ]; do
            if [ "$waited" -ge "$HARBOR_SETUP_WAIT_SECONDS" ]; then
                harbor_die "gave up after ${waited}s: $folder is not writable by uid $(id -u)." \
                    "The init-data container gives it to that user; check that it ran and its" \
                    "logs (docker compose logs init-data; on Swarm: docker service logs <stack>_init-data)."
            fi
            if [ $((waited % 10)) -eq 0 ]; then
                harbor_say "waiting until $folder is writable by uid $(id -u) (init-data gives it)"
            fi
            sleep 1
            waited=$((waited + 1))
        done
    done
}
