"""Harbor on a three-node Swarm with compose/docker-stack.yml and its Traefik
(compose/docker-stack.traefik.yml): nodes lost, drained, regained (issues 10 and 14).

The harness (multinode_support): three Docker engines in containers, all three managers, the
shared folder in NFS's place. The stack is the real files with the machine's overrides of
swarm_support.derive_stack (the same as the one-node test's, with the volumes bound to the
shared folder's sub-folders instead of node-local ones): among them Traefik published in host
mode on port 443 of every node (no routing mesh in this kernel), so it runs on every node.
Traefik is the real Traefik v3 binary (harbor-standin/traefik): its swarm provider reads the
proxy's labels through the node's Docker socket and balances over the proxy tasks of every
node. Harbor's host name resolves on each node to that node's own address: each node's engine
logs in, pushes and pulls through the Traefik of its own node, trusting the test's CA through
/etc/docker/certs.d; the test also checks the certificate each node's port serves.

The story, in order (each step depends on the ones before):
1. deploy with 2 replicas of core, registry, portal and proxy; no node holds two replicas of
   one service; postgresql and redis on the node labelled harbor-data (node 1); the wrapper
   job ran on a node without a core task;
2. login through every node's Traefik, push through one node, pull through another, the same
   keys in every task on every node;
3. drain node 2: everything moves to nodes 1 and 3, login goes on; make it active again:
   nothing moves back until the next update of a service, which puts a replica on it;
4. stop node 3, which holds a core and a registry task (after 3., every two-replica service
   has one task on node 1 and one on node 3): they are rescheduled on node 2, login, push
   and pull work again, keys unchanged; the time to the first login is printed;
5. redeploy with HARBOR_LOG_LEVEL=debug while node 3 is down: the job re-renders on a
   surviving node and every task on every live node sees the new generation;
6. start node 3 again, then stop node 1, the data node: postgresql and redis stay down with
   their tasks pending ("no suitable node"), as the stack header says; start node 1: they
   come back on it with their data (the image pushed in 2. still pulls), keys unchanged.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from e2e_support import BASE_IMAGE_NAME, host_lock, sh
from multinode_support import SHARED, Cluster, build_node_image, save_images
from swarm_support import (KEYS, STACK_FILE, TRAEFIK_FILE, ServerCertificate, Stack,
                           derive_stack, env_value, same_keys, served_certificate, wait_for)

pytestmark = pytest.mark.swarm_multinode_e2e

STACK = "harbor"
NETWORK = "harbormn"
HOSTNAME = "harbor.multinode.test"  # each node resolves it to its own address
PASSWORD = "mn p@ss $HOME 'x'"
REPLICAS = {"core": 2, "registry": 2, "portal": 2, "proxy": 2}
HARBOR = ("registry", "registryctl", "postgresql", "redis", "core", "portal", "jobservice",
          "proxy")
SERVICES = (*HARBOR, "traefik")
REPO_NAME = "library/multinode"
STANDINS = ("harbor-db", "valkey-photon", "registry-photon", "harbor-registryctl", "harbor-core",
            "harbor-jobservice", "harbor-portal", "nginx-photon")


def say(msg: str) -> None:
    print(f"[swarm-multinode] {msg}", flush=True)


class Harness:
    def __init__(self, cluster: Cluster, stack: Stack, certificate: ServerCertificate):
        self.cluster = cluster
        self.stack = stack
        self.certificate = certificate
        self.ready = 0.0  # seconds the harness took

    # --- nodes and placement
    def where(self, short: str) -> list[str]:
        return sorted(self.cluster.node(t["NodeID"]).hostname for t in self.stack.running(short))

    def placement(self) -> dict[str, list[str]]:
        return {short: self.where(short) for short in HARBOR}

    def assert_spread(self) -> None:
        placement = self.placement()
        for short, count in REPLICAS.items():
            nodes = placement[short]
            assert len(nodes) == count and len(set(nodes)) == count, \
                f"{short} is not spread over {count} nodes: {placement}"
        data = self.cluster.nodes[0].hostname
        assert placement["postgresql"] == [data] and placement["redis"] == [data], placement

    def converged(self, timeout: float = 300) -> None:
        wait_for("every service runs its replicas on live nodes (Traefik on each)",
                 lambda: self.stack.converged(SERVICES), timeout,
                 diagnose=self.stack.diagnostics, interval=3)

    def live_nodes(self):
        """Nodes that are up and take tasks: only they run a Traefik task (a drained node runs
        none, and with host-mode ports nothing answers on its port 443)."""
        states = self.cluster.node_states()
        return [node for node in self.cluster.nodes
                if node.up and states.get(node.hostname) == ("Ready", "Active")]

    # --- clients: the nodes' own engines, each through the Traefik task on its node
    def login(self, node) -> bool:
        result = node.run("login", HOSTNAME, "-u", "admin", "--password-stdin",
                          check=False, input=PASSWORD, timeout=60)
        assert result.returncode == 0, \
            f"docker login {HOSTNAME} on {node.hostname}: {result.stderr[-400:]}"
        return True

    def login_everywhere(self, timeout: float = 180) -> None:
        """docker login on every live node, through its own Traefik; and that node's port 443
        serves the secret's certificate, verified with the test's CA."""
        for node in self.live_nodes():
            wait_for(f"docker login through the Traefik on {node.hostname}",
                     lambda node=node: self.login(node), timeout,
                     diagnose=lambda: self.stack.diagnostics(["traefik", "proxy", "core"]),
                     interval=2)
            served = served_certificate(node.ip, 443, HOSTNAME, self.certificate.ca)
            assert served == self.certificate.cert, f"{node.hostname} serves another certificate"

    def push_and_pull(self, tag: str) -> str:
        """Push from the engine of one live node, pull on another, each through the Traefik
        of its own node; returns the image id."""
        pusher, puller = self.live_nodes()[:2]
        name = f"{HOSTNAME}/{REPO_NAME}:{tag}"
        pusher.shell(
            "set -e; d=$(mktemp -d); head -c 2097152 /dev/urandom > $d/payload; "
            "printf 'FROM scratch\\nCOPY payload /payload\\n' > $d/Dockerfile; "
            f"DOCKER_BUILDKIT=0 docker build -q -t {name} $d >/dev/null; rm -rf $d")
        pushed = pusher.run("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()
        pusher.run("push", name, timeout=300)
        assert self.pull(puller, tag) == pushed
        say(f"pushed {REPO_NAME}:{tag} from {pusher.hostname} through its Traefik, pulled it on "
            f"{puller.hostname} through the Traefik there")
        return pushed

    def pull(self, node, tag: str) -> str:
        name = f"{HOSTNAME}/{REPO_NAME}:{tag}"
        node.run("rmi", "-f", name, check=False)
        node.run("pull", "-q", name, timeout=300)
        return node.run("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()

    def keys(self) -> dict[str, str]:
        return same_keys(self.stack, HARBOR, REPLICAS, PASSWORD, say)

    # --- what every task sees in the shared harbor-setup volume
    def generations(self) -> dict[str, str]:
        seen = {}
        for short in HARBOR:
            for task in self.stack.running(short):
                cid = self.stack.container(task)
                link = sh(*cid.engine, "exec", "-u", "0", cid, "readlink",
                          "/harbor-setup/current").stdout.strip()
                seen[f"{short}.{task['Slot']}@{self.cluster.node(task['NodeID']).hostname}"] = link
        return seen


@pytest.fixture(scope="module")
def harness(request):
    """Images from the host's engine (built if needed, under the host lock), three nodes, the
    swarm, the secrets (Traefik's certificate among them) and the data label; all removed at
    the end."""
    cluster = Cluster(3)
    workdir = Path(tempfile.mkdtemp(prefix="hsw-mn-stack-"))
    started = time.monotonic()
    try:
        stack_doc = derive_stack(STACK_FILE.read_text(), SHARED,
                                 overlays=(TRAEFIK_FILE.read_text(),))
        subfolders = [v["driver_opts"]["device"].rsplit("/", 1)[1]
                      for v in stack_doc["volumes"].values()]
        archive = cluster.host_dir / "images.tar"
        with host_lock("multinode harness: images and node containers"):
            standins = request.getfixturevalue("standins")
            wrapper = request.getfixturevalue("wrapper_image")
            traefik = request.getfixturevalue("traefik_image")
            build_node_image()
            images = [standins[name] for name in STANDINS] + [wrapper, traefik]
            saved = save_images(images, archive)
            cluster.create(subfolders, HOSTNAME)
        cluster.wait_engines()
        loaded = cluster.load(archive)
        archive.unlink()
        cluster.form_swarm()
        manager = cluster.nodes[0]
        manager.run("node", "update", "--label-add", "harbor-data=true", cluster.nodes[0].id)
        certificate = ServerCertificate([HOSTNAME])
        for name, value in (("harbor_admin_password", PASSWORD),
                            ("harbor_database_password", os.urandom(12).hex()),
                            *certificate.secrets().items()):
            manager.run("secret", "create", name, "-", input=value)
        say(f"three managers {[n.hostname for n in cluster.nodes]} at "
            f"{[n.ip for n in cluster.nodes]}; images saved in {saved:.0f}s and loaded into "
            f"every node in {loaded:.0f}s; harness ready {time.monotonic() - started:.0f}s "
            f"after the start (base {BASE_IMAGE_NAME})")

        for node in cluster.nodes:  # what a client of Traefik's certificate does
            folder = f"/etc/docker/certs.d/{HOSTNAME}"
            node.shell(f"mkdir -p {folder} && cat > {folder}/ca.crt",
                       input=certificate.ca.decode())

        stack_file = workdir / "docker-stack.yml"
        stack_file.write_text(yaml.safe_dump(stack_doc, sort_keys=False))
        env = {
            "HARBOR_HOSTNAME": HOSTNAME,
            "HARBOR_IMAGE_PREFIX": "harbor-standin",
            "HARBOR_WRAPPER_IMAGE": wrapper,
            "HARBOR_TRAEFIK_IMAGE": traefik,
            **ServerCertificate.SECRETS,
            "HARBOR_NETWORK_NAME": NETWORK,
            **{f"HARBOR_{s.upper()}_REPLICAS": str(n) for s, n in REPLICAS.items()},
        }
        stack = Stack(STACK, stack_file, env, docker=cluster.manager,
                      node_docker=lambda node_id: cluster.node(node_id).docker,
                      live=cluster.live)
        harness = Harness(cluster, stack, certificate)
        harness.ready = time.monotonic() - started
        yield harness
    finally:
        # the nodes are this test's own containers: removed without waiting for the host lock,
        # so that they stop using CPU at once
        problems = cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
        if problems:
            raise AssertionError("cleanup incomplete:\n" + "\n".join(problems))


def test_three_node_swarm(harness, capsys):
    h = harness
    stack, cluster = h.stack, h.cluster
    node1, node2, node3 = cluster.nodes
    figures = [f"harness (images in, three nodes, swarm) {h.ready:.0f}s"]
    started = time.monotonic()

    # 1. deploy, spread, pinned, the job elsewhere than a core task
    stack.deploy()
    wait_for("the setupwrapper job completed", lambda: stack.job_done(stack.job_iteration()), 300,
             diagnose=lambda: stack.diagnostics(["setupwrapper"]), interval=2)
    h.converged(420)
    h.login_everywhere()
    figures.append(f"deploy to every replica running and login through every node's Traefik "
                   f"{time.monotonic() - started:.0f}s")
    h.assert_spread()
    job = [t for t in stack.tasks("setupwrapper") if t["Status"]["State"] == "complete"]
    job_node = cluster.node(job[-1]["NodeID"]).hostname
    core_nodes = h.where("core")
    assert any(n != job_node for n in core_nodes), (job_node, core_nodes)
    say(f"placement {h.placement()}; the wrapper job ran on {job_node}")

    # 2. login, push through one node, pull through another, same keys everywhere
    first_image = h.push_and_pull("1")
    keys = h.keys()

    # 3. drain node 2, make it active again
    node1.run("node", "update", "--availability", "drain", node2.id)
    drained = time.monotonic()

    def off_node2():
        left = {s: n for s, n in cluster.tasks_on(stack, node2, HARBOR).items() if n}
        assert not left, f"still on {node2.hostname}: {left}"
        return stack.converged(HARBOR)
    wait_for(f"{node2.hostname} drained, every replica running elsewhere", off_node2, 300,
             diagnose=stack.diagnostics, interval=3)
    h.login_everywhere()
    with pytest.raises(ConnectionRefusedError):  # its Traefik task went with the rest
        served_certificate(node2.ip, 443, HOSTNAME, h.certificate.ca)
    figures.append(f"drain: replicas moved and login works {time.monotonic() - drained:.0f}s")
    say(f"{node2.hostname} drained: placement {h.placement()}; login goes on")
    h.assert_spread()
    node1.run("node", "update", "--availability", "active", node2.id)
    time.sleep(5)
    assert not any(cluster.tasks_on(stack, node2, HARBOR).values()), \
        "Swarm moved running tasks back by itself"
    node1.run("service", "update", "--force", "--detach=true", stack.service("portal"))
    wait_for(f"the next update of portal puts a replica on {node2.hostname}",
             lambda: node2.hostname in h.where("portal") and stack.converged(["portal"]), 180,
             diagnose=lambda: stack.diagnostics(["portal"]), interval=3)
    say(f"{node2.hostname} active again: nothing moved back until `docker service update "
        f"--force portal`, which put a portal replica on it: {h.where('portal')}")

    # 4. lose node 3, which holds a core and a registry task
    assert node3.hostname in h.where("core") and node3.hostname in h.where("registry"), \
        h.placement()
    cluster.stop(node3)
    lost = time.monotonic()
    say(f"stopped {node3.hostname} (it held core, registry, proxy and portal tasks)")

    def first_login():
        errors = []
        for node in h.live_nodes():
            try:
                return h.login(node)
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"no login yet: {errors}")
    wait_for("a first login after the node loss", first_login, 300,
             diagnose=stack.diagnostics, interval=2)
    to_login = time.monotonic() - lost
    h.converged(300)
    rescheduled = time.monotonic() - lost
    h.assert_spread()
    assert node3.hostname not in sum(h.placement().values(), [])
    h.login_everywhere()
    h.push_and_pull("2")
    assert h.keys() == keys
    figures.append(f"node lost: first login after {to_login:.0f}s, every replica running on "
                   f"the other nodes after {rescheduled:.0f}s")
    say(f"after losing {node3.hostname}: placement {h.placement()}; first login "
        f"{to_login:.1f}s after the loss; keys unchanged")

    # 5. redeploy with a changed setting while node 3 is down
    before = set(h.generations().values())
    assert len(before) == 1, before
    iteration = stack.job_iteration()
    stack.env["HARBOR_LOG_LEVEL"] = "debug"
    stack.deploy()
    wait_for("`docker stack deploy` ran the job again", lambda: stack.job_iteration() > iteration,
             60)
    wait_for("the re-rendering job completed", lambda: stack.job_done(stack.job_iteration()),
             240, diagnose=lambda: stack.diagnostics(["setupwrapper"]), interval=2)
    job = [t for t in stack.tasks("setupwrapper")
           if t.get("JobIteration", {}).get("Index") == stack.job_iteration()
           and t["Status"]["State"] == "complete"]
    job_node = cluster.node(job[0]["NodeID"])
    assert job_node.up and job_node is not node3
    seen = h.generations()
    assert len(set(seen.values())) == 1 and set(seen.values()) != before, seen
    for task in stack.running("core"):
        env_file = Stack.read(stack.container(task), "/harbor-setup/config/core/env")
        assert env_value(env_file, "LOG_LEVEL") == "debug"
    now = h.keys()
    assert {k: now[k] for k in KEYS} == {k: keys[k] for k in KEYS}
    say(f"redeployed with HARBOR_LOG_LEVEL=debug while {node3.hostname} is down: the job ran on "
        f"{job_node.hostname}; {len(seen)} tasks on {sorted({k.split('@')[1] for k in seen})} "
        f"see generation {next(iter(seen.values()))}; keys unchanged")

    # 6. node 3 back; then the data node lost and back
    cluster.start(node3)
    wait_for(f"{node3.hostname} ready again", lambda: cluster.node_states()[node3.hostname][0]
             == "Ready", 120, interval=2)
    cluster.stop(node1)
    data_lost = time.monotonic()

    def data_pending():
        for short in ("postgresql", "redis"):
            assert not stack.running(short), f"{short} still runs"
            pending = [t for t in stack.tasks(short) if t["DesiredState"] == "running"
                       and t["Status"]["State"] == "pending"]
            states = [(t["Status"]["State"], t["Status"].get("Err")) for t in stack.tasks(short)]
            assert pending and "no suitable node" in pending[0]["Status"].get("Err", ""), \
                f"{short}: {states}"
        return True
    wait_for("postgresql and redis pending while their node is down", data_pending, 120,
             diagnose=lambda: stack.diagnostics(["postgresql", "redis"]), interval=3)
    err = [t for t in stack.tasks("postgresql") if t["Status"]["State"] == "pending"][0]
    say(f"{node1.hostname} (harbor-data) stopped: postgresql and redis stay down, pending: "
        f"{err['Status']['Err']!r} ({time.monotonic() - data_lost:.0f}s after the loss)")
    cluster.start(node1)
    back = time.monotonic()
    h.converged(300)
    assert h.where("postgresql") == [node1.hostname] and h.where("redis") == [node1.hostname]
    h.login_everywhere()
    data_back = time.monotonic() - back
    assert h.pull(h.live_nodes()[1], "1") == first_image
    assert h.keys() == now
    figures.append(f"data node back: login after {data_back:.0f}s")
    say(f"{node1.hostname} back: postgresql and redis run on it again with their data (the "
        f"first image still pulls), login works {data_back:.1f}s after its start")

    with capsys.disabled():
        print(f"\n[swarm-multinode] {'; '.join(figures)}; whole test "
              f"{time.monotonic() - started + h.ready:.0f}s with the harness")
