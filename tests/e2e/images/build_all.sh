#!/bin/sh
# Build harbor-e2e-base:bookworm (debootstrap, once) and every harbor-standin/* image.
#   tests/e2e/images/build_all.sh [--force-base] [--no-cache] [NAME ...]
# Needs a running Docker engine (.ci/start-engine.sh) and root for the base build.
set -e
exec python3 "$(dirname "$0")/build.py" "$@"
