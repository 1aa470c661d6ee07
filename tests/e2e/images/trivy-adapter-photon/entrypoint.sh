#!/bin/sh
# TEST STAND-IN entrypoint of goharbor/trivy-adapter-photon (not Harbor's file).
set -e
/home/scanner/install_cert.sh
exec /home/scanner/bin/scanner-trivy
