#!/bin/sh
# TEST STAND-IN entrypoint of goharbor/harbor-exporter (not Harbor's file).
set -e
/harbor/install_cert.sh
exec /harbor/harbor_exporter
