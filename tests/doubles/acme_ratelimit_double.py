"""DOUBLE of an ACME server that is rate limiting (test-only; not an ACME server).

pebble has no rate limits; Let's Encrypt answers a client over its limits with HTTP 429 and
the RFC 8555 problem document urn:ietf:params:acme:error:rateLimited (and Retry-After). This
double serves an ACME directory and new nonces, and answers every signed request that way,
so that the client's handling of it can be tested. It checks no signature.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DETAIL = "too many certificates already issued for this exact set of identifiers in the last 168h"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _nonce(self) -> None:
        self.send_header("Replay-Nonce", base64.urlsafe_b64encode(os.urandom(16)).decode()
                         .rstrip("="))

    def do_GET(self) -> None:
        base = f"http://{self.headers['Host']}"
        body = json.dumps({k: f"{base}/{k}" for k in
                           ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange")})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self._nonce()
        self.end_headers()
        self.wfile.write(body.encode())

    def do_HEAD(self) -> None:
        self.send_response(200)
        self._nonce()
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"type": "urn:ietf:params:acme:error:rateLimited", "detail": DETAIL,
                           "status": 429}).encode()
        self.send_response(429)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Retry-After", "3600")
        self._nonce()
        self.end_headers()
        self.wfile.write(body)


def serve() -> tuple[ThreadingHTTPServer, str]:
    """Starts the double on a free loopback port; returns (server, directory URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/directory"
