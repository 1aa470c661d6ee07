"""The deployment, described once: every service, its image, user, capabilities, mounts, health
check, start order and what differs per target.

Targets (the files `python -m wrapper.deployment` writes from this module):
  compose              compose/docker-compose.yml (+ the compose/docker-compose.*.yml overrides)
  stack                compose/docker-stack.yml (+ compose/docker-stack.certs.yml)
  rancher              rancher-catalog/templates/harbor-setupwrapper/0/ (single host)
  rancher-distributed  rancher-catalog/templates/harbor-setupwrapper-distributed/0/

What is the same for every service of a target is a rule in wrapper/deployment/generator.py,
each rule named there once (for example "compose: every Harbor service gets the wrapper's
volumes through volumes_from setupwrapper:ro"); what one service has is here.
The header comments of each file are in wrapper/deployment/texts.py.
After changing anything here: `python -m wrapper.deployment`, and commit the files it writes.
"""

from __future__ import annotations

from wrapper.data_dirs import POSTGRES_UID, VALKEY_UID
from wrapper.context import HARBOR_UID

ROOT = 0
HARBOR_VERSION = "v2.15.2"
WRAPPER_IMAGE = "harbor-setupwrapper:0.1.0"

TARGETS = ("compose", "stack", "rancher", "rancher-distributed")

# --- volumes ------------------------------------------------------------------------------------

# the wrapper's own volume: config, keys, certificates, the shims (every Harbor service reads it)
SETUP_VOLUME, SETUP_PATH = "harbor-setup", "/harbor-setup"

# the fixed folders Harbor's images read (wrapper/fixed_paths.py); the wrapper links their
# files into harbor-setup
FIXED_VOLUMES = {
    "etc-registry": "/etc/registry",
    "etc-registryctl": "/etc/registryctl",
    "etc-jobservice": "/etc/jobservice",
    "ca-download": "/etc/core/ca",
    "cust-cert": "/harbor_cust_cert",
    "harbor-ssl": "/etc/harbor/ssl",
}

# Harbor's data: volume -> its folder under upstream's data_volume (/data); the owner and mode
# init-data gives it are in wrapper/data_dirs.py
DATA_VOLUMES = {
    "registry": "registry",
    "job-logs": "job_logs",
    "database": "database",
    "redis": "redis",
    "trivy-cache": "trivy-adapter/trivy",
    "trivy-reports": "trivy-adapter/reports",
}

# compose only: the log container's files
LOG_VOLUME = "harbor-logs"

# --- start order (compose's depends_on) -----------------------------------------------------------

COMPLETED, HEALTHY = "service_completed_successfully", "service_healthy"
STARTED = "service_started"  # upstream's plain depends_on: it exists, so its name resolves
AFTER_SETUP = {"setupwrapper": COMPLETED}
AFTER_DATA = {"setupwrapper": COMPLETED, "init-data": COMPLETED}

# --- the services ---------------------------------------------------------------------------------
#
# Keys of a service:
#   image     repository under HARBOR_IMAGE_PREFIX (goharbor); "wrapper": our own image
#   user      uid the image runs as (its USER; no file overrides it)
#   cap_add   on top of cap_drop: [ALL]
#   data      data volume -> "target[:options]" (nocopy everywhere: Docker would otherwise give
#             an empty volume back to root:root the first time an image mounts it)
#   fixed     the fixed-path volumes it reads (compose and the single-host Rancher item give
#             every service all of them through volumes_from; the stack and the distributed
#             item mount these by name)
#   after     compose's depends_on: service -> condition (Swarm and Rancher have no start
#             order: each shim waits for the config and for its data folder)
#   profile   compose profile that turns it on; the stack runs it with 0 replicas by default,
#             the Rancher items behind a question (trivy) or not at all
#   health    the image's own health check is used (never overridden, checked more often)
#   on        the targets that run it
#   writes_setup, keeps_running   a service of the wrapper's image that mounts the wrapper's
#             volumes read-write and keeps running (renew), not a one-shot
#   setup_mount   the targets where a one-shot of the wrapper's image also mounts harbor-setup
#             read-write (init-data: to record the database snapshot in the store)
#   environment   variables it is given: passed on from the shell (compose, stack); the
#             Rancher items set each from the catalog answer of its name in lower case;
#             environment_note: the comment above them
#   note      a comment placed above the service in every file
#   <target>  what only that target has: compose / stack / rancher / rancher-distributed

UID_SWITCH = ["CHOWN", "SETGID", "SETUID"]
WEB = ["CHOWN", "SETGID", "SETUID", "NET_BIND_SERVICE"]
STORE_PATH_NOTE = "core reports the storage capacity of IMAGE_STORE_PATH (default /data), as upstream"

