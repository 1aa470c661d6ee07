"""Names of the internal TLS certificates, as `prepare gencert` makes them."""

CA = "harbor_internal_ca"

# file stem -> the service name it must carry as SAN (and CN)
CERTIFICATES = {
    "proxy": "proxy",
    "portal": "portal",
    "core": "core",
    "job_service": "jobservice",
    "registry": "registry",
    "registryctl": "registryctl",
    "trivy_adapter": "trivy-adapter",
    "harbor_db": "harbor_db",
}


def stems(with_trivy: bool, internal_db: bool) -> list[str]:
    return [stem for stem in CERTIFICATES
            if (stem != "trivy_adapter" or with_trivy) and (stem != "harbor_db" or internal_db)]


def REQUIRED_FILES(with_trivy: bool, internal_db: bool) -> list[str]:
    files = [f"{CA}.crt"]
    for stem in stems(with_trivy, internal_db):
        files += [f"{stem}.crt", f"{stem}.key"]
    return files
