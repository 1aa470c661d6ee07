"""The compose file on Podman, rootful and rootless, end to end.

Compose v2 (the provider `podman compose` prefers) drives Podman through its Docker-compatible
socket (`podman system service`); the compose file is compose/docker-compose.yml with
compose/docker-compose.podman.yml. The stand-ins and the wrapper image come from the host's
Docker engine with `docker save | podman load`. Clients are Podman's own (`podman login`,
`push`, `pull`): unlike Docker they do not treat 127.0.0.0/8 as insecure, so TLS with the
generated CA is really checked.

Where this machine differs from a Podman host, the test adapts and prints why:
- PID 1 is not systemd: Podman runs health checks from systemd timers, so a thread runs
  `podman healthcheck run` as those timers would (without it `service_healthy` never comes).
- root here lacks CAP_SYS_RESOURCE: Podman's default rlimits (nofile 1048576) cannot be set,
  so the rootful service gets containers.conf default_ulimits equal to its own limits.
- /dev/net/tun is 0600 (udev makes it 0666): slirp4netns, rootless networking, needs it.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from compose_support import PASSWORD, Harbor
from e2e_support import BASE_IMAGE_NAME, REPO, host_lock, sh
from test_compose import DATA_VOLUMES

pytestmark = pytest.mark.podman_e2e

PODMAN_LOCK = "/tmp/podman.lock"
ROOTLESS_USER = "harbor-podman-e2e"
FILES = ("compose/docker-compose.yml", "compose/docker-compose.podman.yml")
UNIT = REPO / "compose/harbor-podman.service"
HEALTH_EVERY = 3  # seconds; the compose file's interval is 5 s
PORTS = {"rootful": (38080, 38443), "rootless": (39080, 39443)}


def _has_cap(bit: int) -> bool:
    with open("/proc/self/status") as f:
        eff = next(line for line in f if line.startswith("CapEff:")).split()[1]
    return bool(int(eff, 16) >> bit & 1)


def _limits(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/limits") as f:
        text = f.read()
    hard = {}
    for name, key in (("Max open files", "nofile"), ("Max processes", "nproc")):
        line = next(line for line in text.splitlines() if line.startswith(name))
        hard[key] = int(line[len(name):].split()[1])
    return hard


class Podman:
    """One Podman engine: root's, or a non-root user's (rootless), with its API socket."""

    def __init__(self, mode: str, workdir: Path):
        self.mode = mode
        self.workdir = workdir
        self.user = "root" if mode == "rootful" else ROOTLESS_USER
        self.conf = workdir / "containers.conf"
        self.service: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._checker: threading.Thread | None = None
        if mode == "rootless":
            self._make_user()
        entry = pwd.getpwnam(self.user)
        self.uid, self.home = entry.pw_uid, entry.pw_dir
        self.runtime = Path("/run") if mode == "rootful" else Path(f"/run/user/{self.uid}")
        self.socket = self.runtime / "podman/podman.sock"
        self.env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": self.home,
                    "USER": self.user, "CONTAINERS_CONF": str(self.conf),
                    "DOCKER_HOST": f"unix://{self.socket}"}
        if mode == "rootless":
            self.env["XDG_RUNTIME_DIR"] = str(self.runtime)
            # the user's own docker CLI configuration, not the lane's root-only one (Podman
            # reads config.json where DOCKER_CONFIG says, and fails when it is missing)
            docker_config = Path(self.home, ".docker")
            docker_config.mkdir(exist_ok=True)
            if not (docker_config / "config.json").exists():
                (docker_config / "config.json").write_text("{}\n")
            sh("chown", "-R", f"{self.user}:", str(docker_config))
            self.env["DOCKER_CONFIG"] = str(docker_config)
            self.runtime.mkdir(mode=0o700, exist_ok=True)
            os.chown(self.runtime, self.uid, self.uid)
            config = Path(self.home, ".config/containers")
            config.mkdir(parents=True, exist_ok=True)
            # native overlay (kernel >= 5.13); Podman 4.3 picks vfs here otherwise: a full
            # copy of every layer of every image
            (config / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
            sh("chown", "-R", f"{self.user}:", str(Path(self.home, ".config")))
        # netavark + aardvark-dns (as on RHEL): service names resolve; Podman 4.3 keeps CNI
        # once it was used without netavark, and CNI without the dnsname plugin has no DNS
        self.conf.write_text('[network]\nnetwork_backend = "netavark"\n')
        os.chmod(self.conf, 0o644)

    def _make_user(self) -> None:
        if subprocess.run(["id", ROOTLESS_USER], capture_output=True).returncode != 0:
            sh("useradd", "-m", "-s", "/bin/sh", ROOTLESS_USER)
        for table in ("/etc/subuid", "/etc/subgid"):
            if not re.search(rf"^{ROOTLESS_USER}:", Path(table).read_text(), re.M):
                flag = "--add-subuids" if table.endswith("uid") else "--add-subgids"
                sh("usermod", flag, "300000-365535", ROOTLESS_USER)
        tun = Path("/dev/net/tun")
        if tun.exists() and tun.stat().st_mode & 0o006 != 0o006:
            print(f"\n[podman] {tun} is {tun.stat().st_mode & 0o777:o} here (udev makes it 0666); "
                  "slirp4netns needs it: chmod 0666")
            os.chmod(tun, 0o666)

    def subids(self) -> tuple[int, int]:
        """The first sub-uid and how many (from /etc/subuid)."""
        for line in Path("/etc/subuid").read_text().splitlines():
            name, start, count = line.split(":")
            if name == self.user:
                return int(start), int(count)
        raise AssertionError(f"no /etc/subuid entry for {self.user}")

    def argv(self, *cmd: str) -> list[str]:
        if self.mode == "rootful":
            return ["env", *(f"{k}={v}" for k, v in self.env.items()), *cmd]
        return ["runuser", "-u", self.user, "--", "env",
                *(f"{k}={v}" for k, v in self.env.items()), *cmd]

    def run(self, *cmd: str, check: bool = True, timeout: float = 600, input: str | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
        argv = self.argv(*cmd)
        if env:  # after the engine's own, so that they win
            at = argv.index("env") + 1 + len(self.env)
            argv[at:at] = [f"{k}={v}" for k, v in env.items()]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                input=input, cwd=self.home)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} ({self.mode}) failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def podman(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run("podman", *args, **kw)

    def start(self) -> None:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        if self.mode == "rootless":
            os.chown(self.socket.parent, self.uid, self.uid)
        self._start_service()
        if self.mode == "rootful" and not _has_cap(24):  # CAP_SYS_RESOURCE
            limits = _limits(self.service.pid)
            print(f"\n[podman] root here lacks CAP_SYS_RESOURCE: Podman's default rlimits "
                  f"cannot be set; default_ulimits = the service's own {limits}")
            self.stop_service()
            self.conf.write_text(
                '[containers]\ndefault_ulimits = ['
                f'"nofile={limits["nofile"]}:{limits["nofile"]}", '
                f'"nproc={limits["nproc"]}:{limits["nproc"]}"]\n'
                '[network]\nnetwork_backend = "netavark"\n')
            self._start_service()
        if not Path("/run/systemd/system").exists():
            print("\n[podman] PID 1 is not systemd: Podman's health-check timers cannot run; "
                  f"a thread runs `podman healthcheck run` every {HEALTH_EVERY}s instead")
            self._checker = threading.Thread(target=self._health_checks, daemon=True)
            self._checker.start()

    def _start_service(self) -> None:
        log = open(self.workdir / f"service-{self.mode}.log", "a")
        self.service = subprocess.Popen(
            self.argv("podman", "system", "service", "--time=0", f"unix://{self.socket}"),
            stdout=log, stderr=log, cwd=self.home, start_new_session=True)
        deadline = time.monotonic() + 30
        while self.run("docker", "version", check=False, timeout=30).returncode != 0:
            assert self.service.poll() is None, (self.workdir / f"service-{self.mode}.log").read_text()
            assert time.monotonic() < deadline, "podman system service did not answer in 30s"
            time.sleep(0.5)

    def stop_service(self) -> None:
        if self.service and self.service.poll() is None:
            os.killpg(self.service.pid, 15)  # the session this test started for it
            self.service.wait(timeout=30)

    def _health_checks(self) -> None:
        while not self._stop.wait(HEALTH_EVERY):
            ids = self.podman("ps", "-q", "--filter", "health=starting", "--filter",
                              "health=healthy", "--filter", "health=unhealthy",
                              check=False).stdout.split()
            for cid in ids:
                self.podman("healthcheck", "run", cid, check=False, timeout=60)

    def stop(self) -> None:
        self._stop.set()
        if self._checker:
            self._checker.join(timeout=120)
        self.stop_service()

    def load(self, archive: Path) -> float:
        """`podman load` of a `docker save` archive; returns seconds."""
        started = time.monotonic()
        with open(archive, "rb") as stream:
            load = subprocess.run(self.argv("podman", "load"), stdin=stream, capture_output=True,
                                  text=True, cwd=self.home, timeout=1200)
        assert load.returncode == 0, load.stderr
        return time.monotonic() - started


class PodmanHarbor(Harbor):
    """compose_support's Harbor, on a Podman engine: compose v2 over Podman's socket, volumes
    read through `podman run`, Podman's clients with the CA in a --cert-dir."""

    def __init__(self, project: str, engine: Podman, wrapper_image: str):
        super().__init__(project, wrapper_image, FILES)
        self.engine = engine
        http, https = PORTS[engine.mode]
        self.env = {k: v for k, v in self.env.items() if k.startswith(("HARBOR_", "COMPOSE_"))}
        self.env.update({"HARBOR_HTTP_PORT": str(http), "HARBOR_HTTPS_PORT": str(https),
                         "COMPOSE_PROJECT_NAME": project})
        self.https_port = https
        # the compose files where the engine's user can read them (a checkout under /root is not)
        self.dir = engine.workdir / f"checkout-{project}"
        (self.dir / "compose").mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copy(REPO / name, self.dir / name)
        self.cert_dir = self.dir / "certs"
        self.cert_dir.mkdir(exist_ok=True)
        sh("chown", "-R", f"{engine.user}:", str(self.dir))
        sh("chmod", "-R", "a+rX", str(engine.workdir))

    @property
    def host(self) -> str:
        return f"{self.env['HARBOR_HOSTNAME']}:{self.https_port}"

    def compose(self, *args: str, check: bool = True, timeout: float = 600):
        files = [a for name in self.files for a in ("-f", str(self.dir / name))]
        return self.command("docker", "compose", *files, *args, check=check, timeout=timeout)

    def command(self, *argv: str, check: bool = True, timeout: float = 600):
        """A command as the engine's user, in the checkout, with this Harbor's variables."""
        return self.engine.run("sh", "-c", f'cd {shlex.quote(str(self.dir))} && exec "$@"', "sh",
                               *argv, check=check, timeout=timeout, env=self.env)

    def volume_file(self, path: str) -> bytes:
        result = subprocess.run(self.engine.argv(
            "podman", "run", "--rm", "--network", "none", "-v", f"{self.project}_harbor-setup:/h:ro",
            "--entrypoint", "cat", f"localhost/{BASE_IMAGE_NAME}", f"/h/{path}"),
            capture_output=True, timeout=120, cwd=self.engine.home)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def data_volumes(self, names) -> dict[str, str]:
        names = sorted(names)
        mounts = [a for name in names for a in ("-v", f"{self.project}_{name}:/v/{name}:ro")]
        out = self.engine.podman("run", "--rm", "--network", "none", *mounts, "--entrypoint",
                                 "stat", f"localhost/{BASE_IMAGE_NAME}", "-c", "%u:%g %04a",
                                 *(f"/v/{name}" for name in names)).stdout
        return dict(zip(names, out.split("\n")))

    def host_owners(self, names) -> dict[str, str]:
        """volume -> "uid:gid" of its top folder as the host sees it."""
        owners = {}
        for name in names:
            mount = self.engine.podman("volume", "inspect", "-f", "{{.Mountpoint}}",
                                       f"{self.project}_{name}").stdout.strip()
            st = os.stat(mount)
            owners[name] = f"{st.st_uid}:{st.st_gid}"
        return owners

    def trust_ca(self) -> bytes:
        self.compose("cp", "setupwrapper:/harbor-setup/secret/cert/ca.crt",
                     str(self.cert_dir / "ca.crt"))
        ca = (self.cert_dir / "ca.crt").read_bytes()
        assert ca == self.volume_file("secret/cert/ca.crt")
        return ca

    def login(self, timeout: float = 240, cert_dir: Path | None = None) -> float:
        started = time.monotonic()
        while True:
            result = self.engine.podman(
                "login", "--cert-dir", str(cert_dir or self.cert_dir), "-u", "admin",
                "--password-stdin", self.host, check=False, input=PASSWORD, timeout=60)
            if result.returncode == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout or cert_dir:
                raise AssertionError(f"podman login failed: {result.stderr}")
            time.sleep(2)

    def push_and_pull(self, tag: str) -> None:
        image = f"{self.host}/library/e2e:{tag}"
        context = self.dir / f"image-{tag}"
        context.mkdir(exist_ok=True)
        (context / "payload").write_bytes(os.urandom(3 * 1024 * 1024))
        (context / "Containerfile").write_text("FROM scratch\nCOPY payload /payload\n")
        sh("chmod", "-R", "a+rX", str(context))
        self.engine.podman("build", "-q", "-t", image, str(context))
        digest = self.engine.podman("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()
        self.engine.podman("push", "--cert-dir", str(self.cert_dir), image, timeout=300)
        self.engine.podman("rmi", image)
        self.pull(tag)
        assert self.engine.podman("image", "inspect", "-f", "{{.Id}}", image).stdout.strip() == digest

    def pull(self, tag: str) -> None:
        image = f"{self.host}/library/e2e:{tag}"
        self.engine.podman("rmi", "-f", image, check=False)
        self.engine.podman("pull", "--cert-dir", str(self.cert_dir), image, timeout=300)

    def states(self) -> dict[str, str]:
        """service -> its container's state, of this project's containers."""
        out = self.engine.podman("ps", "-a", "--format", "json", "--filter",
                                 f"label=com.docker.compose.project={self.project}").stdout
        return {c["Labels"]["com.docker.compose.service"]: c["State"]
                for c in json.loads(out or "[]")}


def unit_commands() -> tuple[dict[str, str], list[str], list[str]]:
    """The unit file's Environment=, ExecStart= and ExecStop= (with %t left for the caller)."""
    env, start, stop = {}, [], []
    for line in UNIT.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            name, _, val = value.partition("=")
            env[name] = val
        elif key == "ExecStart":
            start = shlex.split(value)
        elif key == "ExecStop":
            stop = shlex.split(value)
    return env, start, stop


@pytest.fixture(scope="module")
def podman_lock():
    with host_lock("podman end-to-end tests", PODMAN_LOCK):
        yield


@pytest.fixture(scope="module")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="harbor-podman-e2e-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def standin_archive(request, workdir) -> tuple[Path, dict, str]:
    """The stand-ins and the wrapper image, built on the host's Docker engine and saved, under
    its lock (held only for this): (archive, {name: stand-in}, wrapper image)."""
    with host_lock("stand-in builds and docker save for podman"):
        standins = request.getfixturevalue("standins")
        wrapper = request.getfixturevalue("wrapper_image")
        archive = workdir / "images.tar"
        started = time.monotonic()
        sh("docker", "save", "-o", str(archive), BASE_IMAGE_NAME, wrapper, *standins.values(),
           timeout=1200)
    os.chmod(archive, 0o644)
    print(f"\n[podman] docker save of {len(standins) + 2} images: "
          f"{time.monotonic() - started:.0f}s, {archive.stat().st_size / 1e6:.0f} MB")
    return archive, standins, wrapper


@pytest.fixture(scope="module", params=["rootful", "rootless"])
def engine(request, podman_lock, workdir, standin_archive):
    engine = Podman(request.param, workdir)
    engine.start()
    request.addfinalizer(engine.stop)
    took = engine.load(standin_archive[0])
    print(f"\n[podman] {request.param}: podman load: {took:.0f}s")
    probe = engine.podman("run", "--rm", f"localhost/{BASE_IMAGE_NAME}", "true", check=False)
    if (probe.returncode != 0 and request.param == "rootless"
            and re.search(r"user namespace|unshare|uid_map", probe.stderr, re.I)):
        pytest.skip(f"this kernel refuses rootless containers: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr
    return engine


def test_lifecycle(engine, standin_archive):
    h = PodmanHarbor(f"harborpm{engine.mode}", engine, standin_archive[2])
    h.compose("down", "-v", "--remove-orphans", check=False)
    try:
        started = time.monotonic()
        h.compose("up", "-d", timeout=900)
        ca = h.trust_ca()
        first_login = h.login()
        print(f"\n[podman] {engine.mode}: from `docker compose up` to the first login: "
              f"{time.monotonic() - started:.1f}s (login retried for {first_login:.1f}s)")
        # Podman's client checks the certificate: without the CA the login fails
        empty = h.dir / "no-ca"
        empty.mkdir(exist_ok=True)
        with pytest.raises(AssertionError, match="x509|certificate"):
            h.login(cert_dir=empty)

        h.push_and_pull("1")
        keys = h.keys()
        # the data volumes belong to the images' users as seen inside the user namespace
        assert h.data_volumes(DATA_VOLUMES) == DATA_VOLUMES
        owners = h.host_owners(DATA_VOLUMES)
        if engine.mode == "rootless":
            first, _ = engine.subids()
            expected = {name: ":".join(str(first + int(i) - 1) for i in spec.split()[0].split(":"))
                        for name, spec in DATA_VOLUMES.items()}
            print(f"\n[podman] rootless: data volumes on the host: {owners} "
                  f"(sub-ids from {first}: container id N is host id {first}+N-1)")
            assert owners == expected
        else:
            assert owners == {n: spec.split()[0] for n, spec in DATA_VOLUMES.items()}

        h.compose("restart", timeout=600)
        h.login()
        h.pull("1")
        assert h.keys() == keys

        # down + up with the systemd unit's own commands (its project name replaced by ours)
        unit_env, exec_start, exec_stop = unit_commands()
        unit_env["DOCKER_HOST"] = unit_env["DOCKER_HOST"].replace("%t", str(engine.runtime))
        unit_env["COMPOSE_FILE"] = ":".join(str(h.dir / f) for f in unit_env["COMPOSE_FILE"].split(":"))
        unit_env["COMPOSE_PROJECT_NAME"] = h.project
        saved = h.env
        h.env = {**saved, **unit_env}
        try:
            h.command(*exec_stop, timeout=600)
            assert not [s for s in h.states().values() if s == "running"]
            started = time.monotonic()
            h.command(*exec_start, timeout=900)
            h.login()
            print(f"\n[podman] {engine.mode}: the unit's ExecStart after its ExecStop, to a login: "
                  f"{time.monotonic() - started:.1f}s")
        finally:
            h.env = saved
        h.pull("1")
        assert h.keys() == keys
    finally:
        h.compose("down", "-v", "--remove-orphans", check=False)


def test_bad_variable_stops_everything_with_a_message(engine, standin_archive):
    h = PodmanHarbor(f"harborpm{engine.mode}bad", engine, standin_archive[2])
    h.env["HARBOR_LOG_LEVEL"] = "loud"
    h.compose("down", "-v", check=False)
    try:
        result = h.compose("up", "-d", check=False, timeout=600)
        assert result.returncode != 0
        logs = h.compose("logs", "setupwrapper").stdout
        assert "HARBOR_LOG_LEVEL" in logs and "accepted: one of debug" in logs, logs
        states = h.states()
        assert [s for s in states.values() if s == "running"] == [], states
        assert states["setupwrapper"] == "exited"
    finally:
        h.compose("down", "-v", check=False)


def test_image_contract_holds_in_podman_storage(engine, standin_archive):
    """`docker save | podman load` keeps what the image table says of each stand-in."""
    standins = standin_archive[1]
    table = yaml.safe_load((REPO / "tests/e2e/images/image-contract.yml").read_text())["images"]
    names = [n for n in table if n in standins]
    assert names and len(names) == len(standins), (sorted(table), sorted(standins))
    for name in names:
        facts = table[name]
        info = json.loads(engine.podman("image", "inspect", f"localhost/{standins[name]}").stdout)[0]
        config = info["Config"]
        assert config.get("User", "") == facts["user"], name
        assert config.get("Entrypoint") == facts["entrypoint"], name
        assert config.get("Cmd") == facts["cmd"], name
        assert config.get("WorkingDir", "") == facts["workdir"], name
        health = json.loads(engine.podman("image", "inspect", "-f", "{{json .HealthCheck}}",
                                          f"localhost/{standins[name]}").stdout) or {}
        assert health.get("Test") == facts["healthcheck"], name


def test_unit_file_verifies():
    """systemd's own check of compose/harbor-podman.service: nothing to report."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    with tempfile.TemporaryDirectory() as folder:
        unit = Path(folder, UNIT.name)
        # its WorkingDirectory is a checkout; here the repo is one
        unit.write_text(UNIT.read_text().replace("/opt/harbor-setupwrapper", str(REPO)))
        result = subprocess.run(["systemd-analyze", "verify", str(unit)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_docker_engine_still_works(podman_lock):
    """Last, after both Podman engines ran (netavark next to Docker's iptables): the Docker
    engine still runs containers on a network of its own, and they reach each other by name.
    Not per engine: each wait for the host lock in between would hold up the rootless part."""
    with host_lock("docker network check after podman"):
        assert sh("docker", "info", "-f", "{{.ServerVersion}}").stdout.strip()
        net = "harbor-podman-e2e-check"
        sh("docker", "network", "rm", net, check=False)
        sh("docker", "network", "create", net)
        try:
            sh("docker", "run", "-d", "--rm", "--name", f"{net}-a", "--network", net,
               BASE_IMAGE_NAME, "sleep", "60")
            out = sh("docker", "run", "--rm", "--network", net, BASE_IMAGE_NAME,
                     "getent", "hosts", f"{net}-a").stdout
            assert f"{net}-a" in out
        finally:
            sh("docker", "rm", "-f", f"{net}-a", check=False)
            sh("docker", "network", "rm", net, check=False)