# the distributed Rancher item's health checks (rancher-compose.yml): what every one has
RANCHER_HEALTH_CHECK = {"interval": 10000, "response_timeout": 5000, "healthy_threshold": 2,
                        "unhealthy_threshold": 3, "initializing_timeout": 600000}

SERVICES = {
    "setupwrapper": {
        "image": "wrapper", "user": ROOT, "health": False, "on": TARGETS,
    },
    "init-data": {
        "image": "wrapper", "user": ROOT, "health": False, "on": TARGETS,
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
        "data": {volume: f"/data/{folder}:nocopy" for volume, folder in DATA_VOLUMES.items()},
        # the snapshot before a PostgreSQL upgrade (README: Day 2). compose and the stack pass
        # them on from the shell, the Rancher items from the answers of the same names
        # (harbor_database_upgrade_snapshot, harbor_image_tag: questions in texts.py)
        "environment": ["HARBOR_DATABASE_UPGRADE_SNAPSHOT", "HARBOR_IMAGE_TAG"],
        "environment_note": "the snapshot before a PostgreSQL upgrade (README: Day 2)",
        # the snapshot is recorded in the store (status shows it, rollback sets the recorded
        # version back); the stack and the distributed Rancher item take it unrecorded
        "setup_mount": ("compose", "rancher"),
    },
    # the long-running mode of the same image: every HARBOR_RENEW_INTERVAL it re-issues the
    # certificates the wrapper made before they expire and, with HARBOR_ACME_*, obtains and
    # renews the ACME certificate; each change is a new generation the proxy reloads by itself.
    # It runs `generate` as setupwrapper does: same volumes, variables and input files (each
    # override gives it setupwrapper's entries, a rule in the generator)
    "renew": {
        "image": "wrapper", "user": ROOT, "health": False, "on": TARGETS,
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
        "fixed": list(FIXED_VOLUMES), "writes_setup": True, "keeps_running": True,
        # HTTP-01 is answered by the proxy: the first ACME order waits until it serves
        "after": {**AFTER_SETUP, "proxy": HEALTHY},
    },
    "log": {
        "image": "harbor-log", "user": ROOT, "health": True, "on": ("compose",),
        "profile": "syslog",
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"],
        "after": AFTER_SETUP,
        "compose": {"volumes": [f"{LOG_VOLUME}:/var/log/docker/"],
                    "ports": ["127.0.0.1:1514:10514"]},
    },
    "registry": {
        "image": "registry-photon", "user": HARBOR_UID, "health": True, "on": TARGETS,
        "cap_add": UID_SWITCH,
        "data": {"registry": "/storage:nocopy"},
        "fixed": ["etc-registry", "cust-cert"],
        "after": {**AFTER_DATA, "redis": HEALTHY},
        "rancher-distributed": {"health_check": {
            "port": 5000, "request_line": "GET / HTTP/1.0", "strategy": "recreate"}},
    },
    "registryctl": {
        "image": "harbor-registryctl", "user": HARBOR_UID, "health": True, "on": TARGETS,
        "cap_add": UID_SWITCH,
        "data": {"registry": "/storage:nocopy"},
        # the image's own health check presents /etc/harbor/ssl/registryctl.{crt,key}
        "fixed": ["etc-registry", "etc-registryctl", "cust-cert", "harbor-ssl"],
        "after": {**AFTER_DATA, "registry": HEALTHY},
        "rancher-distributed": {"health_check": {
            "port": 8080, "request_line": "GET /api/health HTTP/1.0", "strategy": "recreate"}},
    },
    "postgresql": {
        "image": "harbor-db", "user": POSTGRES_UID, "health": True, "on": TARGETS,
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"],
        "data": {"database": "/var/lib/postgresql/data:nocopy"},
        "after": AFTER_DATA,
        # its shim holds a pending PostgreSQL upgrade until init-data has taken the snapshot
        # (README: Day 2) or declined it; a decline counts only when this service is told
        # false too (a record of an earlier run with other settings does not). Passed as to
        # init-data: from the shell, from the Rancher answer
        "environment": ["HARBOR_DATABASE_UPGRADE_SNAPSHOT"],
        "environment_note": ("a PostgreSQL upgrade waits for init-data's snapshot (README: Day 2); "
                             "false: for its decision to go without one"),
        "shm_size": 1 << 30,  # upstream's 1gb; Swarm ignores shm_size: a tmpfs at /dev/shm there
        "stateful": True,     # one replica, pinned to the data node
        "rancher-distributed": {"health_check": {"port": 5432, "strategy": "none"}},
    },
    "redis": {
        "image": "valkey-photon", "user": VALKEY_UID, "health": True, "on": TARGETS,
        "cap_add": UID_SWITCH,
        "data": {"redis": "/var/lib/redis:nocopy"},
        "after": AFTER_DATA,
        "stateful": True,
        "rancher-distributed": {"health_check": {"port": 6379, "strategy": "none"}},
    },
    "core": {
        "image": "harbor-core", "user": HARBOR_UID, "health": True, "on": TARGETS,
        "cap_add": ["SETGID", "SETUID"],
        "data": {"registry": "/data:ro,nocopy"},
        "data_note": STORE_PATH_NOTE,
        "fixed": ["ca-download", "cust-cert"],
        # started, as upstream's: core waits for them itself (the database: a TCP check every
        # 2 s for 60 s; Redis: a ping retried for a minute) and calls the registry per request.
        # Their health checks (every 5 s) no longer delay the first login (issue 17)
        "after": {**AFTER_DATA, "registry": STARTED, "redis": STARTED, "postgresql": STARTED},
        "rancher-distributed": {"health_check": {
            "port": 8080, "request_line": "GET /api/v2.0/ping HTTP/1.0", "strategy": "recreate"}},
    },
    "portal": {
        "image": "harbor-portal", "user": HARBOR_UID, "health": True, "on": TARGETS,
        "cap_add": WEB,
        "after": AFTER_SETUP,
        "rancher-distributed": {"health_check": {
            "port": 8080, "request_line": "GET / HTTP/1.0", "strategy": "recreate"}},
    },
    "jobservice": {
        "image": "harbor-jobservice", "user": HARBOR_UID, "health": True, "on": TARGETS,
        "cap_add": UID_SWITCH,
        "data": {"job-logs": "/var/log/jobs:nocopy"},
        # the image's own health check presents /etc/harbor/ssl/job_service.{crt,key}
        "fixed": ["etc-jobservice", "cust-cert", "harbor-ssl"],
        "after": {**AFTER_DATA, "core": HEALTHY},
        "rancher-distributed": {"health_check": {
            "port": 8080, "request_line": "GET /api/v1/stats HTTP/1.0", "strategy": "recreate"}},
    },
    "proxy": {
        "image": "nginx-photon", "user": HARBOR_UID, "health": True, "on": TARGETS,
        "cap_add": WEB,
        "fixed": ["cust-cert"],
        # started, as upstream's: nginx looks its upstreams up per request (HARBOR_NGINX_RESOLVER)
        # and answers 502 until they listen; waiting for three health checks cost 5-10 s
        "after": {**AFTER_SETUP, "registry": STARTED, "core": STARTED, "portal": STARTED},
        "compose": {"ports": ["${HARBOR_HTTP_PORT:-80}:8080", "${HARBOR_HTTPS_PORT:-443}:8443"]},
        # Traefik v3 (providers.swarm) reads deploy.labels; no published port
        "stack": {"labels": {
            "traefik.enable": "true",
            "traefik.swarm.network": "${HARBOR_NETWORK_NAME:-harbor}",
            "traefik.http.routers.harbor.rule": "Host(`${HARBOR_HOSTNAME}`)",
            "traefik.http.routers.harbor.entrypoints": "${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}",
            "traefik.http.routers.harbor.tls": "true",
            "traefik.http.routers.harbor.service": "harbor",
            "traefik.http.routers.harbor.middlewares": "harbor-forwarded-https",
            "traefik.http.middlewares.harbor-forwarded-https.headers.customrequestheaders."
            "X-Forwarded-Proto": "https",
            "traefik.http.services.harbor.loadbalancer.server.port": "8080",
            "traefik.http.services.harbor.loadbalancer.passhostheader": "true",
        }},
        "rancher": {"ports": ["${harbor_http_port}:8080"],
                    "https_ports": ["${harbor_https_port}:8443"]},
        # rawmind0 rancher-traefik labels (Traefik catalog item, rancher_integration: external)
        "rancher-distributed": {
            "labels": {
                "traefik.enable": "true",
                "traefik.port": "8080",
                "traefik.protocol": "http",
                "traefik.domain": "${traefik_domain}",
                "traefik.alias.fqdn": "${harbor_hostname}",
                "traefik.frontend.passHostHeader": "true",
            },
            # a TCP check: nginx answers / through portal, which may start later
            "health_check": {"port": 8080, "strategy": "recreate"},
        },
    },
    "trivy-adapter": {
        "image": "trivy-adapter-photon", "user": HARBOR_UID, "health": True, "on": TARGETS,
        "profile": "trivy",
        "data": {"trivy-cache": "/home/scanner/.cache/trivy:nocopy",
                 "trivy-reports": "/home/scanner/.cache/reports:nocopy"},
        "fixed": ["cust-cert"],  # install_cert.sh reads /harbor_cust_cert
        "after": {**AFTER_DATA, "redis": HEALTHY},
        "rancher-distributed": {"health_check": {
            "port": 8080, "request_line": "GET /probe/healthy HTTP/1.0", "strategy": "recreate"}},
    },
    "exporter": {
        "image": "harbor-exporter", "user": HARBOR_UID, "health": False,
        "on": ("compose", "stack"),
        "profile": "metrics",
        "fixed": ["cust-cert"],
        "after": {**AFTER_SETUP, "core": HEALTHY},
    },
}

