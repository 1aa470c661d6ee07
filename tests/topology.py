"""Harbor's services as every deployment file must run them, read from the one description.

The description is wrapper/deployment/description.py; `python -m wrapper.deployment` writes
compose/docker-compose*.yml, compose/docker-stack*.yml and the two Rancher 1.6 items from it.
This module gives the tests its facts in a small typed form; tests/test_topology.py checks each
generated file against them (so a generator rule that loses a fact fails there, naming the file
and the place), and checks the description itself (owners, dependencies).

How each platform mounts the wrapper's volumes differs by design and is in the test:
compose and the single-host Rancher item share them with `volumes_from` (read-only in
compose); the stack and the distributed Rancher item mount harbor-setup read-only and each
fixed-path volume the service reads by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wrapper.data_dirs import DATA_DIRS
from wrapper.deployment import description

HARBOR_UID, POSTGRES_UID, VALKEY_UID, ROOT = 10000, 999, 999, 0
COMPLETED, HEALTHY = description.COMPLETED, description.HEALTHY

# data volume -> its folder under /data in the init-data container (upstream's names); the
# owner comes from wrapper/data_dirs.py, which init-data applies
DATA_VOLUMES = description.DATA_VOLUMES
DATA_OWNER = {volume: next(d.uid for d in DATA_DIRS if d.name == folder)
              for volume, folder in DATA_VOLUMES.items()}

# the wrapper's fixed-path volumes (wrapper/fixed_paths.py) -> where every container sees them
FIXED_VOLUMES = description.FIXED_VOLUMES

ALL = description.TARGETS


@dataclass(frozen=True)
class Service:
    image: str                       # repository under HARBOR_IMAGE_PREFIX; "wrapper": ours
    user: int                        # uid the image runs as (its USER)
    cap_add: tuple[str, ...] = ()    # on top of cap_drop: [ALL]
    data: dict[str, str] = field(default_factory=dict)  # data volume -> target[:options]
    fixed: tuple[str, ...] = ()      # fixed-path volumes it reads
    after: dict[str, str] = field(default_factory=dict)  # compose depends_on: name -> condition
    optional: str | None = None      # compose profile; off by default on the other platforms
    health: bool = True              # the image's own health check (never overridden)
    on: tuple[str, ...] = ALL        # the deployment files that run it
    writes_setup: bool = False       # mounts the wrapper's volumes read-write (renew)
    keeps_running: bool = False      # a service of the wrapper's image that is no one-shot
    environment: tuple[str, ...] = ()  # variables it is given (Rancher: from the answers)
    setup_mount: tuple[str, ...] = ()  # where a one-shot also mounts harbor-setup read-write


SERVICES = {
    name: Service(image=s["image"], user=s["user"], cap_add=tuple(s.get("cap_add", ())),
                  data=dict(s.get("data", {})), fixed=tuple(s.get("fixed", ())),
                  after=dict(s.get("after", {})), optional=s.get("profile"),
                  health=s["health"], on=tuple(s["on"]),
                  writes_setup=s.get("writes_setup", False),
                  keeps_running=s.get("keeps_running", False),
                  environment=tuple(s.get("environment", ())),
                  setup_mount=tuple(s.get("setup_mount", ())))
    for name, s in description.SERVICES.items() if name != "setupwrapper"
}
