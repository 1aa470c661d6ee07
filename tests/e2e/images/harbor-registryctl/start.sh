#!/bin/sh
# TEST STAND-IN start script of goharbor/harbor-registryctl (not Harbor's file).
set -e
/home/harbor/install_cert.sh
exec /home/harbor/harbor_registryctl -c /etc/registryctl/config.yml