# the services that are neither the wrapper's one-shots nor optional, nor stateful: they scale
STATELESS = ("proxy", "portal", "core", "registry", "registryctl", "jobservice")

# --- health checks: the images' own tests, checked more often than Docker's 30 s -----------------
#
# compose: the start waits for three health checks in a row (redis, registry, core); every
# 5 s is one curl per service. Swarm adds a task to the service's DNS only once it is healthy.
HEALTHCHECK = {
    "compose": {"interval": "5s", "timeout": "10s", "retries": 12, "start_period": "60s"},
    "stack": {"interval": "10s", "timeout": "10s", "retries": 6, "start_period": "60s"},
}

# docker-compose.engine25.yml (opt-in): during start_period, check every second instead of every
# interval. Docker Engine 25 (API 1.44) or later only: compose refuses the key on older engines.
START_INTERVAL = "1s"

# Docker's json-file driver keeps every line forever: each container's log is bounded
LOGGING = {"driver": "json-file",
           "options": {"max-size": "${HARBOR_LOG_MAX_SIZE:-20m}",
                       "max-file": "${HARBOR_LOG_MAX_FILE:-5}"}}

# --- the wrapper's variables per target ------------------------------------------------------------
#
# Each target sets these itself (name -> value, with a comment where the why is not obvious);
# every other variable of the settings schema (wrapper/docs.py compose_passthrough) is passed
# on when it is set.
WRAPPER_ENVIRONMENT = {
    "compose": [
        ("HARBOR_HOSTNAME", "${HARBOR_HOSTNAME:?set HARBOR_HOSTNAME to the host name or IP "
                            "address clients use to reach Harbor}", None),
        ("HARBOR_HTTP_PORT", "${HARBOR_HTTP_PORT:-80}", None),
        ("HARBOR_HTTPS_PORT", "${HARBOR_HTTPS_PORT:-443}", None),
        ("HARBOR_NGINX_RESOLVER", "${HARBOR_NGINX_RESOLVER:-127.0.0.11}",
         "Docker's DNS: the proxy follows containers that were replaced"),
        ("HARBOR_IMAGE_TAG", "${HARBOR_IMAGE_TAG:-v2.15.2}",
         "the Harbor version the images below run: the upgrade guard compares it with the data's"),
    ],
    "stack": [
        ("HARBOR_HOSTNAME", "${HARBOR_HOSTNAME:?set HARBOR_HOSTNAME to the host name clients "
                            "use to reach Harbor through Traefik}", None),
        ("HARBOR_PROTOCOL", "http", None),
        ("HARBOR_EXTERNAL_URL", "https://${HARBOR_HOSTNAME}", None),
        ("HARBOR_NGINX_RESOLVER", "${HARBOR_NGINX_RESOLVER:-127.0.0.11}", None),
        ("HARBOR_ADMIN_PASSWORD_FILE", "/run/secrets/harbor_admin_password", None),
        ("HARBOR_DATABASE_PASSWORD_FILE", "/run/secrets/harbor_database_password", None),
        ("HARBOR_IMAGE_TAG", "${HARBOR_IMAGE_TAG:-v2.15.2}",
         "the Harbor version the images below run: the upgrade guard compares it with the data's"),
    ],
}

