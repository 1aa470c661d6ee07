"""Helpers for the Swarm end-to-end tests (tests/e2e/test_swarm.py on the host's engine as a
one-node swarm, tests/e2e/test_swarm_multinode.py on three engines in containers).

- `derive_stack`: compose/docker-stack.yml made deployable on this test machine: the ONE
  place that lists what is swapped for what this machine cannot provide;
- `Swarm`: joins the engine to a one-node swarm when it is in none, and leaves it again;
- `Stack`: deploy, tasks, bounded waits with diagnostics, files and logs of task containers
  (on the host's engine, or through `docker exec NODE docker ...` on a node of the harness);
- `same_keys`: every task container reads the same keys and secrets;
- `ServerCertificate`, `served_certificate`, `proxy_requests`: the certificate the tests give
  the stack's Traefik (compose/docker-stack.traefik.yml, the real Traefik binary in
  harbor-standin/traefik), what Traefik serves, and which proxy tasks it sent requests to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from e2e_support import REPO, sh

STACK_FILE = REPO / "compose" / "docker-stack.yml"
TRAEFIK_FILE = REPO / "compose" / "docker-stack.traefik.yml"
TRAEFIK_ACME_FILE = REPO / "compose" / "docker-stack.traefik-acme.yml"
LABEL = "harbor-setupwrapper-e2e"  # on the Docker secrets the test creates


# --------------------------------------------------------------------------- the stack file

def _merge(base: dict, overlay: dict) -> dict:
    """`docker stack deploy -c base -c overlay` for what the overlays here hold: mappings
    merge key by key, anything else is the overlay's."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _load(text: str) -> dict:
    doc = yaml.safe_load(text)  # anchors and merge keys are resolved here
    for key in [k for k in doc if str(k).startswith("x-")]:
        del doc[key]  # already merged; x-nfs would demand HARBOR_NFS_SERVER
    return doc


def derive_stack(text: str, shared: str | None = None, overlays: tuple[str, ...] = ()) -> dict:
    """The real stack (with `overlays`, e.g. TRAEFIK_FILE's text, merged in as `docker stack
    deploy -c` merges them), with what this machine cannot run swapped for what it can. The
    ONE place for these changes:

    - no NFS client in this kernel: every volume a plain local volume, or, with `shared` (a
      folder mounted at that path into every node of the multi-node harness), a local bind
      volume of the same sub-folder the NFS volume names (<HARBOR_NFS_PATH>/<volume>);
    - no ip_vs module in this kernel, so no virtual IPs and no routing mesh ("No route to
      host"): `endpoint_mode: dnsrr` on every service, and Traefik's published port in host
      mode. Without the routing mesh a node answers on that port only when a Traefik task
      runs on it, so Traefik runs on every node (deploy mode global, still only on managers)
      in place of the file's one replica that the mesh makes reachable on every node.
      Traefik itself needs no change for dnsrr: with traefik.swarm.lbswarm false (the
      default, which the proxy's labels keep) it balances over the task addresses.
    Everything else (images, entrypoints, shim loop, secrets, mounts, capabilities, the
    wrapper's environment, Traefik's command and the proxy's labels, replicas, placement) is
    the files' own; variables are substituted by `docker stack deploy` as in production.
    """
    doc = _load(text)
    for overlay in overlays:
        _merge(doc, _load(overlay))
    volumes = doc["volumes"]
    assert all(v["driver_opts"]["type"] == "nfs" for v in volumes.values()), \
        "the stack's volumes are no longer all NFS: revisit derive_stack"
    if shared is None:
        doc["volumes"] = {name: {"driver": "local"} for name in volumes}
    else:
        doc["volumes"] = {}
        for name, volume in volumes.items():
            folder = volume["driver_opts"]["device"].rsplit("/", 1)[1]
            doc["volumes"][name] = {"driver": "local", "driver_opts": {
                "type": "none", "o": "bind", "device": f"{shared}/{folder}"}}
    for service in doc["services"].values():
        service.setdefault("deploy", {})["endpoint_mode"] = "dnsrr"
    assert "ports" not in doc["services"]["proxy"], \
        "the stack publishes the proxy itself now: revisit derive_stack"
    traefik = doc["services"].get("traefik")
    if traefik is not None:
        assert [p["target"] for p in traefik["ports"]] == [443], traefik["ports"]
        for port in traefik["ports"]:
            port["mode"] = "host"
        deploy = traefik["deploy"]
        assert deploy.pop("replicas") == 1, "Traefik's replicas changed: revisit derive_stack"
        deploy["mode"] = "global"
    return doc


