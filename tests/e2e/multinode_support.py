"""The multi-node Swarm harness (tests/e2e/test_swarm_multinode.py): three Docker engines, each
in its own container on this machine, joined into one swarm.

- the node image is Debian's docker.io on the offline base (images/swarm-node/Dockerfile);
  nodes run without --privileged (this kernel refuses it: it withholds CAP_SYS_RESOURCE) with
  NODE_FLAGS, and each engine's /var/lib/docker on a volume of its own (overlay2 does not
  nest on the host's overlayfs);
- one host folder is mounted into every node at SHARED (the same path everywhere), holding
  one sub-folder per stack volume, as the NFS export of the stack's header does;
- three managers: Raft keeps a quorum with two of three, so any one node can be stopped and
  the swarm still takes orders (one manager and two workers would lose the control plane
  with the manager, and with it the very rescheduling the test is about);
- images come from the host's engine once (`docker save`, under the host lock) and go into
  every node with `docker load`.
Everything is named PREFIX + a run id and removed at the end, also when the test fails.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from e2e_support import BASE_IMAGE_NAME, HOST_CA_BUNDLE, REPO, sh

PREFIX = "hsw-mn-"
NODE_IMAGE = "hsw-mn-node:e2e"
NODE_CONTEXT = REPO / "tests/e2e/images/swarm-node"
SHARED = "/srv/harbor-nfs"  # the shared folder's path inside every node (NFS's mount point)
NODE_FLAGS = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
)


def build_node_image() -> str:
    """The node image (host engine: call it under host_lock). Layers come from the cache."""
    with tempfile.TemporaryDirectory() as context:
        shutil.copy(NODE_CONTEXT / "Dockerfile", context)
        bundle = Path(context) / "extra-ca.crt"
        if os.path.exists(HOST_CA_BUNDLE):
            shutil.copy(HOST_CA_BUNDLE, bundle)
        else:
            bundle.write_text("")
        sh("docker", "build", "-q", "-t", NODE_IMAGE, "--build-arg",
           f"BASE_IMAGE={BASE_IMAGE_NAME}", context,
           env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=900)
    return NODE_IMAGE


def client_mount() -> tuple[str, ...]:
    """This machine's docker CLI, also inside the nodes: Debian's 20.10 client cannot deploy
    the stack's replicated-job ("Unknown mode"); the host's newer client talks to the 20.10
    engines as it does in the one-node test."""
    client = os.path.realpath(shutil.which("docker") or "/usr/bin/docker")
    if client == "/usr/bin/docker":
        return ()
    return ("-v", f"{client}:/usr/local/bin/docker:ro")


class Node:
    def __init__(self, name: str, hostname: str):
        self.name = name          # the container on the host's engine
        self.hostname = hostname  # the swarm node's name
        self.ip = ""
        self.id = ""
        self.up = False

    @property
    def docker(self) -> tuple[str, ...]:
        """argv of this node's docker command."""
        return ("docker", "exec", "-i", self.name, "docker")

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return sh(*self.docker, *args, **kwargs)

    def shell(self, script: str, **kwargs) -> subprocess.CompletedProcess:
        return sh("docker", "exec", "-i", self.name, "sh", "-c", script, **kwargs)


