"""Harbor's services as every deployment file must run them: the one description.

compose/docker-compose.yml, compose/docker-stack.yml and the two Rancher 1.6 items
(rancher-catalog/templates/*/0/docker-compose.yml.tpl) repeat these facts in their own
syntax; tests/test_topology.py checks each file against this one and names the file and the
place that differs. Adding a service, a volume or a capability: change it here first.

How each platform mounts the wrapper's volumes differs by design and is in the test:
compose and the single-host Rancher item share them with `volumes_from` (read-only in
compose); the stack and the distributed Rancher item mount harbor-setup read-only and each
fixed-path volume the service reads by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wrapper.data_dirs import DATA_DIRS

HARBOR_UID, POSTGRES_UID, VALKEY_UID, ROOT = 10000, 999, 999, 0
COMPLETED, HEALTHY = "service_completed_successfully", "service_healthy"

# data volume -> its folder under /data in the init-data container (upstream's names); the
# owner comes from wrapper/data_dirs.py, which init-data applies
DATA_VOLUMES = {
    "registry": "registry",
    "job-logs": "job_logs",
    "database": "database",
    "redis": "redis",
    "trivy-cache": "trivy-adapter/trivy",
    "trivy-reports": "trivy-adapter/reports",
}
DATA_OWNER = {volume: next(d.uid for d in DATA_DIRS if d.name == folder)
              for volume, folder in DATA_VOLUMES.items()}

# the wrapper's fixed-path volumes (wrapper/fixed_paths.py) -> where every container sees them
FIXED_VOLUMES = {
    "etc-registry": "/etc/registry",
    "etc-registryctl": "/etc/registryctl",
    "etc-jobservice": "/etc/jobservice",
    "ca-download": "/etc/core/ca",
    "cust-cert": "/harbor_cust_cert",
    "harbor-ssl": "/etc/harbor/ssl",
}

ALL = ("compose", "stack", "rancher", "rancher-distributed")


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


AFTER_SETUP = {"setupwrapper": COMPLETED}
AFTER_DATA = {"setupwrapper": COMPLETED, "init-data": COMPLETED}
UID_SWITCH = ("CHOWN", "SETGID", "SETUID")

SERVICES = {
    # the two one-shots of the wrapper image
    "init-data": Service(
        "wrapper", ROOT, ("CHOWN", "DAC_OVERRIDE", "FOWNER"), health=False,
        data={v: f"/data/{folder}:nocopy" for v, folder in DATA_VOLUMES.items()}),
    # Harbor
    "log": Service(
        "harbor-log", ROOT, ("CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"), optional="syslog",
        after=AFTER_SETUP, on=("compose",)),
    "registry": Service(
        "registry-photon", HARBOR_UID, UID_SWITCH, data={"registry": "/storage:nocopy"},
        fixed=("etc-registry", "cust-cert"), after={**AFTER_DATA, "redis": HEALTHY}),
    "registryctl": Service(
        "harbor-registryctl", HARBOR_UID, UID_SWITCH, data={"registry": "/storage:nocopy"},
        fixed=("etc-registry", "etc-registryctl", "cust-cert", "harbor-ssl"),
        after={**AFTER_DATA, "registry": HEALTHY}),
    "postgresql": Service(
        "harbor-db", POSTGRES_UID, ("CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"),
        data={"database": "/var/lib/postgresql/data:nocopy"}, after=AFTER_DATA),
    "redis": Service(
        "valkey-photon", VALKEY_UID, UID_SWITCH, data={"redis": "/var/lib/redis:nocopy"},
        after=AFTER_DATA),
    "core": Service(
        "harbor-core", HARBOR_UID, ("SETGID", "SETUID"),
        # IMAGE_STORE_PATH (default /data): the storage figure core reports
        data={"registry": "/data:ro,nocopy"}, fixed=("ca-download", "cust-cert"),
        after={**AFTER_DATA, "registry": HEALTHY, "redis": HEALTHY, "postgresql": HEALTHY}),
    "portal": Service(
        "harbor-portal", HARBOR_UID, ("CHOWN", "SETGID", "SETUID", "NET_BIND_SERVICE"),
        after=AFTER_SETUP),
    "jobservice": Service(
        "harbor-jobservice", HARBOR_UID, UID_SWITCH, data={"job-logs": "/var/log/jobs:nocopy"},
        fixed=("etc-jobservice", "cust-cert", "harbor-ssl"),
        after={**AFTER_DATA, "core": HEALTHY}),
    "proxy": Service(
        "nginx-photon", HARBOR_UID, ("CHOWN", "SETGID", "SETUID", "NET_BIND_SERVICE"),
        fixed=("cust-cert",),
        after={**AFTER_SETUP, "registry": HEALTHY, "core": HEALTHY, "portal": HEALTHY}),
    "trivy-adapter": Service(
        "trivy-adapter-photon", HARBOR_UID, optional="trivy", fixed=("cust-cert",),
        data={"trivy-cache": "/home/scanner/.cache/trivy:nocopy",
              "trivy-reports": "/home/scanner/.cache/reports:nocopy"},
        after={**AFTER_DATA, "redis": HEALTHY}),
    "exporter": Service(
        "harbor-exporter", HARBOR_UID, optional="metrics", fixed=("cust-cert",), health=False,
        after={**AFTER_SETUP, "core": HEALTHY}, on=("compose", "stack")),
}
