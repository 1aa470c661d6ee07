"""HARBOR_TRUSTED_CA_FILES: CA certificates Harbor's components trust, checked, installed
through /harbor_cust_cert (the trust bundle every image's install_cert.sh reads), shown by
`status`."""

import json
from pathlib import Path

import pytest
from cryptography import x509

from support import run_wrapper
from wrapper import pki
from wrapper.settings import InvalidSettings, load

BASE = {"HARBOR_HOSTNAME": "harbor.example.test"}
NAME = "HARBOR_TRUSTED_CA_FILES"


@pytest.fixture(scope="module")
def pems():
    ca_key, ca = pki.new_ca("LDAPS test CA", 30)
    other_key, other = pki.new_ca("object storage CA", 30)
    leaf = pki.issue(ca_key, ca, pki.new_ec_key(), "ldap.example.test", ["ldap.example.test"], 30)
    return {"ca": ca, "other": other, "leaf": leaf}


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def errors_of(variables):
    with pytest.raises(InvalidSettings) as caught:
        load({**BASE, **variables})
    return [e for e in caught.value.errors if e.startswith(NAME)]


def test_ca_files_reach_the_bundle_core_jobservice_registry_and_trivy_read(tmp_path, pems, out):
    files = f"{write(tmp_path, 'ldap-ca.crt', pems['ca'])},{write(tmp_path, 'o.pem', pems['other'])}"
    result = run_wrapper(["generate", "--out", str(out)], {**BASE, NAME: files})
    assert result.returncode == 0, result.stderr
    bundle = (out / "current" / "config/shared/trust-bundle.crt").read_bytes()
    got = {c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(bundle)}
    assert got == {"CN=LDAPS test CA,O=harbor-setupwrapper",
                   "CN=object storage CA,O=harbor-setupwrapper"}
    status = run_wrapper(["status", "--out", str(out), "--json"], {})
    trusted = [c for c in json.loads(status.stdout)["certificates"] if c["role"] == "trusted CA"]
    assert sorted(c["subject"] for c in trusted) == sorted(got)
    assert {c["variable"] for c in trusted} == {NAME}
    text = run_wrapper(["status", "--out", str(out)], {}).stdout
    assert "trusted CA (from HARBOR_TRUSTED_CA_FILES)" in text


def test_without_the_variable_the_bundle_is_empty(out):
    assert run_wrapper(["generate", "--out", str(out)], BASE).returncode == 0
    assert (out / "current" / "config/shared/trust-bundle.crt").read_bytes() == b""


def test_a_changed_file_at_the_same_path_is_seen_by_the_rerun(tmp_path, pems, out):
    path = write(tmp_path, "ca.crt", pems["ca"])
    assert run_wrapper(["generate", "--out", str(out)], {**BASE, NAME: path}).returncode == 0
    write(tmp_path, "ca.crt", pems["other"])
    assert run_wrapper(["generate", "--out", str(out)], {**BASE, NAME: path}).returncode == 0
    bundle = (out / "current" / "config/shared/trust-bundle.crt").read_bytes()
    assert bundle == pems["other"]


def test_what_is_not_a_ca_certificate_is_refused_naming_the_file(tmp_path, pems):
    leaf = write(tmp_path, "server.crt", pems["leaf"])
    key = write(tmp_path, "server.key", pki.new_ec_key())
    mixed = write(tmp_path, "mixed.pem", pems["ca"] + pems["leaf"])
    missing = str(tmp_path / "absent.crt")
    good = write(tmp_path, "ca.crt", pems["ca"])
    errors = errors_of({NAME: ",".join([good, leaf, key, mixed, missing])})
    assert len(errors) == 4  # all at once, the good one not among them
    for path, why in ((leaf, "is not a CA"), (key, "holds no PEM certificate"),
                      (mixed, "is not a CA"), (missing, "cannot read")):
        (message,) = [e for e in errors if Path(path).name in e]
        assert why in message and "accepted: PEM files of CA certificates" in message


def test_refused_input_writes_nothing(tmp_path, pems, out):
    leaf = write(tmp_path, "server.crt", pems["leaf"])
    result = run_wrapper(["generate", "--out", str(out)], {**BASE, NAME: leaf})
    assert result.returncode == 2 and "server.crt" in result.stderr
    assert not (out / "current").exists()
