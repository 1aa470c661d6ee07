#!/bin/sh
# TEST STAND-IN entrypoint of goharbor/registry-photon (not Harbor's file).
# The registry binary is Debian's docker-registry (distribution 2.8.2).
set -e
/home/harbor/install_cert.sh
exec /usr/bin/registry_DO_NOT_USE_GC serve /etc/registry/config.yml
