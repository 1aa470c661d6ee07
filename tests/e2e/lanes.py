"""The end-to-end tests in lanes: tests/run.sh runs each lane in a pytest process of its own, the
lanes side by side (most of an end-to-end test is waiting on containers; the machine has two
cores). Tests that share something another lane's tests would see changed are in one lane:

  main       Harbor published on this host's ports 28080 and 28443 (compose_support); the host
             engine joined to a one-node swarm and left again by each test that uses it;
             Podman, whose netavark rewrites the same host's firewall
  apart      three Docker engines in containers of their own; the stand-ins, one container
             each, on networks of their own, no published port

Every end-to-end test is in exactly one lane: collecting one that is in none fails, naming it.
(Tried and given up: the compose tests beside the swarm and Podman tests. The one-node swarm's
certificate test then met a certificate its CA had not signed, and the Podman tests hung.)

    python tests/e2e/lanes.py        prints the lane names, longest lane first
"""

from __future__ import annotations

LANES = {
    "main": ("test_compose.py", "test_data.py", "test_upgrade.py", "test_settings_ldap.py",
             "test_trivy_offline.py", "test_certs.py", "test_acme.py", "test_swarm.py",
             "test_swarm_acme.py", "test_podman.py"),
    "apart": ("test_swarm_multinode.py", "test_standins.py"),
}


def lane_of(nodeid: str) -> str | None:
    """The lane of a test (nodeid relative to tests/e2e): the longest entry it starts with."""
    best, best_length = None, -1
    for lane, entries in LANES.items():
        for entry in entries:
            whole = nodeid == entry or nodeid.startswith(entry + "::") or \
                nodeid.startswith(entry + "[")
            if whole and len(entry) > best_length:
                best, best_length = lane, len(entry)
    return best


if __name__ == "__main__":
    print(" ".join(LANES))
