"""Static links at the paths Harbor's images read and that no variable can move.

The registry, registryctl and jobservice entrypoints pass a fixed config path, core serves
the CA download from /etc/core/ca/ca.crt, install_cert.sh reads /harbor_cust_cert, and with
internal TLS the jobservice and registryctl images' own health checks present
/etc/harbor/ssl/{job_service,registryctl}.{crt,key} (links to absent files while it is off).
The compose file gives the wrapper container a volume at each of these folders (every
Harbor container gets them through volumes_from); the wrapper puts one symlink per file
into them, pointing through DIR/current, so they follow every new generation atomically.
"""

from __future__ import annotations

import os

TRUST_BUNDLE = "config/shared/trust-bundle.crt"  # components.shared.TRUST_BUNDLE (a test
# keeps them equal): not imported, the fast path of a rerun links these without rendering

# folder -> {file name: path relative to DIR}
LINKS = {
    "/etc/registry": {"config.yml": "config/registry/config.yml",
                      "passwd": "config/registry/passwd",
                      "root.crt": "secret/registry/root.crt"},
    "/etc/registryctl": {"config.yml": "config/registryctl/config.yml"},
    "/etc/jobservice": {"config.yml": "config/jobservice/config.yml"},
    "/etc/core/ca": {"ca.crt": "secret/cert/ca.crt"},
    "/harbor_cust_cert": {"harbor-setupwrapper-trust.crt": TRUST_BUNDLE},
    "/etc/harbor/ssl": {f"{stem}.{ext}": f"secret/tls/{stem}.{ext}"
                        for stem in ("job_service", "registryctl") for ext in ("crt", "key")},
}


def link(out: str, root: str = "/") -> list[str]:
    """Create the links in the folders that exist under root; returns the folders done."""
    done = []
    for folder, names in LINKS.items():
        where = os.path.join(root, folder.lstrip("/"))
        if not os.path.isdir(where):
            continue
        for name, target in names.items():
            path, wanted = os.path.join(where, name), os.path.join(out, target)
            try:
                if os.readlink(path) == wanted:
                    continue
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError:  # a regular file left there: replace it
                os.unlink(path)
            os.symlink(wanted, path)
        done.append(folder)
    return done
