"""init-data: the data folders Harbor's images write, owned as upstream's installer leaves them.

The registry, jobservice and trivy-adapter images run as uid 10000, PostgreSQL and Valkey as
999, and none of them creates or chowns its data folder: a new volume, NFS folder or host
folder is root:root 0755 and the service cannot write. Upstream's `prepare`
(make/photon/prepare/utils/*.py, prepare_dir) creates each folder under /data with the owner and
mode below; the deployment files mount every data volume at /data/<name> of a one-shot
container that runs `harbor-setupwrapper init-data` (or bind-mount a host folder at /data).

Fast on a large registry: only the top folder is looked at. When its owner is already right
nothing below it is touched. When it is wrong (a new volume, or data restored as another user),
everything below is handed over first and the top last, so a run that was cut short is
redone by the next one. The mode is set on the top folder only, as upstream does.
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass
from typing import Iterator

from . import db_snapshot
from .context import HARBOR_UID

POSTGRES_UID = 999  # harbor-db's postgres user
VALKEY_UID = 999    # valkey-photon's valkey user


@dataclass(frozen=True)
class DataDir:
    name: str    # under /data, upstream's name
    uid: int
    gid: int
    mode: int
    images: str  # who writes it, for messages


DATA_DIRS = (
    DataDir("registry", HARBOR_UID, HARBOR_UID, 0o755, "registry and registryctl"),
    DataDir("job_logs", HARBOR_UID, HARBOR_UID, 0o755, "jobservice"),
    DataDir("database", POSTGRES_UID, POSTGRES_UID, 0o700, "harbor-db (PostgreSQL)"),
    DataDir("redis", VALKEY_UID, VALKEY_UID, 0o755, "valkey-photon"),
    DataDir("trivy-adapter/trivy", HARBOR_UID, HARBOR_UID, 0o755, "trivy-adapter"),
    DataDir("trivy-adapter/reports", HARBOR_UID, HARBOR_UID, 0o755, "trivy-adapter"),
)

# the steps, in the order they run
CREATE, CHOWN_BELOW, CHMOD, CHOWN_TOP = "create", "chown-below", "chmod", "chown-top"


@dataclass(frozen=True)
class State:
    """What stat says of a top folder."""
    uid: int
    gid: int
    mode: int  # permission bits only


def plan(want: DataDir, state: State | None) -> tuple[str, ...]:
    """The steps that bring a top folder (None: missing) to what its image needs."""
    if state is None:
        return (CREATE, CHMOD, CHOWN_TOP)  # new and empty: nothing below to hand over
    steps = []
    owner_wrong = (state.uid, state.gid) != (want.uid, want.gid)
    if owner_wrong:
        steps.append(CHOWN_BELOW)
    if state.mode != want.mode:
        steps.append(CHMOD)
    if owner_wrong:
        steps.append(CHOWN_TOP)
    return tuple(steps)


def refused(want: DataDir, path: str, reason: str) -> str:
    return (f"{path}: cannot give it to {want.uid}:{want.gid} mode {want.mode:04o} "
            f"({want.images} runs as uid {want.uid}): {reason}. On NFS, export it with "
            f"no_root_squash, or create the folder on the server owned by {want.uid}:{want.gid} "
            f"with mode {want.mode:04o}.")


class Disk:
    """The one place init-data touches the filesystem (tests count or refuse its calls)."""

    def state(self, path: str) -> State | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        if not os.path.isdir(path):
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder")
        return State(st.st_uid, st.st_gid, st.st_mode & 0o777)

    def mkdir(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(path, uid, gid, follow_symlinks=False)

    def below(self, path: str) -> Iterator[str]:
        """Everything under path, without following links."""
        def fail(err: OSError) -> None:
            raise err

        for folder, dirs, files in os.walk(path, onerror=fail):
            for name in dirs + files:
                yield os.path.join(folder, name)


def init_data(root: str, dirs=DATA_DIRS, disk: Disk | None = None,
              say=lambda line: print(line, file=sys.stderr)) -> list[str]:
    """Prepares every folder under root; returns the problems (empty: all done)."""
    disk = disk or Disk()
    problems = []
    for want in dirs:
        path = os.path.join(root, want.name)
        try:
            steps = plan(want, disk.state(path))
            handed = 0
            for step in steps:
                if step == CREATE:
                    disk.mkdir(path)
                elif step == CHOWN_BELOW:
                    for entry in disk.below(path):
                        disk.chown(entry, want.uid, want.gid)
                        handed += 1
                elif step == CHMOD:
                    disk.chmod(path, want.mode)
                else:
                    disk.chown(path, want.uid, want.gid)
        except OSError as err:
            problems.append(refused(want, path, err.strerror or str(err)))
            continue
        done = ", ".join(steps) if steps else "already right"
        if CHOWN_BELOW in steps:
            done += f" ({handed} entries below)"
        say(f"harbor-setupwrapper: data {want.name:<21} {want.uid}:{want.gid} "
            f"{want.mode:04o}  {done}")
    if not problems:  # the database snapshot, when this start would upgrade PostgreSQL
        problems += db_snapshot.before_upgrade(root, say)
    return problems