# --------------------------------------------------------------------------- swarm mode

class Swarm:
    def __init__(self):
        self.created = False

    @staticmethod
    def state() -> tuple[str, bool]:
        out = sh("docker", "info", "--format",
                 "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").stdout.split()
        return out[0], out[1] == "true"

    def ensure(self) -> None:
        state, manager = self.state()
        if state == "inactive":
            sh("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
            self.created = True
            print("\n[swarm-e2e] docker swarm init --advertise-addr 127.0.0.1 (left at the end)")
        elif state != "active" or not manager:
            raise AssertionError(f"the engine is in swarm state {state!r} (manager: {manager}); "
                                 "the test needs a manager node or no swarm at all")

    def leave(self) -> None:
        if self.created:
            sh("docker", "swarm", "leave", "--force", check=False)
            self.created = False


# --------------------------------------------------------------------------- waiting

def wait_for(what: str, probe, timeout: float, diagnose=None, interval: float = 1.0):
    """Calls probe() until it returns something true; AssertionError after timeout seconds."""
    started = time.monotonic()
    last = ""
    while True:
        try:
            result = probe()
        except AssertionError as exc:  # a probe may explain why it is not there yet
            result, last = None, str(exc)
        if result:
            return result
        if time.monotonic() - started > timeout:
            details = diagnose() if diagnose else ""
            raise AssertionError(f"{what}: still not the case after {timeout:.0f}s"
                                 f"{' (last: ' + last[-2000:] + ')' if last else ''}\n{details}")
        time.sleep(interval)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# --------------------------------------------------------------------------- the stack

HOST_DOCKER = ("docker",)


class Container(str):
    """A container id that knows the engine holding it (the argv of its `docker` command)."""

    def __new__(cls, cid: str, engine: tuple[str, ...] = HOST_DOCKER):
        obj = super().__new__(cls, cid)
        obj.engine = tuple(engine)
        return obj


def _engine(cid: str) -> tuple[str, ...]:
    return getattr(cid, "engine", HOST_DOCKER)


class Stack:
    """A deployed stack. `docker` gives the argv of a manager's docker command (the host's
    engine by default), `node_docker(node_id)` that of the engine running a task, and
    `live(node_id)` whether that node is up (tasks of a lost node are not counted)."""

    def __init__(self, name: str, file: Path, env: dict[str, str], docker=None,
                 node_docker=None, live=None):
        self.name = name
        self.file = file
        self.env = env
        self.services = list(yaml.safe_load(file.read_text())["services"])
        self.manager = docker or (lambda: HOST_DOCKER)
        self.node_docker = node_docker or (lambda node: self.manager())
        self.live = live or (lambda node: True)

    def docker(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return sh(*self.manager(), *args, **kwargs)

    def service(self, short: str) -> str:
        return f"{self.name}_{short}"

    def deploy(self) -> None:
        if self.manager() == HOST_DOCKER:
            sh("docker", "stack", "deploy", "--detach=true", "--resolve-image", "never",
               "-c", str(self.file), self.name, env=self.env, timeout=300)
            return
        # on a node: the file and the variables go in through docker exec
        env_args = [a for k, v in self.env.items() if k.startswith("HARBOR_")
                    for a in ("-e", f"{k}={v}")]
        argv = list(self.manager())
        assert argv[:3] == ["docker", "exec", "-i"], argv
        sh(*argv[:3], *env_args, *argv[3:-1], "sh", "-c",
           f"cat > /tmp/{self.name}.yml && docker stack deploy --detach=true "
           f"--resolve-image never -c /tmp/{self.name}.yml {self.name}",
           input=self.file.read_text(), timeout=300)

    # --- tasks
    def tasks(self, short: str) -> list[dict]:
        ids = self.docker("service", "ps", "-q", "--no-trunc", self.service(short),
                          check=False).stdout.split()
        if not ids:
            return []
        result = self.docker("inspect", *ids, check=False)
        return json.loads(result.stdout or "[]")

    def running(self, short: str) -> list[dict]:
        """Tasks that should run and do (Swarm says running only once healthy)."""
        return sorted((t for t in self.tasks(short)
                       if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
                       and self.live(t.get("NodeID"))),
                      key=lambda t: t.get("Slot", 0))

    def desired_replicas(self, short: str) -> int:
        spec = json.loads(self.docker("service", "inspect", self.service(short)).stdout)[0]
        if "Global" in spec["Spec"]["Mode"]:  # Traefik (derive_stack): one per ready manager
            nodes = self.docker("node", "ls", "--filter", "role=manager", "--format",
                                "{{.Status}} {{.Availability}}").stdout.splitlines()
            return sum(1 for line in nodes if line.split() == ["Ready", "Active"])
        return spec["Spec"]["Mode"].get("Replicated", {}).get("Replicas", 0)

    def converged(self, shorts) -> bool:
        missing = []
        for short in shorts:
            want, have = self.desired_replicas(short), len(self.running(short))
            if have != want:
                missing.append(f"{short} {have}/{want}")
        if missing:
            raise AssertionError("running/desired: " + ", ".join(missing))
        return True

    def job_iteration(self) -> int:
        spec = json.loads(self.docker("service", "inspect", self.service("setupwrapper")).stdout)[0]
        return (spec.get("JobStatus") or {}).get("JobIteration", {}).get("Index", 0)

    def job_done(self, iteration: int) -> bool:
        tasks = [t for t in self.tasks("setupwrapper")
                 if t.get("JobIteration", {}).get("Index", 0) == iteration]
        if any(t["Status"]["State"] == "complete" for t in tasks):
            return True
        failed = [t for t in tasks if t["Status"]["State"] in ("failed", "rejected")]
        if len(failed) >= 3:  # the stack's restart policy: max_attempts 3
            raise RuntimeError(f"the setupwrapper job failed {len(failed)} times:\n"
                               + self.diagnostics(["setupwrapper"]))
        states = [t["Status"]["State"] for t in tasks] or "no task yet"
        raise AssertionError(f"setupwrapper iteration {iteration}: {states}")

    def container(self, task: dict) -> Container:
        return Container(task["Status"]["ContainerStatus"]["ContainerID"],
                         self.node_docker(task.get("NodeID")))

    def address(self, task: dict, network: str) -> str:
        for attachment in task.get("NetworksAttachments", []):
            if attachment["Network"]["Spec"]["Name"] == network:
                return attachment["Addresses"][0].split("/")[0]
        raise AssertionError(f"task {task['ID']} has no address on {network}")

    def published_port(self, task: dict) -> int:
        """The host port Docker picked for this task (host mode, no fixed number)."""
        cid = self.container(task)
        ports = json.loads(sh(*cid.engine, "inspect", "-f", "{{json .NetworkSettings.Ports}}",
                              cid).stdout)
        return int(ports["8080/tcp"][0]["HostPort"])

    # --- inside task containers
    @staticmethod
    def read(cid: str, path: str) -> bytes:
        result = subprocess.run([*_engine(cid), "exec", cid, "cat", path], check=False,
                                capture_output=True, timeout=60)
        assert result.returncode == 0, f"docker exec {cid[:12]} cat {path}: {result.stderr!r}"
        return result.stdout

    @staticmethod
    def process_env(cid: str) -> dict[str, str]:
        """The environment the container's main process (pid 1) was started with."""
        raw = Stack.read(cid, "/proc/1/environ")
        return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)

    @staticmethod
    def curl(cid: str, *args: str) -> str:
        result = subprocess.run([*_engine(cid), "exec", cid, "curl", "-sS", *args], check=False,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"curl {args} in {cid[:12]}: {result.stderr}"
        return result.stdout

    @staticmethod
    def logs(cid: str) -> str:
        result = subprocess.run([*_engine(cid), "logs", cid], check=False, capture_output=True,
                                text=True, timeout=60)
        return result.stdout + result.stderr

    # --- diagnostics
    def diagnostics(self, shorts=None, tail: int = 40) -> str:
        parts = [self.docker("stack", "ps", "--no-trunc", self.name, check=False).stdout]
        for short in shorts or self.services:
            svc = self.service(short)
            ps = self.docker("service", "ps", "--no-trunc", svc, check=False)
            logs = self.docker("service", "logs", "--no-trunc", "--timestamps", "--tail",
                               str(tail), svc, check=False, timeout=60)
            parts.append(f"===== {svc}: docker service ps --no-trunc\n{ps.stdout}{ps.stderr}"
                         f"===== {svc}: docker service logs --tail {tail}\n"
                         f"{logs.stdout[-6000:]}{logs.stderr[-6000:]}")
        return "\n".join(parts)

    # --- removal
    def remove(self, timeout: float = 120) -> list[str]:
        """Removes the stack, then its containers' leftovers: volumes and network."""
        problems = []
        sh("docker", "stack", "rm", self.name, check=False, timeout=120)
        label = f"label=com.docker.stack.namespace={self.name}"

        def containers_gone():
            left = sh("docker", "ps", "-a", "--filter", label, "--format",
                      '{{.ID}} {{.State}} {{.Label "com.docker.swarm.service.name"}}',
                      check=False).stdout.split("\n")
            left = [line.split() for line in left if line.strip()]
            # Swarm never removes the containers of a removed job service's tasks
            # (moby/moby#44312, #42789); they hold the volumes, so the test removes them
            for cid, state, service in left:
                if service in (self.service("setupwrapper"), self.service("init-data")) \
                        and state != "running":
                    sh("docker", "rm", "-f", cid, check=False)
            if left:
                raise AssertionError(f"{len(left)} container(s) left")
            return True
        try:
            wait_for(f"containers of stack {self.name} removed", containers_gone, timeout)
        except AssertionError as exc:
            problems.append(str(exc).splitlines()[0])
        for volume in sh("docker", "volume", "ls", "-q", "--filter", label,
                         check=False).stdout.split():
            result = sh("docker", "volume", "rm", "-f", volume, check=False)
            if result.returncode != 0:
                problems.append(f"volume {volume}: {result.stderr.strip()}")
        return problems


def remove_network(name: str, timeout: float = 60) -> list[str]:
    def gone():
        if sh("docker", "network", "inspect", name, check=False).returncode != 0:
            return True
        sh("docker", "network", "rm", name, check=False)
        return False
    try:
        wait_for(f"network {name} removed", gone, timeout)
    except AssertionError as exc:
        return [str(exc).splitlines()[0]]
    return []


# --------------------------------------------------------------------------- same keys

# Files every replica reads from the harbor-setup volume
SHARED_FILES = (
    "secret/keys/secretkey", "secret/core/private_key.pem", "secret/registry/root.crt",
    "config/core/env", "config/registry/passwd", "config/registry/config.yml",
    "config/jobservice/env", "config/registryctl/env",
)
# What must never change once made (configs may be re-rendered)
KEYS = ("secret/keys/secretkey", "secret/core/private_key.pem", "secret/registry/root.crt",
        "config/registry/passwd", "registry http.secret", "CORE_SECRET", "JOBSERVICE_SECRET",
        "CSRF_KEY", "REGISTRY_CREDENTIAL_PASSWORD", "POSTGRESQL_PASSWORD")
CORE_SECRETS = ("CORE_SECRET", "JOBSERVICE_SECRET", "CSRF_KEY", "REGISTRY_CREDENTIAL_USERNAME",
                "REGISTRY_CREDENTIAL_PASSWORD", "HARBOR_ADMIN_PASSWORD", "POSTGRESQL_PASSWORD")

def shared_view(cid: str) -> dict[str, str]:
    """Hashes of what one task container reads from the harbor-setup volume."""
    view = {path: sha(Stack.read(cid, f"/harbor-setup/{path}")) for path in SHARED_FILES}
    registry_config = yaml.safe_load(Stack.read(cid, "/harbor-setup/config/registry/config.yml"))
    secret = registry_config["http"]["secret"]
    assert secret and secret != "placeholder"
    view["registry http.secret"] = sha(secret.encode())
    core_env = Stack.read(cid, "/harbor-setup/config/core/env")
    for name in CORE_SECRETS:
        view[name] = sha(env_value(core_env, name).encode())
    return view


def same_keys(stack: Stack, harbor, replicas: dict[str, int], password: str, say) -> dict[str, str]:
    """Every replica reads the same keys, and the running processes hold the same secrets."""
    wait_for("every service runs its replicas", lambda: stack.converged(harbor), 180,
             diagnose=stack.diagnostics, interval=2)
    views, where, nodes = {}, {}, set()
    for short in harbor:
        if short in ("postgresql", "redis"):  # uid 999: reads its own env file only
            continue
        for task in stack.running(short):
            cid = stack.container(task)
            views[f"{short}.{task['Slot']}"] = shared_view(cid)
            nodes.add(task.get("NodeID"))
            where[f"{short}.{task['Slot']}"] = cid
    reference = views["core.1"]
    for replica, view in views.items():
        differing = sorted(k for k in reference if view.get(k) != reference[k])
        assert not differing, f"{replica} reads other {differing} than core.1"
    counted = {s: sum(1 for r in views if r.startswith(s + ".")) for s in replicas}
    assert counted == replicas, counted

    # what the processes were started with, not only what the volume holds
    envs = {r: Stack.process_env(cid) for r, cid in where.items() if r.startswith("core.")}
    for replica, env in envs.items():
        assert env["HARBOR_ADMIN_PASSWORD"] == password, f"{replica}: admin password mangled"
        for name in CORE_SECRETS:
            assert sha(env[name].encode()) == reference[name], f"{replica}: {name} differs"
    for replica, cid in where.items():
        if replica.startswith("registry."):  # the fixed path the registry image reads
            fixed = yaml.safe_load(Stack.read(cid, "/etc/registry/config.yml"))
            assert sha(fixed["http"]["secret"].encode()) == reference["registry http.secret"]
    say(f"same keys and secrets in {len(views)} task containers on {len(nodes)} node(s) "
        f"({', '.join(sorted(views))}); "
        f"core processes hold the same CORE_SECRET, JOBSERVICE_SECRET, CSRF_KEY, registry "
        f"credential and admin password")
    return reference


# --------------------------------------------------------------------------- secrets

def create_secret(name: str, value: str) -> None:
    existing = sh("docker", "secret", "inspect", name, check=False)
    if existing.returncode == 0:
        labels = json.loads(existing.stdout)[0]["Spec"].get("Labels") or {}
        if LABEL not in labels:
            raise AssertionError(f"a Docker secret {name} exists and was not made by this test; "
                                 "the test will not replace it (remove it or use another engine)")
        sh("docker", "secret", "rm", name)
    sh("docker", "secret", "create", "--label", f"{LABEL}=swarm", name, "-", input=value)


def remove_secret(name: str) -> list[str]:
    existing = sh("docker", "secret", "inspect", name, check=False)
    if existing.returncode != 0:
        return []
    labels = json.loads(existing.stdout)[0]["Spec"].get("Labels") or {}
    if LABEL not in labels:
        return []
    # a service being removed may still hold it for a moment
    try:
        wait_for(f"secret {name} removed",
                 lambda: sh("docker", "secret", "rm", name, check=False).returncode == 0, 60)
    except AssertionError as exc:
        return [str(exc).splitlines()[0]]
    return []


# --------------------------------------------------------------------------- Traefik

def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerCertificate:
    """What a Traefik user brings: a certificate for the host name(s) from a CA of the test's,
    handed to the stack's Traefik as the two Docker secrets docker-stack.traefik.yml reads.
    The stack's wrapper makes none: Harbor speaks plain http behind Traefik."""

    SECRETS = {"HARBOR_HTTPS_CERTIFICATE_SECRET": "harbor_traefik_e2e_certificate",
               "HARBOR_HTTPS_PRIVATE_KEY_SECRET": "harbor_traefik_e2e_private_key"}

    def __init__(self, names: list[str]):
        from wrapper import pki

        ca_key, self.ca = pki.new_ca("harbor swarm e2e Traefik CA", 2)
        self.key = pki.new_ec_key()
        self.cert = pki.issue(ca_key, self.ca, self.key, names[0], names, 2)

    def secrets(self) -> dict[str, str]:
        """{secret name: content}"""
        return {self.SECRETS["HARBOR_HTTPS_CERTIFICATE_SECRET"]: self.cert.decode(),
                self.SECRETS["HARBOR_HTTPS_PRIVATE_KEY_SECRET"]: self.key.decode()}


def served_certificate(host: str, port: int, server_name: str, ca: bytes | None) -> bytes:
    """The certificate a TLS server presents (PEM); verified against `ca` when given."""
    import ssl

    if ca is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=ca.decode())
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True)).encode()


def build_image(name: str) -> str:
    with tempfile.TemporaryDirectory() as context:
        Path(context, "payload").write_bytes(os.urandom(3 * 1024 * 1024))
        Path(context, "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
        sh("docker", "build", "-q", "-t", name, context,
           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return sh("docker", "image", "inspect", "-f", "{{.Id}}", name).stdout.strip()


def pull(name: str) -> str:
    sh("docker", "rmi", "-f", name, check=False)
    sh("docker", "pull", name, timeout=300)
    return sh("docker", "image", "inspect", "-f", "{{.Id}}", name).stdout.strip()


def proxy_requests(stack: "Stack") -> dict[str, int]:
    """Per running proxy task: the requests its nginx logged (access log on stdout)."""
    return {stack.container(t): Stack.logs(stack.container(t)).count('HTTP/1.1"')
            for t in stack.running("proxy")}


def _connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def env_value(env_file: bytes, name: str) -> str:
    for line in env_file.decode().splitlines():
        if line.startswith(name + "="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} is not in the env file")


def realm_of(header: str) -> str:
    match = re.search(r'realm="([^"]+)"', header)
    assert match, header
    return match.group(1)