# The Rancher items pass catalog answers, not the whole schema: (variable, value, the Go
# template condition under which it is set, or None for always)
RANCHER_ENVIRONMENT = {
    "rancher": [
        ("HARBOR_HOSTNAME", "${harbor_hostname}", None),
        ("HARBOR_PROTOCOL", "${harbor_protocol}", None),
        ("HARBOR_HTTP_PORT", "${harbor_http_port}", None),
        ("HARBOR_HTTPS_PORT", "${harbor_https_port}", None),
        ("HARBOR_WITH_TRIVY", "${harbor_with_trivy}", None),
        ("HARBOR_LOG_LEVEL", "${harbor_log_level}", None),
        # the upgrade guard records it; init-data's snapshot reads that record
        ("HARBOR_IMAGE_TAG", "${harbor_image_tag}", None),
        ("HARBOR_EXTERNAL_URL", "${harbor_external_url}", ".Values.harbor_external_url"),
        ("HARBOR_ADMIN_PASSWORD", "${harbor_admin_password}", ".Values.harbor_admin_password"),
        ("HARBOR_DATABASE_PASSWORD", "${harbor_database_password}",
         ".Values.harbor_database_password"),
    ],
    "rancher-distributed": [
        ("HARBOR_HOSTNAME", "${harbor_hostname}", None),
        ("HARBOR_PROTOCOL", "http", None),  # Harbor speaks plain http behind Traefik
        ("HARBOR_EXTERNAL_URL", "${harbor_external_url}", None),
        ("HARBOR_WITH_TRIVY", "${harbor_with_trivy}", None),
        ("HARBOR_LOG_LEVEL", "${harbor_log_level}", None),
        ("HARBOR_IMAGE_TAG", "${harbor_image_tag}", None),
        ("HARBOR_ADMIN_PASSWORD", "${harbor_admin_password}", ".Values.harbor_admin_password"),
        ("HARBOR_DATABASE_PASSWORD", "${harbor_database_password}",
         ".Values.harbor_database_password"),
    ],
}
TRIVY_ANSWERED = 'eq .Values.harbor_with_trivy "true"'

