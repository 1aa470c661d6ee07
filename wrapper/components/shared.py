"""Files several components share: trusted CAs and the internal TLS certificates."""

from .. import context as ctx
from .. import internal_tls
from ..files import File

TRUST = "config/shared/trust-certificates/"
# one file that always exists, for the static link in /harbor_cust_cert (see fixed_paths.py)
TRUST_BUNDLE = "config/shared/trust-bundle.crt"


def trusted_ca_key(index: int) -> str:
    """Where validation keeps the content of the index-th HARBOR_TRUSTED_CA_FILES file."""
    return f"trusted_ca_files[{index}]"


def files(s, keys, paths):
    trusted = {}
    if s.on("internal_tls"):
        trusted["harbor_internal_ca.crt"] = keys.internal_ca
    if s["storage_service.ca_bundle"]:
        trusted["storage_ca_bundle.crt"] = s.input_files["storage_service.ca_bundle"]
    if s.on("external_redis") and s["external_redis.tlsOptions.enable"] and s[
            "external_redis.tlsOptions.rootCA"]:
        trusted["redis_tls_ca.crt"] = s.input_files["external_redis.tlsOptions.rootCA"]
    brought = [s.input_files[trusted_ca_key(i)] for i in range(len(s["trusted_ca_files"]))]
    if brought:
        trusted["trusted_ca_files.crt"] = b"".join(
            data if data.endswith(b"\n") else data + b"\n" for data in brought)
    out = [File(TRUST + name, data, 0o644) for name, data in trusted.items()]
    bundle = b"".join(data if data.endswith(b"\n") else data + b"\n" for data in trusted.values())
    out.append(File(TRUST_BUNDLE, bundle, 0o644))
    stems = internal_tls.stems(s["with_trivy"], not s.on("external_database")) if s.on(
        "internal_tls") else []
    for stem in stems:
        cert, key = keys.internal[stem]
        uid = ctx.DB_UID if stem == "harbor_db" else ctx.HARBOR_UID
        out.append(File(f"secret/tls/{stem}.crt", cert, 0o644, uid, uid))
        out.append(File(f"secret/tls/{stem}.key", key, 0o600, uid, uid))
    if stems:
        out.append(File(f"secret/tls/{internal_tls.CA}.crt", keys.internal_ca, 0o644))
    return out
