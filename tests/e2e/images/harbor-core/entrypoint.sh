#!/bin/sh
# TEST STAND-IN entrypoint of goharbor/harbor-core (not Harbor's file):
# trust the custom CAs, then hand over to /harbor/harbor_core (the core double).
set -e
/harbor/install_cert.sh
exec /harbor/harbor_core
