"""One module per Harbor component: settings and keys in, files out. No I/O here."""

from __future__ import annotations

from . import core, db, exporter, jobservice, log, nginx, portal, registry, registryctl, shared, trivy

COMPONENTS = (portal, log, nginx, core, registry, registryctl, db, jobservice, shared, trivy,
              exporter)


def render_all(s, keys, paths) -> list:
    files = []
    for component in COMPONENTS:
        files.extend(component.files(s, keys, paths))
    return files
