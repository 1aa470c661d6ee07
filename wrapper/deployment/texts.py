"""The prose of the deployment files: each file's header comment, and the Rancher items'
catalog metadata and questions (the `catalog:` part of rancher-compose.yml).

The generator writes each header line prefixed with "# ". Edit here, then run
`python -m wrapper.deployment`.
"""

HEADERS = {
    "compose/docker-compose.yml": """\
Harbor v2.15.2 on one Docker host, configured by variables only:

  HARBOR_HOSTNAME=harbor.example.com docker compose -f compose/docker-compose.yml up -d

The setupwrapper service generates every config file, key and certificate once into the
harbor-setup volume, then exits; each Harbor service mounts its volumes with volumes_from
and starts through a shim from that volume. Running `up -d` again re-renders the config
from the variables, keeps every key, and restarts what depends on it. The renew service keeps
running: it renews the certificates before they expire (README: Certificates).
Variables: see .env.example next to this file and the README's variable table.
""",
    "compose/docker-compose.backup.yml": """\
Backup and restore (README: Day 2). Add this file to the deployment's own -f list:

  C="docker compose -f compose/docker-compose.yml -f compose/docker-compose.backup.yml"
  backup:   $C stop proxy portal core jobservice registryctl registry
            $C run --rm backup                 # prints the backup's name
            $C up -d
  restore, into an empty deployment (after `down -v`, or on a new host):
            $C run --rm restore-keys NAME      # the key store and the registry's data
            $C run --rm restore-database NAME  # starts the wrapper and PostgreSQL, loads the dump
            $C up -d
  undo a PostgreSQL upgrade (the snapshot init-data took before it; `status` shows it):
            $C stop                            # or down (without -v)
            $C run --rm rollback               # pg15 back, pg18 removed, version set back
            $C run --rm rollback --drop        # or: delete the snapshot once all is well

With HARBOR_DATA_VOLUME (docker-compose.hostdata.yml) the same commands use the host folder;
add that file to the list too. Backups go to HARBOR_BACKUP_DIR (default ./backups next to this file). They hold secrets: the
key that encrypts the credentials in the database, the token key, the passwords. Files are
written 0600 in 0700 folders; keep them that way.
""",
    "compose/docker-compose.certs.yml": """\
Optional: your own certificate and key (a corporate CA's, Let's Encrypt's, ...) from a folder
of this host, mounted read-only into the wrapper:

  HARBOR_SETUP_CERT_DIR=/etc/harbor/tls \\
    docker compose -f compose/docker-compose.yml -f compose/docker-compose.certs.yml up -d

The folder holds the certificate chain (server certificate first, then the intermediates) and
its unencrypted private key: tls.crt and tls.key, or the names in HARBOR_SETUP_CERT_FILE and
HARBOR_SETUP_KEY_FILE (paths inside the folder, e.g. live/harbor.example.com/fullchain.pem
with HARBOR_SETUP_CERT_DIR=/etc/letsencrypt). Do not also set HARBOR_HTTPS_CERTIFICATE or
HARBOR_HTTPS_PRIVATE_KEY: this file sets them.

Renewal: put the new files in place and run the same `up -d`. The wrapper runs again, sees
the new files and publishes a new generation; the proxy reloads nginx with the new
certificate within 10 s. Nothing else restarts and every key stays. See README, Certificates.
""",
    "compose/docker-compose.hostdata.yml": """\
Harbor's data in a host folder, in upstream's layout (README: Day 2), instead of named volumes:

  HARBOR_DATA_VOLUME=/data HARBOR_HOSTNAME=harbor.example.com docker compose \\
    -f compose/docker-compose.yml -f compose/docker-compose.hostdata.yml up -d

  /data/database/pg18   PostgreSQL (999, 0700)     /data/registry    images (10000)
  /data/redis           Valkey (999)               /data/job_logs    job logs (10000)
  /data/trivy-adapter/  Trivy (10000)              /data/secret/     upstream's keys
  /data/harbor-setup/   the wrapper's folder: its key store .store/ and the generated config

Bind mounts, as upstream's own compose file has them: `docker compose down -v` removes named
volumes only, so it never deletes anything here (bind mounts are not volumes). init-data
gives each folder to the user its image runs as, as upstream's prepare does. An official
install's data_volume is used as it is: its secretkey and token key are adopted byte for byte.
The wrapper also reads the folder (read-only, at the same path) for its upgrade guard and for
HARBOR_CONFIG_FILE=$HARBOR_DATA_VOLUME/harbor.yml; every Harbor container gets that mount
read-only through volumes_from, as upstream's core mounts all of data_volume.
""",
    "compose/docker-compose.http.yml": """\
With HARBOR_PROTOCOL=http: the proxy publishes the http port only (no listener behind 8443).

  HARBOR_PROTOCOL=http docker compose -f compose/docker-compose.yml \\
    -f compose/docker-compose.http.yml up -d

`!override` (compose 2.24.4 or later) replaces the proxy's port list instead of adding to
it. Put this file before docker-compose.metrics.yml, which adds the metrics port.
""",
    "compose/docker-compose.metrics.yml": """\
Opt-in: Prometheus metrics. Publishes the proxy's metrics port and runs the exporter.

  HARBOR_METRIC_ENABLED=true COMPOSE_PROFILES=metrics docker compose \\
    -f compose/docker-compose.yml -f compose/docker-compose.metrics.yml up -d

With metrics on, nginx's configuration names jobservice's metrics port, and nginx refuses to
start while that name does not resolve: the proxy starts after jobservice (else it restarts
until then, and `up -d` fails, since the renew service waits for a healthy proxy).
""",
    "compose/docker-compose.secrets.yml": """\
Optional: passwords from files through compose secrets instead of variables.

  printf '%s' 'admin password' > compose/secrets/harbor_admin_password
  printf '%s' 'db password'    > compose/secrets/harbor_database_password
  HARBOR_HOSTNAME=harbor.example.com docker compose -f compose/docker-compose.yml \\
    -f compose/docker-compose.secrets.yml up -d

The wrapper reads NAME_FILE for every secret variable (one trailing newline is cut); do not
set HARBOR_ADMIN_PASSWORD or HARBOR_DATABASE_PASSWORD as well.
""",
    "compose/docker-compose.syslog.yml": """\
Opt-in: upstream's logging, every Harbor service sends its output through Docker's syslog
driver to the log container (rsyslog), which writes one file per service into the
harbor-logs volume (or forwards to HARBOR_LOG_EXTERNAL_ENDPOINT_*), rotated by logrotate.

  COMPOSE_PROFILES=syslog docker compose -f compose/docker-compose.yml \\
    -f compose/docker-compose.syslog.yml up -d

The Docker daemon itself connects to 127.0.0.1:1514 when a container starts, so every
service waits for the log container to be healthy.
""",
    "compose/docker-compose.engine25.yml": """\
Opt-in, Docker Engine 25 or later (API 1.44): while a service starts (its start_period, 60 s),
Docker checks its health every second instead of every 5 s, so that what waits for it
(core waits for redis and postgresql) starts up to 5 s sooner. After the start, checks stay at
every 5 s.

  docker compose -f compose/docker-compose.yml -f compose/docker-compose.engine25.yml up -d

Older engines: compose refuses this file ("can't set healthcheck.start_interval as feature
require Docker Engine v25 or later"); leave it out, the base file starts the same services
without it. Add it to every command of the deployment (with the other overrides you use).
""",
    "compose/docker-compose.trust.yml": """\
Optional: CA certificates Harbor must trust (your OIDC provider's, LDAPS server's, object
storage's, replication targets'), from a folder of this host mounted read-only into the
wrapper:

  HARBOR_SETUP_TRUST_DIR=/etc/harbor/trust \\
    docker compose -f compose/docker-compose.yml -f compose/docker-compose.trust.yml up -d

Every *.crt / *.pem file named in HARBOR_TRUSTED_CA_FILES (paths inside the folder as
/run/harbor-trust/NAME, comma-separated; default /run/harbor-trust/ca.crt) is checked (a
certificate that is not a CA is refused, naming the file) and installed for core,
jobservice, registry and the trivy adapter through /harbor_cust_cert, as upstream does.
A changed file takes effect at the next `up -d`. See README, Certificates.
""",
    "compose/docker-compose.trivy-offline.yml": """\
Optional: Trivy without the internet. The adapter never downloads its vulnerability DB
(HARBOR_TRIVY_SKIP_UPDATE, HARBOR_TRIVY_SKIP_JAVA_DB_UPDATE and HARBOR_TRIVY_OFFLINE_SCAN
default to true here), and init-data copies the DB from a folder of this host into the
trivy volume, owned by the adapter's user, at every `up`:

  HARBOR_WITH_TRIVY=true COMPOSE_PROFILES=trivy HARBOR_SETUP_TRIVY_DB_DIR=/srv/trivy-db \\
    docker compose -f compose/docker-compose.yml \\
      -f compose/docker-compose.trivy-offline.yml up -d

The folder holds trivy's cache layout (db/trivy.db and db/metadata.json, optionally
java-db/trivy-java.db and java-db/metadata.json) or an OCI image layout of the DB artifacts
(index.json, blobs/). See README, Trivy without the internet.
""",
    "compose/docker-compose.podman.yml": """\
Podman (4.3 and the versions that keep its Docker-compatible API this way) drops a
service's health-check options (interval, timeout, retries, start_period) when the compose
file gives no `test`: Docker keeps the image's check with the file's options, Podman falls
back to the image's 30 s interval and marks a container unhealthy at its first failure, so
`depends_on: service_healthy` fails while PostgreSQL is still starting. This file repeats
each image's own check (tests/e2e/images/image-contract.yml; tests/test_podman_override.py
keeps them equal) so that the options of docker-compose.yml apply. The network gets a fixed
subnet (HARBOR_PODMAN_SUBNET, HARBOR_PODMAN_GATEWAY) for the proxy's DNS. Podman only:

  docker compose -f compose/docker-compose.yml -f compose/docker-compose.podman.yml up -d
""",
    "compose/docker-stack.yml": """\
Harbor v2.15.2 on Docker Swarm, behind Traefik v3, with every volume on NFS.

  export HARBOR_HOSTNAME=harbor.example.com          # the name clients and Traefik use
  export HARBOR_NFS_SERVER=10.0.0.10 HARBOR_NFS_PATH=/exports/harbor
  printf '%s' "$ADMIN_PASSWORD" | docker secret create harbor_admin_password -
  printf '%s' "$DB_PASSWORD"    | docker secret create harbor_database_password -
  docker stack deploy -c compose/docker-stack.yml harbor

How it starts. The setupwrapper service is a one-shot job (deploy.mode: replicated-job,
Docker Engine 20.10 / API 1.41 or later). It writes every config file, key and certificate
into the harbor-setup volume, plus links in the fixed-path volumes (etc-registry,
etc-registryctl, etc-jobservice, ca-download, cust-cert, harbor-ssl), then exits. Swarm ignores
depends_on, so each Harbor service starts with a small loop that waits until its shim
/harbor-setup/entrypoints/<service>.sh exists, then execs it; the shim waits for
/harbor-setup/ready, loads the service's env file and execs the image's own entrypoint.
Swarm has no volumes_from: each service mounts the volumes it reads by name. Nor has it a
start order: until core and portal run, the proxy's nginx exits ("host not found in
upstream") and Swarm restarts it; this settles by itself within a minute or two.
The renew service (one replica) keeps running and re-issues the certificates the wrapper
made before they expire (README: Certificates).

Variables. `docker stack deploy` substitutes ${VAR} from the calling shell only; it does not
read .env (load a file first: set -a; . ./harbor.env; set +a). Every HARBOR_* variable of the
wrapper (see the README's table) is passed to the setupwrapper job when it is set, except
these, which this file sets itself:
  HARBOR_PROTOCOL=http                    Harbor speaks plain http behind Traefik
  HARBOR_EXTERNAL_URL=https://$HARBOR_HOSTNAME
  HARBOR_NGINX_RESOLVER=127.0.0.11        Docker's DNS: the proxy follows replaced tasks
  HARBOR_ADMIN_PASSWORD_FILE, HARBOR_DATABASE_PASSWORD_FILE = /run/secrets/<secret>
Both secrets are external and must exist before the deploy (the database one too when an
external database is used: any value). Do not also set HARBOR_ADMIN_PASSWORD or
HARBOR_DATABASE_PASSWORD: the wrapper refuses NAME and NAME_FILE together.
Variables of this file only (they never reach the wrapper):
  HARBOR_NFS_SERVER, HARBOR_NFS_PATH (required; mount options: rw,nfsvers=4)
  HARBOR_IMAGE_PREFIX (goharbor), HARBOR_IMAGE_TAG (v2.15.2), HARBOR_WRAPPER_IMAGE
  HARBOR_NETWORK_NAME (harbor)            the overlay network's real name
  HARBOR_LOG_MAX_SIZE (20m), HARBOR_LOG_MAX_FILE (5)   json-file log bounds per task
  HARBOR_TRAEFIK_ENTRYPOINT (websecure)   the Traefik entry point of the router
  HARBOR_PROXY_REPLICAS, HARBOR_PORTAL_REPLICAS, HARBOR_CORE_REPLICAS,
  HARBOR_REGISTRY_REPLICAS, HARBOR_REGISTRYCTL_REPLICAS, HARBOR_JOBSERVICE_REPLICAS (1)
                                          stateless: every replica reads the same keys
  HARBOR_MAX_REPLICAS_PER_NODE (1)       at most this many replicas of one stateless service on
                                          a node, so that losing a node never takes all of them;
                                          keep the replicas <= the nodes (extra ones stay pending
                                          with "max replicas per node limit exceed"); 0: no limit
                                          (a one-node swarm)
  HARBOR_TRIVY_ADAPTER_REPLICAS (0)       1 together with HARBOR_WITH_TRIVY=true
  HARBOR_EXPORTER_REPLICAS (0)            1 together with HARBOR_METRIC_ENABLED=true
  HARBOR_POSTGRESQL_REPLICAS, HARBOR_REDIS_REPLICAS (1)   0 or 1, never more
  HARBOR_DATA_NODE_CONSTRAINT (node.labels.harbor-data == true)
                                          where postgresql and redis run:
                                          docker node update --label-add harbor-data=true <node>
                                          Label ONE node. When it is lost, postgresql and redis
                                          stay down (their tasks pending: "no suitable node")
                                          until it is back, then start on it with their data
                                          (Harbor is down meanwhile: core needs its database).
                                          They are not moved: Swarm cannot tell a dead node
                                          from a cut-off one, and two PostgreSQL servers on
                                          one NFS folder corrupt it.

External database and Redis. Set HARBOR_EXTERNAL_DATABASE_HARBOR_* (host, password or
_PASSWORD_FILE, ...) and/or HARBOR_EXTERNAL_REDIS_* in the shell, and set
HARBOR_POSTGRESQL_REPLICAS=0 and/or HARBOR_REDIS_REPLICAS=0 so the internal ones do not run.

NFS. Every volume is a local-driver NFS mount of its own sub-directory
$HARBOR_NFS_PATH/<volume name>; those directories must exist on the export before the deploy:
  mkdir -p /exports/harbor/harbor-setup /exports/harbor/etc-registry \\
    /exports/harbor/etc-registryctl /exports/harbor/etc-jobservice /exports/harbor/ca-download \\
    /exports/harbor/cust-cert /exports/harbor/harbor-ssl /exports/harbor/registry /exports/harbor/database \\
    /exports/harbor/redis /exports/harbor/job-logs /exports/harbor/trivy-cache \\
    /exports/harbor/trivy-reports
Export them with no_root_squash: the wrapper runs as root and hands files to uid 10000 and
999, and PostgreSQL and Valkey chown their data folders. The init-data job (root) gives
  registry, job-logs, trivy-cache, trivy-reports  to 10000:10000, mode 0755
  database                                        to   999:999,   mode 0700
  redis                                           to   999:999,   mode 0755
as upstream's installer does; a chown as root needs no_root_squash. With root_squash,
create those folders on the server with these owners and modes: init-data then changes
nothing, and otherwise fails naming the folder and the owner it needs
(docker service logs harbor_init-data); the services wait until their folder is writable. Docker creates a volume on each node
the first time a task there uses it and never updates its options afterwards: after changing
HARBOR_NFS_* remove the stack, then `docker volume rm harbor_<volume>` on every node.
For other mount options, edit x-nfs below.

Traefik v3 (providers.swarm). Only the proxy carries labels (deploy.labels). A swarm without
Traefik: deploy compose/docker-stack.traefik.yml with this file (`-c docker-stack.yml -c
docker-stack.traefik.yml`), a Traefik service of the stack with your certificate. Your own
Traefik must be attached to this stack's network, whose name is $HARBOR_NETWORK_NAME
(default harbor):
  docker service update --network-add harbor <traefik service>
(detach it again before `docker stack rm`). The router sends Host(`$HARBOR_HOSTNAME`) on the
entry point $HARBOR_TRAEFIK_ENTRYPOINT with TLS to the proxy's plain-http port 8080, keeps the
Host header (core builds the token realm from it) and sets X-Forwarded-Proto: https. There is
no body-size limit (no buffering middleware). Layer pushes can take long: Traefik v3 puts the
timeouts on the entry point, so start Traefik with, for example,
  --entryPoints.websecure.transport.respondingTimeouts.readTimeout=0
  --entryPoints.websecure.transport.respondingTimeouts.writeTimeout=0
  --entryPoints.websecure.transport.respondingTimeouts.idleTimeout=600s
(v3 defaults readTimeout to 60s, which cuts big uploads). Give the router a certificate the
usual way (a default certificate, or add traefik.http.routers.harbor.tls.certresolver).
The router, service and middleware names are fixed (harbor, harbor-forwarded-https): one
Harbor stack per Traefik. Leave traefik.swarm.lbswarm unset (false): Traefik then balances
over the proxy's task addresses, which works with either endpoint mode (with lbswarm and
endpoint_mode dnsrr Traefik drops the service) and reaches only tasks Swarm reports running,
i.e. healthy. Proven with the real Traefik 3.7.15 and docker-stack.traefik.yml
(tests/e2e/test_swarm.py on one node, test_swarm_multinode.py on three managers): these
labels route over TLS with the secret's certificate to every proxy task; docker login, push
and pull through Traefik on every node's port; a killed proxy task is left out and its
replacement used. That kernel has no IPVS, so the tests deploy with endpoint_mode dnsrr and
Traefik's port in host mode on every node (tests/e2e/swarm_support.py, derive_stack); the
default vip mode and the routing mesh are not proven there.

Changing settings. `docker stack deploy` again runs the job again: it re-renders the config
from the variables and keeps every key. Running services are not restarted; restart the ones
whose config changed, e.g. docker service update --force harbor_core. (--force leaves a mark
in the service spec: the next `docker stack deploy` restarts that service once more.)

Removing. Swarm keeps the jobs' exited containers, and they keep the volumes in use: after
`docker stack rm harbor`, remove them on each node before `docker volume rm`:
  for job in setupwrapper init-data; do
    docker rm $(docker ps -aq --filter label=com.docker.swarm.service.name=harbor_$job); done

Logs use Docker's json-file driver (docker service logs), bounded per task: HARBOR_LOG_MAX_SIZE
(20m) and HARBOR_LOG_MAX_FILE (5). Harbor's syslog container cannot
work here: Swarm cannot publish on 127.0.0.1 and the daemon cannot reach an overlay address.
Swarm ignores shm_size: postgresql gets a 1 GiB tmpfs at /dev/shm instead.
""",
    "compose/docker-stack.certs.yml": """\
Optional, with compose/docker-stack.yml: the proxy serves HTTPS itself with your certificate,
read from two Docker secrets, instead of TLS at Traefik.

  docker secret create harbor_https_certificate_1 tls.crt   # chain, server certificate first
  docker secret create harbor_https_private_key_1 tls.key   # unencrypted
  HARBOR_HTTPS_CERTIFICATE_SECRET=harbor_https_certificate_1 \\
  HARBOR_HTTPS_PRIVATE_KEY_SECRET=harbor_https_private_key_1 \\
    docker stack deploy -c compose/docker-stack.yml -c compose/docker-stack.certs.yml harbor

The proxy publishes its https port on HARBOR_HTTPS_PORT (443) of the node it runs on (host
mode: one proxy per node; point DNS or a TCP load balancer at those nodes) and its Traefik
labels are off. Docker secrets cannot change: renew by creating secrets with new names
(..._2), deploying again with them in HARBOR_HTTPS_CERTIFICATE_SECRET and
HARBOR_HTTPS_PRIVATE_KEY_SECRET (the job runs again, the proxies reload nginx within 10 s,
nothing else restarts), then `docker secret rm` the old ones. See README, Certificates.
""",
    "compose/docker-stack.traefik.yml": """\
Optional, with compose/docker-stack.yml: Traefik v3 as a service of the stack, for a swarm
that has no Traefik yet. It terminates TLS with your certificate, read from two Docker
secrets (the same two as docker-stack.certs.yml), and routes HARBOR_HOSTNAME to the proxy
by the proxy's labels (providers.swarm).

  docker secret create harbor_https_certificate_1 tls.crt   # chain, server certificate first
  docker secret create harbor_https_private_key_1 tls.key   # unencrypted
  HARBOR_HTTPS_CERTIFICATE_SECRET=harbor_https_certificate_1 \\
  HARBOR_HTTPS_PRIVATE_KEY_SECRET=harbor_https_private_key_1 \\
    docker stack deploy -c compose/docker-stack.yml -c compose/docker-stack.traefik.yml harbor

Traefik runs on a manager (the swarm provider reads services and tasks from the Docker API:
the manager's socket, read-only) and publishes HARBOR_TRAEFIK_HTTPS_PORT (443); through
Swarm's routing mesh every node answers on that port. It balances over the proxy's task
addresses itself (traefik.swarm.lbswarm stays false), so it works with either endpoint mode,
reaches only tasks Swarm reports running (healthy) and follows replaced tasks within the
provider's poll interval (5 s here, Traefik's default is 15 s: a dead proxy task gets
requests until the next poll). One replica: Traefik keeps its state (certificates it
obtains) per instance. The entry point has no read/write timeout (pushes of big layers)
and an idle timeout of 600 s. Renew the certificate as with docker-stack.certs.yml: new
secret names, deploy again (Traefik restarts with them). Variables of this file:
  HARBOR_TRAEFIK_IMAGE (traefik:v3.7), HARBOR_TRAEFIK_HTTPS_PORT (443),
  HARBOR_HTTPS_CERTIFICATE_SECRET, HARBOR_HTTPS_PRIVATE_KEY_SECRET (required),
  and, shared with docker-stack.yml, HARBOR_NETWORK_NAME and HARBOR_TRAEFIK_ENTRYPOINT.
""",
    "compose/docker-stack.traefik-acme.yml": """\
Optional, with compose/docker-stack.yml, in place of docker-stack.traefik.yml: Traefik v3 as
a service of the stack that obtains and renews Harbor's certificate from an ACME server
(Let's Encrypt by default) with a certificate resolver made from the HARBOR_ACME_* variables.

  HARBOR_ACME_EMAIL=admin@example.com \\
    docker stack deploy -c compose/docker-stack.yml -c compose/docker-stack.traefik-acme.yml harbor

Variables of this file:
  HARBOR_ACME_EMAIL (required)    the ACME account's contact address
  HARBOR_ACME_DIRECTORY           the ACME server's directory URL
                                  (https://acme-v02.api.letsencrypt.org/directory)
  HARBOR_ACME_CA_FILE             a private ACME server's CA (PEM): a file on every manager
                                  node; Traefik then trusts it besides the system's CAs
  HARBOR_TRAEFIK_IMAGE (traefik:v3.7), HARBOR_TRAEFIK_HTTPS_PORT (443), and, shared with
  docker-stack.yml, HARBOR_NETWORK_NAME, HARBOR_TRAEFIK_ENTRYPOINT and HARBOR_NFS_*.
The challenge is TLS-ALPN-01: the ACME server connects to HARBOR_HOSTNAME on port 443, which
must reach Traefik (HARBOR_TRAEFIK_HTTPS_PORT 443 through the routing mesh, or a forward);
port 80 is not needed. Traefik asks for a certificate for HARBOR_HOSTNAME (the router's Host
rule) when the router first appears, serves its own self-signed one until then, and renews it
by itself (Traefik's certificatesDuration, default 90 days: 30 days before the end, checked
daily); nothing restarts. The account key and the certificates are kept in the traefik-acme
volume ($HARBOR_NFS_PATH/traefik-acme, like the other volumes: create the folder), so a
Traefik task moved to another manager keeps them.
One replica only: Traefik keeps ACME state per instance, and a second one would ask for its
own certificate and answer challenges meant for the first. Everything else (swarm provider,
timeouts, lbswarm) as in docker-stack.traefik.yml.
""",
    "rancher-catalog/templates/harbor-setupwrapper/0/docker-compose.yml.tpl": """\
Harbor v2.15.2 on one Rancher 1.6 (Cattle) host. The setupwrapper container is the primary
service and runs once (start_once): it writes every config file, key and certificate into
its volumes. Every Harbor container is its sidekick, shares those volumes with volumes_from
and starts through a shim from /harbor-setup/entrypoints once the wrapper has written it.
""",
    "rancher-catalog/templates/harbor-setupwrapper-distributed/0/docker-compose.yml.tpl": """\
Harbor v2.15.2 on several Rancher 1.6 (Cattle) hosts, published by the community Traefik
catalog item (rancher_integration: external) and keeping every volume on shared storage
(rancher-nfs by default). The setupwrapper service runs once (start_once) and writes every
config file, key and certificate into the harbor-setup volume and links in the fixed-path
volumes; each Harbor service mounts the volumes it reads and starts through its shim from
/harbor-setup/entrypoints once the wrapper has written it.
""",
}

