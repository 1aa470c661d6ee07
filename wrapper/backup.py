"""Restore, first step: a backup's key store and registry data into an empty deployment.

The backup itself is written by entrypoints/backup.sh in the harbor-db image (pg_dump is the
database's own tool); the database goes back with entrypoints/restore-database.sh once the
wrapper has generated from the restored store. Both run as compose/docker-compose.backup.yml
says.
"""

from __future__ import annotations

import os
import shutil

from .context import HARBOR_UID
from .datadir import LAYOUT_ITEM, Refused

STORE = ".store"


def _is_empty(folder: str) -> bool:
    try:
        return not [e for e in os.listdir(folder) if e != "lost+found"]
    except FileNotFoundError:
        return True


def restore_keys(backup: str, out: str, storage: str | None, chown: bool) -> list[str]:
    """Copy BACKUP/store to OUT/.store and BACKUP/registry into STORAGE. Refuses (and
    changes nothing) unless both are empty: a restore never mixes two deployments."""
    source = os.path.join(backup, "store")
    target = os.path.join(out, STORE)
    refusals = []
    if not os.path.isfile(os.path.join(source, "secretkey")):
        refusals.append(f"{backup} is not a backup of harbor-setupwrapper: {source}/secretkey "
                        "is missing")
    if not _is_empty(target):
        refusals.append(
            f"{target} already holds keys: a restore goes into an empty deployment, or its keys "
            "would not match the database. Remove the deployment first (named volumes: docker "
            "compose down -v; a host folder: an empty HARBOR_DATA_VOLUME).")
    registry = os.path.join(backup, "registry")
    if storage and os.path.isdir(registry) and not _is_empty(storage):
        refusals.append(f"{storage} already holds registry data: restore into an empty one.")
    if refusals:
        raise Refused(refusals)

    done = []
    os.makedirs(out, exist_ok=True)
    temp = f"{target}.restoring-{os.getpid()}"
    shutil.copytree(source, temp, symlinks=True)
    # the database comes back through pg_restore into a new cluster, not as the folder the
    # record names: the guard would refuse the empty database folder it finds first
    layout = os.path.join(temp, LAYOUT_ITEM)
    if os.path.lexists(layout):
        os.unlink(layout)
    os.chmod(temp, 0o700)
    if os.path.isdir(target):
        os.rmdir(target)  # empty, checked above
    os.rename(temp, target)
    done.append(f"key store -> {target}")
    if storage and os.path.isdir(registry):
        shutil.copytree(registry, storage, symlinks=True, dirs_exist_ok=True)
        if chown:
            for root, dirs, files in os.walk(storage):
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), HARBOR_UID, HARBOR_UID)
            os.chown(storage, HARBOR_UID, HARBOR_UID)
        done.append(f"registry data -> {storage}")
    return done
