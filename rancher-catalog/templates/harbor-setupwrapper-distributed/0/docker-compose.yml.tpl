# Harbor v2.15.2 on several Rancher 1.6 (Cattle) hosts, published by the community Traefik
# catalog item (rancher_integration: external) and keeping every volume on shared storage
# (rancher-nfs by default). The setupwrapper service runs once (start_once) and writes every
# config file, key and certificate into the harbor-setup volume and links in the fixed-path
# volumes; each Harbor service mounts the volumes it reads and starts through its shim from
# /harbor-setup/entrypoints once the wrapper has written it.
# Generated from wrapper/deployment/description.py by `python -m wrapper.deployment`: edit there.

version: "2"

services:
  setupwrapper:
    image: ${harbor_wrapper_image}
    command: [generate, --link-fixed-paths]
    labels:
      io.rancher.container.start_once: "true"
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
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
      - HARBOR_PROTOCOL=http
      - HARBOR_EXTERNAL_URL=${harbor_external_url}
      - HARBOR_WITH_TRIVY=${harbor_with_trivy}
      - HARBOR_LOG_LEVEL=${harbor_log_level}
      - HARBOR_IMAGE_TAG=${harbor_image_tag}
      {{- if .Values.harbor_admin_password }}
      - HARBOR_ADMIN_PASSWORD=${harbor_admin_password}
      {{- end }}
      {{- if .Values.harbor_database_password }}
      - HARBOR_DATABASE_PASSWORD=${harbor_database_password}
      {{- end }}

  # Gives each data volume to the user its image runs as (uid 10000; 999 for PostgreSQL and
  # Valkey) with upstream's mode, then exits; each service's shim waits until its data folder
  # is writable. Only the top folders are checked: fast on a large registry.
  # It runs once, on a host that reaches the shared storage.
  init-data:
    image: ${harbor_wrapper_image}
    command: [init-data]
    labels:
      io.rancher.container.start_once: "true"
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
    cap_drop: [ALL]
    cap_add: [CHOWN, DAC_OVERRIDE, FOWNER]
    # the snapshot before a PostgreSQL upgrade (README: Day 2)
    environment:
      - HARBOR_DATABASE_UPGRADE_SNAPSHOT=${harbor_database_upgrade_snapshot}
      - HARBOR_IMAGE_TAG=${harbor_image_tag}
    volumes:
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
  # One container, with the wrapper's volumes on the shared storage.
  renew:
    image: ${harbor_wrapper_image}
    command: [renew, --link-fixed-paths]
    labels:
      harbor-setupwrapper.service: renew
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
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
      - HARBOR_PROTOCOL=http
      - HARBOR_EXTERNAL_URL=${harbor_external_url}
      - HARBOR_WITH_TRIVY=${harbor_with_trivy}
      - HARBOR_LOG_LEVEL=${harbor_log_level}
      - HARBOR_IMAGE_TAG=${harbor_image_tag}
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
        [ $$((n % 10)) -ne 0 ] || echo "$$0: waiting for $$s, which the harbor-setupwrapper service writes" >&2;
        n=$$((n + 1)); sleep 1;
        done;
        exec "$$s"
      - registry
    labels:
      harbor-setupwrapper.service: registry
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID]
    volumes:
      - harbor-setup:/harbor-setup:ro
      - etc-registry:/etc/registry
      - cust-cert:/harbor_cust_cert
      - registry:/storage:nocopy

  registryctl:
    image: ${harbor_image_prefix}/harbor-registryctl:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, registryctl]
    labels:
      harbor-setupwrapper.service: registryctl
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID]
    volumes:
      - harbor-setup:/harbor-setup:ro
      - etc-registry:/etc/registry
      - etc-registryctl:/etc/registryctl
      - cust-cert:/harbor_cust_cert
      - harbor-ssl:/etc/harbor/ssl
      - registry:/storage:nocopy

  postgresql:
    image: ${harbor_image_prefix}/harbor-db:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, postgresql]
    labels:
      harbor-setupwrapper.service: postgresql
      {{- if .Values.harbor_data_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_data_host_label}
      {{- end }}
    cap_drop: [ALL]
    cap_add: [CHOWN, DAC_OVERRIDE, SETGID, SETUID]
    shm_size: 1073741824
    # a PostgreSQL upgrade waits for init-data's snapshot (README: Day 2); false: for its decision to go without one
    environment:
      - HARBOR_DATABASE_UPGRADE_SNAPSHOT=${harbor_database_upgrade_snapshot}
    volumes:
      - harbor-setup:/harbor-setup:ro
      - database:/var/lib/postgresql/data:nocopy

  redis:
    image: ${harbor_image_prefix}/valkey-photon:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, redis]
    labels:
      harbor-setupwrapper.service: redis
      {{- if .Values.harbor_data_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_data_host_label}
      {{- end }}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID]
    volumes:
      - harbor-setup:/harbor-setup:ro
      - redis:/var/lib/redis:nocopy

  core:
    image: ${harbor_image_prefix}/harbor-core:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, core]
    labels:
      harbor-setupwrapper.service: core
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
    cap_drop: [ALL]
    cap_add: [SETGID, SETUID]
    volumes:
      - harbor-setup:/harbor-setup:ro
      - ca-download:/etc/core/ca
      - cust-cert:/harbor_cust_cert
      # core reports the storage capacity of IMAGE_STORE_PATH (default /data), as upstream
      - registry:/data:ro,nocopy

  portal:
    image: ${harbor_image_prefix}/harbor-portal:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, portal]
    labels:
      harbor-setupwrapper.service: portal
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID, NET_BIND_SERVICE]
    volumes:
      - harbor-setup:/harbor-setup:ro

  jobservice:
    image: ${harbor_image_prefix}/harbor-jobservice:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, jobservice]
    labels:
      harbor-setupwrapper.service: jobservice
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID]
    volumes:
      - harbor-setup:/harbor-setup:ro
      - etc-jobservice:/etc/jobservice
      - cust-cert:/harbor_cust_cert
      - harbor-ssl:/etc/harbor/ssl
      - job-logs:/var/log/jobs:nocopy

  proxy:
    image: ${harbor_image_prefix}/nginx-photon:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, proxy]
    labels:
      harbor-setupwrapper.service: proxy
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
      # rawmind0 rancher-traefik labels (Traefik catalog item, rancher_integration: external);
      # Traefik publishes the proxy only while its health check passes (rancher-compose.yml)
      traefik.enable: "true"
      traefik.port: "8080"
      traefik.protocol: http
      traefik.domain: ${traefik_domain}
      traefik.alias.fqdn: ${harbor_hostname}
      traefik.frontend.passHostHeader: "true"
    cap_drop: [ALL]
    cap_add: [CHOWN, SETGID, SETUID, NET_BIND_SERVICE]
    volumes:
      - harbor-setup:/harbor-setup:ro
      - cust-cert:/harbor_cust_cert

  {{- if eq .Values.harbor_with_trivy "true" }}
  trivy-adapter:
    image: ${harbor_image_prefix}/trivy-adapter-photon:${harbor_image_tag}
    entrypoint: [/bin/sh, -c, *wait-for-shim, trivy-adapter]
    labels:
      harbor-setupwrapper.service: trivy-adapter
      {{- if .Values.harbor_host_label }}
      io.rancher.scheduler.affinity:host_label: ${harbor_host_label}
      {{- end }}
    cap_drop: [ALL]
    volumes:
      - harbor-setup:/harbor-setup:ro
      - cust-cert:/harbor_cust_cert
      - trivy-cache:/home/scanner/.cache/trivy:nocopy
      - trivy-reports:/home/scanner/.cache/reports:nocopy
  {{- end }}

# Stack-scoped volumes, one sub-folder each on the storage driver's share.
volumes:
  harbor-setup: {driver: "${harbor_volume_driver}"}
  etc-registry: {driver: "${harbor_volume_driver}"}
  etc-registryctl: {driver: "${harbor_volume_driver}"}
  etc-jobservice: {driver: "${harbor_volume_driver}"}
  ca-download: {driver: "${harbor_volume_driver}"}
  cust-cert: {driver: "${harbor_volume_driver}"}
  harbor-ssl: {driver: "${harbor_volume_driver}"}
  registry: {driver: "${harbor_volume_driver}"}
  job-logs: {driver: "${harbor_volume_driver}"}
  database: {driver: "${harbor_volume_driver}"}
  redis: {driver: "${harbor_volume_driver}"}
  {{- if eq .Values.harbor_with_trivy "true" }}
  trivy-cache:
    driver: ${harbor_volume_driver}
  trivy-reports:
    driver: ${harbor_volume_driver}
  {{- end }}