# rancher-compose.yml catalog: part, per item (Rancher asks these questions; the answers are
# the ${name} variables of the item's docker-compose.yml.tpl)

# Questions both Rancher items ask alike (fresh copies in each, so the YAML writer
# sees no shared objects)
_ACCOUNT_QUESTIONS = [
    {
        'variable': 'harbor_admin_password',
        'label': 'Admin password',
        'description': "Initial password of Harbor's admin user, used at the first start only.",
        'type': 'password',
        'required': True,
    },
    {
        'variable': 'harbor_database_password',
        'label': 'Database password',
        'description': 'Password of the internal PostgreSQL. Empty makes a random one, once.',
        'type': 'password',
        'required': False,
    },
    {
        'variable': 'harbor_database_upgrade_snapshot',
        'label': 'Database snapshot before upgrade',
        'description': ("Before Harbor's database image upgrades PostgreSQL 15 to 18 (the first start of\n"
         "v2.15.2 on an older Harbor's data), init-data copies the old database beside it, so\n"
         'that the upgrade can be undone. It costs room on the database volume: the copy is as\n'
         'large as the database and stays until you delete it; without room for the copy and\n'
         'the upgrade, PostgreSQL waits and does not upgrade (init-data and postgresql log the\n'
         'figures and what to do). false: no copy; back up first.\n'),
        'type': 'boolean',
        'default': True,
        'required': True,
    },
    {
        'variable': 'harbor_with_trivy',
        'label': 'Trivy scanner',
        'description': 'Also run the Trivy vulnerability scanner.',
        'type': 'boolean',
        'default': False,
        'required': True,
    },
    {
        'variable': 'harbor_log_level',
        'label': 'Log level',
        'type': 'enum',
        'options': ['debug', 'info', 'warning', 'error', 'fatal'],
        'default': 'info',
        'required': True,
    },
]
_IMAGE_QUESTIONS = [
    {
        'variable': 'harbor_image_prefix',
        'label': 'Image prefix',
        'description': "Registry and namespace of Harbor's images (a mirror, in an air gap).",
        'type': 'string',
        'default': 'goharbor',
        'required': True,
    },
    {
        'variable': 'harbor_image_tag',
        'label': 'Image tag',
        'description': ("Tag of Harbor's images; the wrapper is made for v2.15.2. It records the tag\n"
         'that ran on the data and refuses a downgrade.\n'),
        'type': 'string',
        'default': 'v2.15.2',
        'required': True,
    },
    {
        'variable': 'harbor_wrapper_image',
        'label': 'Wrapper image',
        'description': 'The harbor-setupwrapper image.',
        'type': 'string',
        'default': 'harbor-setupwrapper:0.1.0',
        'required': True,
    },
]