# --- the overrides -----------------------------------------------------------------------------
#
# compose/docker-compose.hostdata.yml and docker-compose.syslog.yml are derived from SERVICES
# by rules in the generator; the others add what only they have, written out here.

BACKUP_DIR = "${HARBOR_BACKUP_DIR:-./backups}"
DATA_VOLUME_PREFIX = "${HARBOR_DATA_VOLUME:+${HARBOR_DATA_VOLUME:-}/}"  # a host folder or a volume
DB_IMAGE = "${HARBOR_IMAGE_PREFIX:-goharbor}/harbor-db:${HARBOR_IMAGE_TAG:-v2.15.2}"
AFTER_SETUP_AND_DATABASE = {"setupwrapper": {"condition": COMPLETED},
                            "postgresql": {"condition": HEALTHY}}

# services of docker-compose.backup.yml that run in the database image (pg_dump is its tool)
BACKUP_IN_DB_IMAGE = {
    "profiles": ["backup"],
    "restart": "no",
    "networks": ["harbor"],
    "image": DB_IMAGE,
    "user": "root",
    "cap_drop": ["ALL"],
    "cap_add": ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID"],
    "volumes_from": ["setupwrapper:ro"],
    "healthcheck": {"disable": True},
}
BACKUP_USER_NOTE = "root: reads the store (root 0700) and the registry's data (uid 10000)"
BACKUP_SERVICES = {
    "backup": {
        "entrypoint": ["/harbor-setup/entrypoints/backup.sh"],
        "volumes": [f"{DATA_VOLUME_PREFIX}registry:/storage:ro", f"{BACKUP_DIR}:/backups"],
        "depends_on": AFTER_SETUP_AND_DATABASE,
    },
    "restore-keys": {
        "profiles": ["backup"],
        "restart": "no",
        "network_mode": "none",
        "image": "${HARBOR_WRAPPER_IMAGE:-harbor-setupwrapper:0.1.0}",
        "entrypoint": ["harbor-setupwrapper", "restore-keys"],
        "volumes": [f"{DATA_VOLUME_PREFIX}harbor-setup:/harbor-setup",
                    f"{DATA_VOLUME_PREFIX}registry:/storage",
                    f"{BACKUP_DIR}:/backups:ro"],
    },
    "restore-database": {
        "entrypoint": ["/harbor-setup/entrypoints/restore-database.sh"],
        "volumes": [f"{BACKUP_DIR}:/backups:ro"],
        "depends_on": AFTER_SETUP_AND_DATABASE,
    },
    "rollback": {  # undoes a PostgreSQL upgrade from init-data's snapshot
        "profiles": ["backup"],
        "restart": "no",
        "network_mode": "none",
        "image": "${HARBOR_WRAPPER_IMAGE:-harbor-setupwrapper:0.1.0}",
        "entrypoint": ["harbor-setupwrapper", "rollback"],
        "cap_drop": ["ALL"],
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
        "environment": ["HARBOR_IMAGE_TAG"],
        "volumes": [f"{DATA_VOLUME_PREFIX}harbor-setup:/harbor-setup",
                    f"{DATA_VOLUME_PREFIX}database:/data/database"],
    },
}

CERTS_OVERRIDE = {  # compose/docker-compose.certs.yml
    "setupwrapper": {
        "volumes": ["${HARBOR_SETUP_CERT_DIR:?set HARBOR_SETUP_CERT_DIR to the host folder with "
                    "your certificate and key}:/run/harbor-certificate:ro"],
        "environment": [
            "HARBOR_HTTPS_CERTIFICATE=/run/harbor-certificate/${HARBOR_SETUP_CERT_FILE:-tls.crt}",
            "HARBOR_HTTPS_PRIVATE_KEY=/run/harbor-certificate/${HARBOR_SETUP_KEY_FILE:-tls.key}",
        ],
    },
}

