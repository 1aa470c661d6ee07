#!/bin/sh
# TEST STAND-IN (not Harbor's script): trust the CAs a Harbor component is given.
#
# Same contract as the Harbor images' install_cert.sh:
#   * the bundle is rebuilt from a pristine copy on every start;
#   * every ca.crt found under /etc/harbor/ssl (max depth 2) is appended;
#   * every non-directory entry of /harbor_cust_cert named *.crt, *.ca,
#     *.ca-bundle or *.pem is appended; an empty or missing folder is fine;
#   * a dangling symlink (or unreadable file) there makes the start FAIL.
# The images set SSL_CERT_FILE / CURL_CA_BUNDLE / REQUESTS_CA_BUNDLE to the bundle
# below (the Photon path), which the runtime user owns.
set -e

BUNDLE=${STANDIN_CA_BUNDLE:-/etc/pki/tls/certs/ca-bundle.crt}
ORIGINAL=${STANDIN_CA_BUNDLE_ORIGINAL:-/etc/pki/tls/certs/ca-bundle.crt.original}
CUST_DIR=${STANDIN_CUST_CERT_DIR:-/harbor_cust_cert}
TAG="[install_cert-standin]"

if [ ! -w "$(dirname "$BUNDLE")" ] || { [ -e "$BUNDLE" ] && [ ! -w "$BUNDLE" ]; }; then
    echo "$TAG $BUNDLE is not writable by uid $(id -u): custom CAs are NOT installed"
    exit 0
fi

if [ ! -f "$ORIGINAL" ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$ORIGINAL"
fi
cp "$ORIGINAL" "$BUNDLE"
added=0

if [ -d /etc/harbor/ssl ]; then
    for ca in $(find /etc/harbor/ssl -maxdepth 2 -name ca.crt); do
        cat "$ca" >> "$BUNDLE"
        added=$((added + 1))
        echo "$TAG appended internal TLS CA $ca"
    done
fi

if [ -d "$CUST_DIR" ]; then
    for f in "$CUST_DIR"/*; do
        # An unmatched glob stays literal: skip it (but not a dangling symlink).
        [ -e "$f" ] || [ -L "$f" ] || continue
        case "$f" in
            *.crt|*.ca|*.ca-bundle|*.pem)
                if [ -d "$f" ]; then
                    echo "$TAG $f is a directory, skipped"
                else
                    # cat fails on a dangling symlink; set -e turns that into exit 1.
                    cat "$f" >> "$BUNDLE"
                    added=$((added + 1))
                    echo "$TAG appended $f"
                fi
                ;;
            *) echo "$TAG $f is not a CA file, skipped" ;;
        esac
    done
fi
echo "$TAG CA bundle $BUNDLE rebuilt, $added extra CA file(s)"
