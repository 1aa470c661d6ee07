# Harbor v2.15.2 on one Rancher 1.6 (Cattle) host. The setupwrapper container is the primary
# service and runs once (start_once): it writes every config file, key and certificate into
# its volumes. Every Harbor container is its sidekick, shares those volumes with volumes_from
# and starts through a shim from /harbor-setup/entrypoints once the wrapper has written it.
# Generated from wrapper/deployment/description.py by `python -m wrapper.deployment`: edit there.

version: "2"

services:
  setupwrapper:
    image: ${harbor_wrapper_image}
    command: [generate, --link-fixed-paths]
    labels:
      io.rancher.sidekicks: init-data,renew,registry,registryctl,postgresql,redis,core,portal,jobservice,proxy
        {{- if eq .Values.harbor_with_trivy "true" -}} ,trivy-adapter {{- end }}
      io.rancher.container.start_once: "true"
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
    volumes:
      - harbor-setup:/harbor-setup
      # the fixed folders Harbor's images read; the wrapper links their files into harbor-setup
      - etc-registry:/etc/registry
      - etc-registryctl:/etc/registryctl
      - etc-jobservice:/etc/jobservice
      - ca-download:/etc/core/ca
      - cust-cert:/harbor_cust_cert
      - harbor-ssl:/etc/harbor/ssl
    environment:
      - HARBOR_HOSTNAME=${harbor_hostname}
      - HARBOR_PROTOCOL=${harbor_protocol}
      - HARBOR_HTTP_PORT=${harbor_http_port}
      - HARBOR_HTTPS_PORT=${harbor_https_port}
      - HARBOR_WITH_TRIVY=${harbor_with_trivy}
      - HARBOR_LOG_LEVEL=${harbor_log_level}
      - HARBOR_IMAGE_TAG=${harbor_image_tag}
      {{- if .Values.harbor_external_url }}
      - HARBOR_EXTERNAL_URL=${harbor_external_url}
      {{- end }}
      {{- if .Values.harbor_admin_password }}
      - HARBOR_ADMIN_PASSWORD=${harbor_admin_password}
      {{- end }}
      {{- if .Values.harbor_database_password }}
      - HARBOR_DATABASE_PASSWORD=${harbor_database_password}
      {{- end }}

  # Gives each data volume to the user its image runs as (uid 10000; 999 for PostgreSQL and
  # Valkey) with upstream's mode, then exits; each service's shim waits until its data folder
  # is writable. Only the top folders are checked: fast on a large registry.
  # A sidekick without volumes_from: no other container gets the data volumes through it.
  init-data:
    image: ${harbor_wrapper_image}
    command: [init-data]
    labels:
      io.rancher.container.start_once: "true"
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
    cap_drop: [ALL]
    cap_add: [CHOWN, DAC_OVERRIDE, FOWNER]
    # the snapshot before a PostgreSQL upgrade (README: Day 2)
    environment:
      - HARBOR_DATABASE_UPGRADE_SNAPSHOT=${harbor_database_upgrade_snapshot}
      - HARBOR_IMAGE_TAG=${harbor_image_tag}
    volumes:
      # the wrapper's volume: the snapshot is recorded in its store (status shows it)
      - harbor-setup:/harbor-setup
      - registry:/data/registry:nocopy
      - job-logs:/data/job_logs:nocopy
      - database:/data/database:nocopy
      - redis:/data/redis:nocopy
      {{- if eq .Values.harbor_with_trivy "true" }}
      - trivy-cache:/data/trivy-adapter/trivy:nocopy
      - trivy-reports:/data/trivy-adapter/reports:nocopy
      {{- end }}

  # Keeps running: every HARBOR_RENEW_INTERVAL seconds it re-issues the certificates the wrapper
  # made that expire within HARBOR_CERT_WARNING_DAYS and, with HARBOR_ACME_*, obtains and renews
  # the ACME certificate; each change is a new generation, which the proxy reloads by itself.
  # Nothing is restarted. It runs `generate` as setupwrapper does: same volumes and variables.
  # A sidekick: on the wrapper's host, with the wrapper's named volumes.
  renew:
    image: ${harbor_wrapper_image}
    command: [renew, --link-fixed-paths]
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [CHOWN, DAC_OVERRIDE, FOWNER]
    volumes:
      - harbor-setup:/harbor-setup
      # the fixed folders Harbor's images read; the wrapper links their files into harbor-setup
      - etc-registry:/etc/registry
      - etc-registryctl:/etc/registryctl
      - etc-jobservice:/etc/jobservice
      - ca-download:/etc/core/ca
      - cust-cert:/harbor_cust_cert
      - harbor-ssl:/etc/harbor/ssl
    environment:
      - HARBOR_HOSTNAME=${harbor_hostname}
      - HARBOR_PROTOCOL=${harbor_protocol}
      - HARBOR_HTTP_PORT=${harbor_http_port}
      - HARBOR_HTTPS_PORT=${harbor_https_port}
      - HARBOR_WITH_TRIVY=${harbor_with_trivy}
      - HARBOR_LOG_LEVEL=${harbor_log_level}
      - HARBOR_IMAGE_TAG=${harbor_image_tag}
      {{- if .Values.harbor_external_url }}
      - HARBOR_EXTERNAL_URL=${harbor_external_url}
      {{- end }}
      {{- if .Values.harbor_admin_password }}
      - HARBOR_ADMIN_PASSWORD=${harbor_admin_password}
      {{- end }}
      {{- if .Values.harbor_database_password }}
      - HARBOR_DATABASE_PASSWORD=${harbor_database_password}
      {{- end }}

  registry:
    image: ${harbor_image_prefix}/registry-photon:${harbor_image_tag}
    # wait until the wrapper has written this service's shim (named by the last item), then run it
    entrypoint:
      - /bin/sh
      - -c
      - &wait-for-shim >-
        s=/harbor-setup/entrypoints/$$0.sh; n=0;
        until [ -f "$$s" ]; do
        [ $$((n % 10)) -ne 0 ] || echo "$$0: waiting for $$s, which the harbor-setupwrapper container writes" >&2;
        n=$$((n + 1)); sleep 1;
        done;
        exec "$$s"
      - registry
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID]
    volumes_from: [setupwrapper]
    volumes:
      - registry:/storage:nocopy
    # bare service names (core, redis, ...) inside the sidekick group
    dns_search: [setupwrapper]

  registryctl:
    image: ${harbor_image_prefix}/harbor-registryctl:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, registryctl]
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID]
    volumes_from: [setupwrapper]
    volumes:
      - registry:/storage:nocopy
    dns_search: [setupwrapper]

  postgresql:
    image: ${harbor_image_prefix}/harbor-db:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, postgresql]
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [CHOWN, DAC_OVERRIDE, SETGID, SETUID]
    shm_size: 1073741824
    # a PostgreSQL upgrade waits for init-data's snapshot (README: Day 2); false: for its decision to go without one
    environment:
      - HARBOR_DATABASE_UPGRADE_SNAPSHOT=${harbor_database_upgrade_snapshot}
    volumes_from: [setupwrapper]
    volumes:
      - database:/var/lib/postgresql/data:nocopy
    dns_search: [setupwrapper]

  redis:
    image: ${harbor_image_prefix}/valkey-photon:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, redis]
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID]
    volumes_from: [setupwrapper]
    volumes:
      - redis:/var/lib/redis:nocopy
    dns_search: [setupwrapper]

  core:
    image: ${harbor_image_prefix}/harbor-core:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, core]
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [SETGID, SETUID]
    volumes_from: [setupwrapper]
    volumes:
      # core reports the storage capacity of IMAGE_STORE_PATH (default /data), as upstream
      - registry:/data:ro,nocopy
    dns_search: [setupwrapper]

  portal:
    image: ${harbor_image_prefix}/harbor-portal:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, portal]
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID, NET_BIND_SERVICE]
    volumes_from: [setupwrapper]
    dns_search: [setupwrapper]

  jobservice:
    image: ${harbor_image_prefix}/harbor-jobservice:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, jobservice]
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID]
    volumes_from: [setupwrapper]
    volumes:
      - job-logs:/var/log/jobs:nocopy
    dns_search: [setupwrapper]

  proxy:
    image: ${harbor_image_prefix}/nginx-photon:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, proxy]
    labels: {io.rancher.scheduler.affinity:host_label: "${harbor_host_label}"}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID, NET_BIND_SERVICE]
    volumes_from: [setupwrapper]
    ports:
      - ${harbor_http_port}:8080
      {{- if eq .Values.harbor_protocol "https" }}
      - ${harbor_https_port}:8443
      {{- end }}
    dns_search: [setupwrapper]

  {{- if eq .Values.harbor_with_trivy "true" }}
  trivy-adapter:
    image: ${harbor_image_prefix}/trivy-adapter-photon:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, trivy-adapter]
    labels:
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
    cap_drop: [ALL]
    volumes_from: [setupwrapper]
    volumes:
      - trivy-cache:/home/scanner/.cache/trivy:nocopy
      - trivy-reports:/home/scanner/.cache/reports:nocopy
    dns_search: [setupwrapper]
  {{- end }}

# Stack-scoped volumes on the one host: removing the stack removes them and Harbor's data.
volumes:
  harbor-setup: {driver: local}
  etc-registry: {driver: local}
  etc-registryctl: {driver: local}
  etc-jobservice: {driver: local}
  ca-download: {driver: local}
  cust-cert: {driver: local}
  harbor-ssl: {driver: local}
  registry: {driver: local}
  job-logs: {driver: local}
  database: {driver: local}
  redis: {driver: local}
  {{- if eq .Values.harbor_with_trivy "true" }}
  trivy-cache:
    driver: local
  trivy-reports:
    driver: local
  {{- end }}
