"""The proxy (nginx): nginx.conf and, for https, the server certificate."""

from ..files import File, template_file
from .portal import _strong


def files(s, keys, paths):
    out = [template_file(
        "config/nginx/nginx.conf", "proxy-nginx.conf.j2",
        https=s.https, internal_tls=s.on("internal_tls"),
        ipv4=s["ip_family.ipv4.enabled"], ipv6=s["ip_family.ipv6.enabled"],
        strong_ciphers=_strong(s), https_port=s["https.port"], resolver=s["nginx_resolver"],
        metric=s.on("metric"), metric_port=s["metric.port"], metric_path=s["metric.path"],
        acme_challenges=f"{paths.out}/.acme-challenge" if s.on("acme") else None,
        paths=paths)]
    if s.https:
        out += [File("secret/cert/server.crt", keys.https_cert, 0o600),
                File("secret/cert/server.key", keys.https_key, 0o600)]
        if keys.https_ca:
            # what Harbor's "download root certificate" button serves (/etc/core/ca/ca.crt)
            out.append(File("secret/cert/ca.crt", keys.https_ca, 0o644))
    return out
