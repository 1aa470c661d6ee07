#!/bin/sh
# The official image's entrypoint contract: arguments that are options (-x, --x) or a Traefik
# subcommand (version, healthcheck, ...) run traefik with them; anything else runs as given.
set -e
case "${1:-}" in
    -*) set -- traefik "$@" ;;
esac
if [ "${1:-}" != traefik ] && [ -n "${1:-}" ] && traefik "$1" --help >/dev/null 2>&1; then
    set -- traefik "$@"
fi
exec "$@"