TRUST_OVERRIDE = {  # compose/docker-compose.trust.yml
    "setupwrapper": {
        "volumes": ["${HARBOR_SETUP_TRUST_DIR:?set HARBOR_SETUP_TRUST_DIR to the host folder with "
                    "the CA certificates}:/run/harbor-trust:ro"],
        "environment": [
            "HARBOR_TRUSTED_CA_FILES=${HARBOR_TRUSTED_CA_FILES:-/run/harbor-trust/ca.crt}"],
    },
}

TRIVY_OFFLINE_OVERRIDE = {  # compose/docker-compose.trivy-offline.yml
    "setupwrapper": {
        "environment": [
            "HARBOR_TRIVY_SKIP_UPDATE=${HARBOR_TRIVY_SKIP_UPDATE:-true}",
            "HARBOR_TRIVY_SKIP_JAVA_DB_UPDATE=${HARBOR_TRIVY_SKIP_JAVA_DB_UPDATE:-true}",
            "HARBOR_TRIVY_OFFLINE_SCAN=${HARBOR_TRIVY_OFFLINE_SCAN:-true}",
        ],
    },
    "init-data": {
        "volumes": ["${HARBOR_SETUP_TRIVY_DB_DIR:?set HARBOR_SETUP_TRIVY_DB_DIR to the host folder "
                    "holding the trivy DB}:/trivy-db-import:ro"],
    },
}

# compose/docker-compose.podman.yml: Podman drops a service's health-check options when the file
# gives no `test`, so the images' own checks are repeated (tests/test_podman_override.py keeps
# them equal to tests/e2e/images/image-contract.yml); a fixed subnet whose gateway is the DNS
PODMAN_RESOLVER = "${HARBOR_NGINX_RESOLVER:-${HARBOR_PODMAN_GATEWAY:-10.89.250.1}}"
PODMAN_RESOLVER_NOTE = ("Podman's DNS (aardvark-dns) answers on the network's gateway, not on "
                        "Docker's\n127.0.0.11; a restarted container gets a new address, which "
                        "the proxy follows")
PODMAN_SUBNET = {"subnet": "${HARBOR_PODMAN_SUBNET:-10.89.250.0/24}",
                 "gateway": "${HARBOR_PODMAN_GATEWAY:-10.89.250.1}"}
PODMAN_HEALTH_TESTS = {  # compose/docker-compose.podman.yml: each image's own check
    'log': ['CMD-SHELL', 'netstat -ltun|grep 10514'],
    'registry': ['CMD-SHELL', 'curl --fail -s http://localhost:5000 || curl -k --fail -s https://localhost:5443 || exit 1'],
    'registryctl': ['CMD-SHELL', 'curl --fail -s http://localhost:8080/api/health || curl -sk --fail --key /etc/harbor/ssl/registryctl.key --cert /etc/harbor/ssl/registryctl.crt https://localhost:8443/api/health || exit 1'],
    'postgresql': ['CMD', '/docker-healthcheck.sh'],
    'redis': ['CMD', 'docker-healthcheck'],
    'core': ['CMD-SHELL', 'curl --fail -s http://localhost:8080/api/v2.0/ping || curl -k --fail -s https://localhost:8443/api/v2.0/ping || exit 1'],
    'portal': ['CMD-SHELL', 'curl --fail -s http://localhost:8080 || curl -k --fail -s https://localhost:8443 || exit 1'],
    'jobservice': ['CMD-SHELL', 'curl --fail -s http://localhost:8080/api/v1/stats || curl -sk --fail --key /etc/harbor/ssl/job_service.key --cert /etc/harbor/ssl/job_service.crt https://localhost:8443/api/v1/stats || exit 1'],
    'proxy': ['CMD-SHELL', 'curl --fail -s http://localhost:8080 || exit 1'],
    'trivy-adapter': ['CMD-SHELL', 'curl --fail -s http://localhost:8080/probe/healthy || curl -k --fail -s https://localhost:8443/probe/healthy || exit 1'],
}

SECRETS_OVERRIDE = {  # compose/docker-compose.secrets.yml
    "services": {"setupwrapper": {
        "secrets": ["harbor_admin_password", "harbor_database_password"],
        "environment": ["HARBOR_ADMIN_PASSWORD_FILE=/run/secrets/harbor_admin_password",
                        "HARBOR_DATABASE_PASSWORD_FILE=/run/secrets/harbor_database_password"],
    }},
    "secrets": {
        "harbor_admin_password": {
            "file": "${HARBOR_ADMIN_PASSWORD_SECRET:-./secrets/harbor_admin_password}"},
        "harbor_database_password": {
            "file": "${HARBOR_DATABASE_PASSWORD_SECRET:-./secrets/harbor_database_password}"},
    },
}

