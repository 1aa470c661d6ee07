"""harbor-log (rsyslog): logrotate.conf and rsyslog_docker.conf."""

from ..files import template_file


def files(s, keys, paths):
    external = s.on("log.external_endpoint")
    return [
        template_file("config/log/logrotate.conf", "logrotate.conf.j2",
                      rotate_count=s["log.local.rotate_count"],
                      rotate_size=s["log.local.rotate_size"]),
        template_file("config/log/rsyslog_docker.conf", "rsyslog_docker.conf.j2",
                      external=external, host=s["log.external_endpoint.host"],
                      port=s["log.external_endpoint.port"],
                      protocol=s["log.external_endpoint.protocol"]),
    ]
