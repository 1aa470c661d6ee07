"""harbor-portal: its own nginx.conf."""

from ..files import template_file


def files(s, keys, paths):
    return [template_file("config/portal/nginx.conf", "portal-nginx.conf.j2",
                          internal_tls=s.on("internal_tls"),
                          ipv4=s["ip_family.ipv4.enabled"], ipv6=s["ip_family.ipv6.enabled"],
                          strong_ciphers=_strong(s), paths=paths)]


def _strong(s) -> bool:
    return bool(s["https.strong_ssl_ciphers"] or s["internal_tls.strong_ssl_ciphers"])