HTTP_PORTS = ["${HARBOR_HTTP_PORT:-80}:8080"]       # docker-compose.http.yml: the proxy's only port
METRICS_PORTS = ["${HARBOR_METRIC_PORT:-9090}:9090"]  # docker-compose.metrics.yml adds it
METRICS_PROXY_AFTER = {"jobservice": {"condition": STARTED}}  # nginx resolves its metrics port

STACK_CERTS_OVERRIDE = {  # compose/docker-stack.certs.yml
    "services": {
        "setupwrapper": {
            "secrets": ["harbor_admin_password", "harbor_database_password",
                        "harbor_https_certificate", "harbor_https_private_key"],
            "environment": [
                "HARBOR_PROTOCOL=https",
                "HARBOR_EXTERNAL_URL=https://${HARBOR_HOSTNAME}:${HARBOR_HTTPS_PORT:-443}",
                "HARBOR_HTTPS_CERTIFICATE=/run/secrets/harbor_https_certificate",
                "HARBOR_HTTPS_PRIVATE_KEY=/run/secrets/harbor_https_private_key",
            ],
        },
        "proxy": {
            "ports": [{"target": 8443, "published": "${HARBOR_HTTPS_PORT:-443}",
                       "protocol": "tcp", "mode": "host"}],
            "deploy": {"labels": {"traefik.enable": "false"}},
        },
    },
    "secrets": {
        "harbor_https_certificate": {
            "external": True,
            "name": "${HARBOR_HTTPS_CERTIFICATE_SECRET:?set HARBOR_HTTPS_CERTIFICATE_SECRET to "
                    "the name of the Docker secret with the certificate chain}"},
        "harbor_https_private_key": {
            "external": True,
            "name": "${HARBOR_HTTPS_PRIVATE_KEY_SECRET:?set HARBOR_HTTPS_PRIVATE_KEY_SECRET to "
                    "the name of the Docker secret with the private key}"},
    },
}

# --- the stack's own settings -------------------------------------------------------------------

STACK_NFS_OPTIONS = ("addr=${HARBOR_NFS_SERVER:?set HARBOR_NFS_SERVER to the address of the NFS "
                     "server},rw,nfsvers=4")
STACK_NFS_PATH = ("${HARBOR_NFS_PATH:?set HARBOR_NFS_PATH to the exported folder that holds one "
                  "folder per volume}")
STACK_DATA_NODE = "${HARBOR_DATA_NODE_CONSTRAINT:-node.labels.harbor-data == true}"

# --- the Rancher items' own settings ------------------------------------------------------------

RANCHER_HOST_LABEL = {  # which answer pins a service to hosts (distributed: optional answers)
    "rancher": "harbor_host_label",
    "rancher-distributed": "harbor_host_label",
}
RANCHER_DATA_HOST_LABEL = "harbor_data_host_label"  # distributed: postgresql and redis
RANCHER_VOLUME_DRIVER = {"rancher": "local", "rancher-distributed": "${harbor_volume_driver}"}

# docker-compose.hostdata.yml: the wrapper's own mounts of the host folder (every data volume
# of SERVICES becomes $HARBOR_DATA_VOLUME/<its folder> by a rule in the generator)
HOSTDATA_WRAPPER_VOLUMES = [
    "${HARBOR_DATA_VOLUME:?set HARBOR_DATA_VOLUME to the host folder for Harbor's data}"
    "/harbor-setup:/harbor-setup",
    "${HARBOR_DATA_VOLUME}:${HARBOR_DATA_VOLUME}:ro",
    "${HARBOR_DATA_VOLUME}/secret:${HARBOR_DATA_VOLUME}/secret",
]

# docker-compose.syslog.yml: where the Docker daemon sends each container's output
SYSLOG_ADDRESS = "tcp://127.0.0.1:1514"


