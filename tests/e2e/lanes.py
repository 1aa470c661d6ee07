"""The end-to-end tests in lanes: tests/run.sh runs each lane in a pytest process of its own, the
lanes side by side (most of an end-to-end test is waiting on containers; the machine has two
cores). Tests that share something another lane's tests would see changed are in one lane:

  swarm      the one-node swarm tests (the host engine's swarm, their stacks, networks and
             secrets); /etc/hosts (test_swarm_acme); the ACME test's compose project on host
             ports of its own (28081, 28444); Podman (engines and ports of its own; netavark
             rewrites the host's firewall, which test_docker_engine_still_works checks Docker
             survives)
  compose    Harbor published on this host's ports 28080 and 28443 (compose_support) under
             the names 127.0.0.2 and 127.0.0.3
  apart      three Docker engines in containers of their own; the stand-ins, one container
             each, on networks of their own, no published port

The host engine is a swarm manager for the whole run: tests/run.sh runs `docker swarm init`
before the lanes and leaves after them, and the swarm tests leave alone a swarm they did not
make. A `docker swarm leave` while compose projects run breaks them: on this engine (Docker
20.10) the embedded DNS then forgets every container that was running, and a service restarted
afterwards cannot resolve the others ("redis: Name or service not known"; seen when the swarm
tests each made and left the swarm beside the compose lane).

Each lane has its own docker CLI configuration (tests/run.sh): logins in one lane do not race
another lane's.

Every end-to-end test is in exactly one lane: collecting one that is in none fails, naming it.

    python tests/e2e/lanes.py        prints the lane names, longest lane first
"""

from __future__ import annotations

LANES = {
    "swarm": ("test_swarm.py", "test_swarm_acme.py", "test_acme.py", "test_podman.py",
              "test_certs.py::test_own_certificate_on_swarm_from_docker_secrets"),
    "compose": ("test_compose.py", "test_data.py", "test_upgrade.py", "test_settings_ldap.py",
                "test_trivy_offline.py", "test_certs.py"),
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
