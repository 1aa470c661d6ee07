#!/bin/sh
# The test command. On a fresh machine (Debian bookworm, root) it installs what the tests
# need (Docker engine and compose plugin, debootstrap, nginx, the package with its test
# extra) and runs every test, the end-to-end ones included (the Docker-free ones in a second
# process alongside). Pass pytest arguments to narrow (one process then):
#   sh tests/run.sh -m "not e2e"          (the unit tests only)
#   sh tests/run.sh -m compose_e2e        (one end-to-end group; each file in tests/e2e has its marker)
set -eu
cd "$(dirname "$0")/.."

sh .ci/start-engine.sh
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    # nginx is only used for `nginx -t`; keep Debian from starting it as a service
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    install_nginx() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            nginx-light >/dev/null
    }
    install_nginx || { apt-get update -qq >/dev/null && install_nginx; }
    rm -f /usr/sbin/policy-rc.d
    echo "[tests] installed nginx-light (for nginx -t)"
fi

if ! command -v faketime >/dev/null 2>&1; then
    # the certificate expiry tests move the clock with Debian's faketime
    install_faketime() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            faketime >/dev/null
    }
    install_faketime || { apt-get update -qq >/dev/null && install_faketime; }
    echo "[tests] installed faketime"
fi

if ! command -v pebble >/dev/null 2>&1; then
    # the ACME tests run pebble, the ACME test server of the Let's Encrypt project
    install_pebble() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            pebble >/dev/null
    }
    install_pebble || { apt-get update -qq >/dev/null && install_pebble; }
    echo "[tests] installed pebble"
fi

if [ ! -x /usr/sbin/slapd ] || ! command -v ldapwhoami >/dev/null 2>&1; then
    # the settings end-to-end test runs Debian's slapd itself; keep Debian from starting it
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    install_slapd() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slapd ldap-utils >/dev/null
    }
    install_slapd || { apt-get update -qq >/dev/null && install_slapd; }
    if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    echo "[tests] installed slapd and ldap-utils (the LDAP server of the settings tests)"
fi

if ! command -v podman >/dev/null 2>&1 || [ ! -x /usr/lib/podman/netavark ]; then
    # the Podman tests (tests/e2e/test_podman.py): rootful and rootless (uidmap, slirp4netns),
    # netavark + aardvark-dns for service names, as on RHEL
    install_podman() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            podman uidmap slirp4netns fuse-overlayfs netavark aardvark-dns >/dev/null
    }
    install_podman || { apt-get update -qq >/dev/null && install_podman; }
    echo "[tests] installed podman, uidmap, slirp4netns, fuse-overlayfs, netavark, aardvark-dns"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
echo "[tests] installed harbor-setupwrapper with its test extra into .venv"

export HARBOR_E2E_REQUIRE_DOCKER=1  # an unreachable engine fails the e2e tests, not skips them
export HARBOR_TEST_TIMES=1          # tests/conftest.py prints the time per test file at the end
if [ "$#" -gt 0 ]; then
    exec .venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
fi

# Everything, side by side: the end-to-end tests in their lanes (tests/e2e/lanes.py), one
# pytest process each, and the Docker-free tests in one more process. Most of an end-to-end
# test is waiting on containers.
# The first lane reports here as it goes; the others' reports follow at the end.
started=$(date +%s)
logs=$(mktemp -d)
# the processes that report at the end, "name:pid", each writing to $logs/name.log
.venv/bin/python -m pytest -p no:cacheprovider -ra -m "not e2e" >"$logs/Docker-free.log" 2>&1 &
behind="Docker-free:$!"
echo "[tests] the Docker-free tests run alongside (pid $!)"
# each lane its own docker CLI configuration: two lanes' `docker login` at the same moment
# would each rewrite the one config.json, and a lost login fails a later push
lane_config() {
    mkdir -p "$logs/docker-config-$1"
    # Podman's clients fail when DOCKER_CONFIG has no config.json
    if [ -f "${DOCKER_CONFIG:-$HOME/.docker}/config.json" ]; then
        cp "${DOCKER_CONFIG:-$HOME/.docker}/config.json" "$logs/docker-config-$1/"
    else
        echo '{}' >"$logs/docker-config-$1/config.json"
    fi
    echo "$logs/docker-config-$1"
}
# the host engine stays a swarm manager until every lane is done (tests/e2e/lanes.py: a swarm
# leave beside running compose projects breaks their name resolution)
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = inactive ]; then
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    trap 'docker swarm leave --force >/dev/null && echo "[tests] docker swarm leave: done"' EXIT
    echo "[tests] docker swarm init: the host engine is a one-node swarm until the lanes are done"
fi
lanes=$(.venv/bin/python tests/e2e/lanes.py)
first=${lanes%% *}
for lane in $lanes; do
    [ "$lane" = "$first" ] && continue
    HARBOR_E2E_LANE=$lane DOCKER_CONFIG=$(lane_config "$lane") \
        .venv/bin/python -m pytest -p no:cacheprovider -ra -m e2e >"$logs/lane-$lane.log" 2>&1 &
    behind="lane-$lane:$! $behind"
    echo "[tests] end-to-end lane $lane runs alongside (pid $!)"
done
echo "[tests] end-to-end lane $first:"
status=0
HARBOR_E2E_LANE=$first DOCKER_CONFIG=$(lane_config "$first") \
    .venv/bin/python -m pytest -p no:cacheprovider -ra -m e2e || status=$?
exits="lane-$first $status"
for entry in $behind; do
    name=${entry%%:*}
    code=0
    wait "${entry#*:}" || code=$?
    [ "$code" -eq 0 ] || status=1
    exits="$exits, $name $code"
    echo "[tests] $name (exit $code):"
    cat "$logs/$name.log"
done
rm -rf "$logs"
echo "[tests] exit codes: $exits; all done in $(( $(date +%s) - started )) s"
exit "$status"