STACK_TRAEFIK_OVERRIDE = {'services': {'traefik': {'image': '${HARBOR_TRAEFIK_IMAGE:-traefik:v3.7}', 'logging': {'driver': 'json-file', 'options': {'max-size': '${HARBOR_LOG_MAX_SIZE:-20m}', 'max-file': '${HARBOR_LOG_MAX_FILE:-5}'}}, 'entrypoint': ['/bin/sh', '-c', 'mkdir -p /etc/traefik/dynamic && printf \'tls:\\n  stores:\\n    default:\\n      defaultCertificate:\\n        certFile: %s\\n        keyFile: %s\\n\' /run/secrets/harbor_https_certificate /run/secrets/harbor_https_private_key > /etc/traefik/dynamic/default-certificate.yml && exec /entrypoint.sh "$$@"', 'traefik'], 'command': ['--providers.swarm.endpoint=unix:///var/run/docker.sock', '--providers.swarm.exposedByDefault=false', '--providers.swarm.network=${HARBOR_NETWORK_NAME:-harbor}', '--providers.swarm.refreshSeconds=5s', '--providers.file.directory=/etc/traefik/dynamic', '--entryPoints.${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}.address=:443', '--entryPoints.${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}.transport.respondingTimeouts.readTimeout=0', '--entryPoints.${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}.transport.respondingTimeouts.writeTimeout=0', '--entryPoints.${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}.transport.respondingTimeouts.idleTimeout=600s', '--ping=true'], 'healthcheck': {'test': ['CMD', 'traefik', 'healthcheck', '--ping'], 'interval': '10s', 'timeout': '10s', 'retries': 6, 'start_period': '30s'}, 'ports': [{'target': 443, 'published': '${HARBOR_TRAEFIK_HTTPS_PORT:-443}', 'protocol': 'tcp'}], 'networks': ['harbor'], 'volumes': ['/var/run/docker.sock:/var/run/docker.sock:ro'], 'secrets': ['harbor_https_certificate', 'harbor_https_private_key'], 'deploy': {'replicas': 1, 'placement': {'constraints': ['node.role == manager']}}}}, 'secrets': {'harbor_https_certificate': {'external': True, 'name': '${HARBOR_HTTPS_CERTIFICATE_SECRET:?set HARBOR_HTTPS_CERTIFICATE_SECRET to the name of the Docker secret with the certificate chain}'}, 'harbor_https_private_key': {'external': True, 'name': '${HARBOR_HTTPS_PRIVATE_KEY_SECRET:?set HARBOR_HTTPS_PRIVATE_KEY_SECRET to the name of the Docker secret with the private key}'}}}  # compose/docker-stack.traefik.yml

STACK_TRAEFIK_ACME_OVERRIDE = {'services': {'traefik': {'image': '${HARBOR_TRAEFIK_IMAGE:-traefik:v3.7}', 'logging': {'driver': 'json-file', 'options': {'max-size': '${HARBOR_LOG_MAX_SIZE:-20m}', 'max-file': '${HARBOR_LOG_MAX_FILE:-5}'}}, 'entrypoint': ['/bin/sh', '-c', 'if [ -s /etc/traefik/acme-ca.pem ]; then set -- "$$@" --certificatesResolvers.harbor.acme.caCertificates=/etc/traefik/acme-ca.pem --certificatesResolvers.harbor.acme.caSystemCertPool=true; fi; exec /entrypoint.sh "$$@"', 'traefik'], 'command': ['--providers.swarm.endpoint=unix:///var/run/docker.sock', '--providers.swarm.exposedByDefault=false', '--providers.swarm.network=${HARBOR_NETWORK_NAME:-harbor}', '--providers.swarm.refreshSeconds=5s', '--entryPoints.${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}.address=:443', '--entryPoints.${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}.transport.respondingTimeouts.readTimeout=0', '--entryPoints.${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}.transport.respondingTimeouts.writeTimeout=0', '--entryPoints.${HARBOR_TRAEFIK_ENTRYPOINT:-websecure}.transport.respondingTimeouts.idleTimeout=600s', '--certificatesResolvers.harbor.acme.email=${HARBOR_ACME_EMAIL:?set HARBOR_ACME_EMAIL to the contact address of the ACME account}', '--certificatesResolvers.harbor.acme.caServer=${HARBOR_ACME_DIRECTORY:-https://acme-v02.api.letsencrypt.org/directory}', '--certificatesResolvers.harbor.acme.storage=/acme/acme.json', '--certificatesResolvers.harbor.acme.tlsChallenge=true', '--ping=true'], 'healthcheck': {'test': ['CMD', 'traefik', 'healthcheck', '--ping'], 'interval': '10s', 'timeout': '10s', 'retries': 6, 'start_period': '30s'}, 'ports': [{'target': 443, 'published': '${HARBOR_TRAEFIK_HTTPS_PORT:-443}', 'protocol': 'tcp'}], 'networks': ['harbor'], 'volumes': ['/var/run/docker.sock:/var/run/docker.sock:ro', 'traefik-acme:/acme', '${HARBOR_ACME_CA_FILE:-/dev/null}:/etc/traefik/acme-ca.pem:ro'], 'deploy': {'replicas': 1, 'placement': {'constraints': ['node.role == manager']}}}, 'proxy': {'deploy': {'labels': {'traefik.http.routers.harbor.tls.certresolver': 'harbor'}}}}, 'volumes': {'traefik-acme': {'driver': 'local', 'driver_opts': {'type': 'nfs', 'o': 'addr=${HARBOR_NFS_SERVER:?set HARBOR_NFS_SERVER to the address of the NFS server},rw,nfsvers=4', 'device': ':${HARBOR_NFS_PATH:?set HARBOR_NFS_PATH to the exported folder that holds one folder per volume}/traefik-acme'}}}}  # compose/docker-stack.traefik-acme.yml