class Cluster:
    def __init__(self, count: int = 3):
        self.run_id = uuid.uuid4().hex[:6]
        self.network = f"{PREFIX}{self.run_id}"
        self.nodes = [Node(f"{PREFIX}{self.run_id}-{i}", f"{PREFIX}{i}")
                      for i in range(1, count + 1)]
        self.host_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.run_id}-"))
        self.shared_dir = self.host_dir / "nfs"
        self.gateway = ""
        self.created: list[str] = []

    # --- lifecycle (host's engine: under the host lock)
    def create(self, subfolders: list[str], hostname: str = "") -> None:
        """Network, shared folder (root-owned sub-folders, as `mkdir -p` on the export makes
        them) and the node containers; `hostname` (Harbor's) resolves on each node to that
        node's own address, so that each node's engine reaches Harbor through the Traefik
        task on its own node."""
        self.shared_dir.mkdir(mode=0o755)
        for folder in subfolders:
            (self.shared_dir / folder).mkdir(mode=0o755)
        # fixed addresses: a node that is stopped and started again keeps its address, which
        # the other managers know it by
        for attempt in range(8):
            subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}"
            result = sh("docker", "network", "create", "--subnet", f"{subnet}.0/24",
                        "--gateway", f"{subnet}.1", self.network, check=False)
            if result.returncode == 0:
                break
            assert "overlap" in result.stderr, result.stderr
        else:
            raise AssertionError(f"no free subnet for {self.network}: {result.stderr}")
        self.created.append("network")
        for number, node in enumerate(self.nodes, start=11):
            hosts = ("--add-host", f"{hostname}:{subnet}.{number}") if hostname else ()
            sh("docker", "run", "-d", "--name", node.name, "--hostname", node.hostname,
               "--network", self.network, "--ip", f"{subnet}.{number}", *hosts, *NODE_FLAGS,
               "-v", f"{node.name}:/var/lib/docker",
               "-v", f"{self.shared_dir}:{SHARED}", *client_mount(), NODE_IMAGE)
            self.created.append(node.name)
            node.up = True
        self.gateway = f"{subnet}.1"  # this machine, as the nodes reach it
        for node in self.nodes:
            node.ip = self._ip(node)

    def _ip(self, node: Node) -> str:
        return sh("docker", "inspect", "-f",
                  f'{{{{(index .NetworkSettings.Networks "{self.network}").IPAddress}}}}',
                  node.name).stdout.strip()

    def destroy(self) -> list[str]:
        problems = []
        for node in self.nodes:
            if node.name in self.created:
                result = sh("docker", "rm", "-f", "-v", node.name, check=False, timeout=180)
                if result.returncode != 0 and "No such container" not in result.stderr:
                    problems.append(f"container {node.name}: {result.stderr.strip()}")
                result = sh("docker", "volume", "rm", "-f", node.name, check=False)
                if result.returncode != 0:
                    problems.append(f"volume {node.name}: {result.stderr.strip()}")
        if "network" in self.created:
            result = sh("docker", "network", "rm", self.network, check=False)
            if result.returncode != 0 and "not found" not in result.stderr:
                problems.append(f"network {self.network}: {result.stderr.strip()}")
        shutil.rmtree(self.host_dir, ignore_errors=True)
        if self.host_dir.exists():
            problems.append(f"folder {self.host_dir} not removed")
        return problems

    # --- engines and images
    def wait_engines(self, timeout: float = 120) -> None:
        from swarm_support import wait_for
        for node in self.nodes:
            wait_for(f"the engine in {node.name} answers",
                     lambda node=node: node.run("info", "--format", "{{.ServerVersion}}",
                                                check=False).returncode == 0,
                     timeout, interval=1)

    def load(self, archive: Path) -> float:
        """`docker load` of one `docker save` archive into every node, at once."""
        started = time.monotonic()
        procs = []
        for node in self.nodes:
            with open(archive, "rb") as data:
                procs.append((node, subprocess.Popen(
                    ["docker", "exec", "-i", node.name, "docker", "load", "-q"], stdin=data,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        for node, proc in procs:
            out, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, f"docker load in {node.name}: {err[-2000:]}"
        return time.monotonic() - started

    # --- swarm
    def form_swarm(self) -> None:
        first = self.nodes[0]
        first.run("swarm", "init", "--advertise-addr", first.ip)
        token = first.run("swarm", "join-token", "-q", "manager").stdout.strip()
        for node in self.nodes[1:]:
            node.run("swarm", "join", "--advertise-addr", node.ip, "--token", token,
                     f"{first.ip}:2377", timeout=120)
        for node in self.nodes:
            node.id = node.run("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()

    def manager(self) -> tuple[str, ...]:
        """The docker argv of a node that is up (every node is a manager)."""
        for node in self.nodes:
            if node.up:
                return node.docker
        raise AssertionError("every node is down")

    def node(self, node_id: str | None) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise AssertionError(f"no node has id {node_id}")

    def live(self, node_id: str | None) -> bool:
        return any(node.id == node_id and node.up for node in self.nodes)

    def node_states(self) -> dict[str, tuple[str, str]]:
        """{hostname: (status, availability)} as the swarm sees them."""
        out = sh(*self.manager(), "node", "ls", "--format",
                 "{{.Hostname}} {{.Status}} {{.Availability}}").stdout
        return {h: (s, a) for h, s, a in (line.split() for line in out.splitlines() if line)}

    # --- losing and regaining a node
    def stop(self, node: Node) -> None:
        """The node is lost: its container (engine, tasks and all) stops at once."""
        sh("docker", "kill", node.name, timeout=120)
        node.up = False

    def start(self, node: Node) -> None:
        sh("docker", "start", node.name, timeout=120)
        node.up = True
        node.ip = self._ip(node)
        from swarm_support import wait_for
        wait_for(f"the engine in {node.name} answers again",
                 lambda: node.run("info", "--format", "{{.Swarm.LocalNodeState}}",
                                  check=False).stdout.strip() == "active", 120)

    def tasks_on(self, stack, node: Node, services) -> dict[str, int]:
        """Running tasks per service on one node."""
        return {short: sum(1 for t in stack.running(short) if t.get("NodeID") == node.id)
                for short in services}


def save_images(images: list[str], archive: Path) -> float:
    started = time.monotonic()
    sh("docker", "save", "-o", str(archive), *images, timeout=900)
    return time.monotonic() - started
