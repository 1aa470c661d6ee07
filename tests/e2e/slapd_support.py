"""A real LDAP server for the end-to-end tests: Debian's slapd on this host, LDAPS only, with a
certificate from a test CA, listening on the address containers reach the host by
(Docker's host-gateway: the default bridge's gateway). Installed by tests/run.sh."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from wrapper import pki

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SUFFIX = "dc=e2e,dc=test"
HOSTNAME = "ldap.e2e.test"  # the name core uses; the test maps it to host-gateway
SEARCH_DN = f"cn=harbor-search,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"


def host_gateway() -> str:
    """The address Docker's host-gateway stands for: the default bridge's gateway."""
    out = subprocess.run(["docker", "network", "inspect", "bridge", "-f",
                          "{{range .IPAM.Config}}{{.Gateway}}{{end}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out or "172.17.0.1"


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class Slapd:
    def __init__(self, users: dict[str, str], search_password: str):
        if not os.access(SLAPD, os.X_OK):
            raise RuntimeError(f"{SLAPD} is missing: tests/run.sh installs Debian's slapd")
        self.users, self.search_password = users, search_password
        self.dir = Path(tempfile.mkdtemp(prefix="e2e-slapd-"))
        self.address = host_gateway()
        self.port = free_port(self.address)
        self.ca_key, self.ca = pki.new_ca("e2e LDAPS test CA", 2)
        key = pki.new_ec_key()
        cert = pki.issue(self.ca_key, self.ca, key, HOSTNAME, [HOSTNAME], 2)
        for name, data in (("ca.crt", self.ca), ("server.crt", cert), ("server.key", key)):
            (self.dir / name).write_bytes(data)
        (self.dir / "server.key").chmod(0o600)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ldaps://{HOSTNAME}:{self.port}"

    def _config(self) -> str:
        d = self.dir
        return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
olcTLSCACertificateFile: {d}/ca.crt
olcTLSCertificateFile: {d}/server.crt
olcTLSCertificateKeyFile: {d}/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcDbDirectory: {d}/data
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""

    def _data(self) -> str:
        entries = [f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: e2e
o: e2e
""", f"""dn: {PEOPLE}
objectClass: organizationalUnit
ou: people
""", f"""dn: {SEARCH_DN}
objectClass: person
cn: harbor-search
sn: search
userPassword: {self.search_password}
"""]
        for uid, password in self.users.items():
            entries.append(f"""dn: uid={uid},{PEOPLE}
objectClass: inetOrgPerson
uid: {uid}
cn: {uid}
sn: {uid}
mail: {uid}@e2e.test
userPassword: {password}
""")
        return "\n".join(entries)

    def start(self) -> "Slapd":
        conf, data = self.dir / "slapd.d", self.dir / "data"
        conf.mkdir()
        data.mkdir()
        (self.dir / "config.ldif").write_text(self._config())
        (self.dir / "data.ldif").write_text(self._data())
        for args in (["-n0", "-l", str(self.dir / "config.ldif")],
                     ["-n1", "-l", str(self.dir / "data.ldif")]):
            subprocess.run([SLAPADD, "-F", str(conf), *args], check=True, capture_output=True)
        log = open(self.dir / "slapd.log", "wb")
        # -d: stay in the foreground (the test owns the process); 256: connections and ops
        self.process = subprocess.Popen(
            [SLAPD, "-d", "256", "-F", str(conf), "-h", f"ldaps://{self.address}:{self.port}/"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((self.address, self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"slapd did not start: {self.log()[-2000:]}")
                time.sleep(0.2)

    def log(self) -> str:
        try:
            return (self.dir / "slapd.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
