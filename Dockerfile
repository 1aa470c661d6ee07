# harbor-setupwrapper: generates Harbor's configuration, keys and certificates into a volume.
# The base is a build argument: any image with Python >= 3.11 and the venv module.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# extra-ca.crt is optional: a CA bundle for a TLS-intercepting proxy in front of PyPI.
COPY pyproject.toml README.md extra-ca.cr[t] /src/
COPY wrapper /src/wrapper
COPY entrypoints /src/entrypoints
RUN set -e; \
    if [ -f /src/extra-ca.crt ]; then export PIP_CERT=/src/extra-ca.crt; fi; \
    python3 -m venv /opt/harbor-setupwrapper; \
    /opt/harbor-setupwrapper/bin/pip install --no-cache-dir --disable-pip-version-check /src; \
    /opt/harbor-setupwrapper/bin/pip uninstall --yes --quiet pip setuptools 2>/dev/null || true; \
    find /opt/harbor-setupwrapper -name '*.dist-info' -prune -o -name tests -type d -prune \
        -exec rm -rf {} +; \
    /opt/harbor-setupwrapper/bin/python -m compileall -q /opt/harbor-setupwrapper/lib

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="harbor-setupwrapper" \
      org.opencontainers.image.description="Generates Harbor v2.15.2's configuration, keys and certificates once, from HARBOR_* variables" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/harbor-setupwrapper/harbor-setupwrapper" \
      org.opencontainers.image.documentation="https://github.com/harbor-setupwrapper/harbor-setupwrapper#readme" \
      io.goharbor.version="v2.15.2"
COPY --from=build /opt/harbor-setupwrapper /opt/harbor-setupwrapper
# The fixed folders Harbor's images read; compose mounts volumes here (see wrapper/fixed_paths.py).
RUN mkdir -p /harbor-setup /etc/registry /etc/registryctl /etc/jobservice /etc/core/ca \
             /harbor_cust_cert /etc/harbor/ssl
ENV PATH=/opt/harbor-setupwrapper/bin:$PATH \
    HARBOR_SETUP_DIR=/harbor-setup \
    PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["harbor-setupwrapper"]
CMD ["generate", "--link-fixed-paths"]
