#!/bin/sh
# TEST STAND-IN entrypoint of goharbor/harbor-jobservice (not Harbor's file).
set -e
/harbor/install_cert.sh
exec /harbor/harbor_jobservice -c /etc/jobservice/config.yml
