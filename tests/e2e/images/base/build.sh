#!/bin/sh
# Build the offline base image for the Harbor TEST STAND-INS: harbor-e2e-base:bookworm.
#
# One Debian bookworm root file system (debootstrap, variant minbase) that already
# holds every Debian package any stand-in needs, so that the stand-in
# `docker build`s that start FROM it need no network and no registry.
#
# The fixed runtime users are created BEFORE the packages are installed, so no
# package postinst can grab their ids:
#   harbor   10000:10000  (core, jobservice, registry, registryctl; renamed to
#                          nginx/syslog in the images whose upstream name differs)
#   postgres   999:999    (harbor-db; the valkey stand-in renames it to valkey)
#
# Environment:
#   FORCE=1              rebuild even if the image already exists
#   BASE_IMAGE           image name (default harbor-e2e-base:bookworm)
#   DEBIAN_MIRROR        default http://deb.debian.org/debian
#   DEBIAN_SECURITY_MIRROR default http://deb.debian.org/debian-security
#   BASE_WORKDIR         where the temporary root fs goes (default /var/tmp)
#
# Needs root, debootstrap and a running Docker engine (see .ci/start-engine.sh).
set -eu

IMAGE=${BASE_IMAGE:-harbor-e2e-base:bookworm}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# Everything the stand-ins use, installed in one go.
PACKAGES="
ca-certificates curl openssl procps netcat-openbsd net-tools iproute2 less
nginx-light
postgresql-15 postgresql-client-15
redis-server redis-tools
rsyslog logrotate cron sudo
docker-registry
python3 python3-venv python3-yaml python3-psycopg2 python3-redis python3-cryptography
python3-bcrypt python3-jwt
"

log() { echo "[base] $*"; }

if [ "$(id -u)" != 0 ]; then
    echo "[base] ERROR: must run as root (debootstrap, chroot)" >&2
    exit 1
fi
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists: skipped (FORCE=1 rebuilds it)"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
    echo "[base] ERROR: debootstrap is missing (run .ci/start-engine.sh)" >&2
    exit 1
}

start=$(date +%s)
work=$(mktemp -d "${BASE_WORKDIR:-/var/tmp}/harbor-e2e-base.XXXXXX")
root="$work/rootfs"

cleanup() {
    # Unmount whatever is still mounted below the root, deepest first.
    for m in "$root/dev/pts" "$root/sys" "$root/proc"; do
        if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

log "debootstrap $SUITE (minbase) from $MIRROR into $root"
attempt=1
until debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" > "$work/debootstrap.log" 2>&1; do
    if [ "$attempt" -ge 2 ]; then
        tail -n 40 "$work/debootstrap.log" >&2
        echo "[base] ERROR: debootstrap failed twice" >&2
        exit 1
    fi
    log "debootstrap failed (attempt $attempt), retrying once"
    for m in "$root/proc" "$root/sys" "$root/dev/pts"; do
        if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
    done
    rm -rf "$root"
    attempt=$((attempt + 1))
done
log "debootstrap done after $(( $(date +%s) - start ))s"

in_root() { chroot "$root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 HOME=/root "$@"; }

log "creating users harbor (10000:10000) and postgres (999:999) before any package"
in_root groupadd -g 10000 harbor
in_root useradd --no-log-init -m -d /home/harbor -s /bin/bash -u 10000 -g 10000 harbor
in_root groupadd -g 999 postgres
in_root useradd --no-log-init -r -d /var/lib/postgresql -s /bin/bash -u 999 -g 999 \
    -c "PostgreSQL administrator" postgres
mkdir -p "$root/var/lib/postgresql"
chown 999:999 "$root/var/lib/postgresql"

# No services may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
# postgresql-common must not create a "main" cluster: the db stand-in runs initdb itself.
mkdir -p "$root/etc/postgresql-common/createcluster.d"
echo "create_main_cluster = false" > "$root/etc/postgresql-common/createcluster.d/50-no-main.conf"
# Keep the image small: no docs, man pages or translations.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat > "$root/etc/dpkg/dpkg.cfg.d/90-e2e-slim" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
EOF
cat > "$root/etc/apt/apt.conf.d/90-e2e" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
EOF
cat > "$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"

t=$(date +%s)
log "apt-get install ($(echo $PACKAGES | wc -w) packages, plus dependencies)"
{
    in_root apt-get update &&
    in_root apt-get -y upgrade &&
    # shellcheck disable=SC2086
    in_root apt-get -y install $PACKAGES
} > "$work/apt.log" 2>&1 || {
    tail -n 60 "$work/apt.log" >&2
    echo "[base] ERROR: apt-get in the chroot failed" >&2
    exit 1
}
log "packages installed after $(( $(date +%s) - t ))s"

# The ids must not have moved.
for pair in harbor:10000 postgres:999; do
    name=${pair%%:*}; want=${pair#*:}
    got=$(in_root id -u "$name")
    if [ "$got" != "$want" ]; then
        echo "[base] ERROR: user $name has uid $got, expected $want" >&2
        exit 1
    fi
done

log "cleaning apt caches and logs"
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
       "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
       "$root"/var/log/apt "$root"/var/log/*.log "$root"/tmp/* "$root"/var/tmp/* \
       "$root/usr/sbin/policy-rc.d" "$root"/root/.cache
: > "$root/etc/resolv.conf"
rm -f "$root/etc/hostname"
umount "$root/proc"

log "docker import as $IMAGE"
tar -C "$root" --numeric-owner -cf - . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL org.opencontainers.image.description="TEST BASE for the Harbor stand-in images - not Harbor"' \
    --change 'CMD ["/bin/bash"]' \
    - "$IMAGE" >/dev/null

log "built $IMAGE in $(( $(date +%s) - start ))s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
