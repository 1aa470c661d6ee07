"""What a generation publishes must agree with itself: every secret two components share is
equal in both files, the registry's htpasswd verifies against the password core and
jobservice send, and the registry's token certificate is core's signing key's.

generate() checks the files it is about to publish (a failure is a bug: nothing is
published); tests read a published tree with problems().
"""

from __future__ import annotations

from .marker import verdict

REGISTRY_PASSWD = "config/registry/passwd"

# (variable, the env files that carry it when they exist)
SHARED = (
    ("CORE_SECRET", ("config/core/env", "config/jobservice/env", "config/registryctl/env")),
    ("JOBSERVICE_SECRET", ("config/core/env", "config/jobservice/env",
                           "config/registryctl/env")),
    ("REGISTRY_CREDENTIAL_PASSWORD", ("config/core/env", "config/jobservice/env")),
)
_DATABASE_PASSWORD = (("config/core/env", "POSTGRESQL_PASSWORD"),
                      ("config/exporter/env", "HARBOR_DATABASE_PASSWORD"))


class Inconsistent(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("the generation would not agree with itself: " + "; ".join(problems))
        self.problems = problems


def env(data: bytes | None) -> dict[str, str]:
    result = {}
    for line in (data or b"").decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition("=")
        if sep:
            result[name] = value
    return result


def problems(read, verified: frozenset[str] = frozenset()) -> list[str]:
    """read(path inside the generation) -> bytes or None. Names files and variables, never
    a value. verified: verdicts (keys.verdict) of checks passed before, not repeated."""
    found = []
    envs = {}

    def env_of(path: str) -> dict[str, str] | None:
        if path not in envs:
            data = read(path)
            envs[path] = None if data is None else env(data)
        return envs[path]

    for variable, paths in SHARED:
        values = {p: env_of(p).get(variable) for p in paths if env_of(p) is not None}
        if len(set(values.values())) > 1:
            found.append(f"{variable} differs between " + ", ".join(sorted(values)))
    core, db = env_of("config/core/env"), env_of("config/db/env")
    if core is not None and db is not None and core.get("POSTGRESQL_HOST") == "postgresql":
        others = {p: (env_of(p) or {}).get(v) for p, v in _DATABASE_PASSWORD if env_of(p)}
        if {db.get("POSTGRES_PASSWORD")} != set(others.values()):
            found.append("the database password differs between config/db/env and "
                         + ", ".join(sorted(others)))
    if core is not None:
        found += _htpasswd_problems(read(REGISTRY_PASSWD),
                                    core.get("REGISTRY_CREDENTIAL_USERNAME", ""),
                                    core.get("REGISTRY_CREDENTIAL_PASSWORD", ""))
    found += _token_problems(read("secret/core/private_key.pem"), read("secret/registry/root.crt"),
                             verified)
    return found


def htpasswd_verifies(entry: bytes, user: str, password: str) -> bool:
    import bcrypt

    for line in entry.splitlines():
        name, sep, hashed = line.partition(b":")
        if sep and name.decode("utf-8", "replace") == user:
            try:
                return bcrypt.checkpw(password.encode(), hashed.strip())
            except ValueError:
                return False
    return False


def _htpasswd_problems(entry: bytes | None, user: str, password: str) -> list[str]:
    if entry is None:
        return [f"{REGISTRY_PASSWD} is missing"]
    if not htpasswd_verifies(entry, user, password):
        return [f"{REGISTRY_PASSWD} does not verify against the REGISTRY_CREDENTIAL_PASSWORD "
                "of config/core/env"]
    return []


def token_verdict(key: bytes, cert: bytes) -> str:
    return verdict("token pair", key, cert)


def _token_problems(key: bytes | None, cert: bytes | None, verified=frozenset()) -> list[str]:
    if key is None and cert is None:
        return []
    if key is not None and cert is not None and token_verdict(key, cert) in verified:
        return []
    from . import pki

    try:
        if key is not None and cert is not None and pki.key_matches(cert, key, trusted=True):
            return []
    except ValueError:
        pass
    return ["secret/registry/root.crt is not the certificate of secret/core/private_key.pem"]


def check(files, verified: frozenset[str] = frozenset()) -> set[str]:
    """Raises Inconsistent for files (wrapper.files.File) that do not agree; returns the
    verdicts to record in the marker."""
    by_path = {f.path: f.content for f in files}
    found = problems(by_path.get, verified)
    if found:
        raise Inconsistent(found)
    key, cert = by_path.get("secret/core/private_key.pem"), by_path.get("secret/registry/root.crt")
    return {token_verdict(key, cert)} if key is not None and cert is not None else set()