RANCHER_CATALOG = {
    "rancher": {
        'name': 'Harbor (setupwrapper, single host)',
        'version': 'v2.15.2-setupwrapper0.1.0',
        'description': ('Harbor v2.15.2 container registry on one host. A one-shot harbor-setupwrapper\n'
         'container writes every config file, key and certificate from these answers; the\n'
         'Harbor containers are its sidekicks and share its volumes.\n'),
        'minimum_rancher_version': 'v1.6.0',
        'uuid': 'harbor-setupwrapper-0',
        'questions': [
            {
                'variable': 'harbor_hostname',
                'label': 'Host name',
                'description': ('Host name or IP address clients use to reach Harbor, exactly as in\n'
                 '`docker login <name>`.\n'),
                'type': 'string',
                'required': True,
            },
            {
                'variable': 'harbor_protocol',
                'label': 'Protocol',
                'description': ('https (default; without a certificate of your own the wrapper makes a CA and a\n'
                 'server certificate) or plain http.\n'),
                'type': 'enum',
                'options': ['https', 'http'],
                'default': 'https',
                'required': True,
            },
            {
                'variable': 'harbor_http_port',
                'label': 'HTTP port',
                'description': 'Host port published for http.',
                'type': 'int',
                'default': 80,
                'required': True,
            },
            {
                'variable': 'harbor_https_port',
                'label': 'HTTPS port',
                'description': 'Host port published for https.',
                'type': 'int',
                'default': 443,
                'required': True,
            },
            {
                'variable': 'harbor_external_url',
                'label': 'External URL',
                'description': ('Only when an outer proxy sits in front of Harbor: the URL clients use, e.g.\n'
                 'https://registry.example.com. Leave empty otherwise.\n'),
                'type': 'string',
                'required': False,
            },
            *[dict(q) for q in _ACCOUNT_QUESTIONS],
            {
                'variable': 'harbor_host_label',
                'label': 'Host label',
                'description': ('Label (key=value) of the one host that runs Harbor; its volumes live there.\n'),
                'type': 'string',
                'default': 'harbor-host=true',
                'required': True,
            },
            *[dict(q) for q in _IMAGE_QUESTIONS],
        ],
    },
    "rancher-distributed": {
        'name': 'Harbor (setupwrapper, distributed)',
        'version': 'v2.15.2-setupwrapper0.1.0',
        'description': ('Harbor v2.15.2 container registry over several hosts, behind the Traefik catalog\n'
         'item, with its volumes on shared storage (rancher-nfs). A one-shot\n'
         'harbor-setupwrapper service writes every config file, key and certificate from\n'
         'these answers.\n'),
        'minimum_rancher_version': 'v1.6.0',
        'uuid': 'harbor-setupwrapper-distributed-0',
        'questions': [
            {
                'variable': 'harbor_hostname',
                'label': 'Host name',
                'description': ('Fully qualified name clients use, exactly as in `docker login <name>`. Traefik\n'
                 'routes it (traefik.alias.fqdn); point its DNS record at the Traefik hosts.\n'),
                'type': 'string',
                'required': True,
            },
            {
                'variable': 'traefik_domain',
                'label': 'Traefik domain',
                'description': ("Domain for Traefik's traefik.domain label, e.g. example.com. Traefik also\n"
                 'publishes proxy.<stack>.<domain>.\n'),
                'type': 'string',
                'required': True,
            },
            {
                'variable': 'harbor_external_url',
                'label': 'External URL',
                'description': ('URL clients use through Traefik: https://<host name>, plus :<port> when\n'
                 "Traefik's https port is not 443 (the catalog item defaults to 8443).\n"),
                'type': 'string',
                'required': True,
            },
            *[dict(q) for q in _ACCOUNT_QUESTIONS],
            {
                'variable': 'harbor_volume_driver',
                'label': 'Volume driver',
                'description': ('Driver of every volume. It must reach the same data from every host\n'
                 '(rancher-nfs or rancher-efs); local suits a one-host trial only.\n'),
                'type': 'enum',
                'options': ['rancher-nfs', 'rancher-efs', 'local'],
                'default': 'rancher-nfs',
                'required': True,
            },
            {
                'variable': 'harbor_scale',
                'label': 'Scale',
                'description': ('Containers of each stateless service (proxy, portal, core, registry,\n'
                 'registryctl, jobservice). They all read the same keys.\n'),
                'type': 'int',
                'default': 1,
                'required': True,
            },
            {
                'variable': 'harbor_host_label',
                'label': 'Host label',
                'description': 'Optional label (key=value) of the hosts that may run Harbor.',
                'type': 'string',
                'required': False,
            },
            {
                'variable': 'harbor_data_host_label',
                'label': 'Data host label',
                'description': 'Optional label (key=value) of the host that runs PostgreSQL and Redis.',
                'type': 'string',
                'required': False,
            },
            *[dict(q) for q in _IMAGE_QUESTIONS],
        ],
    },
}
