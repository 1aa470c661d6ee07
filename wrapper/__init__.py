"""harbor-setupwrapper: Harbor v2.15.2's configuration, keys and certificates, made once."""

__version__ = "0.1.0"
HARBOR_VERSION = "v2.15.2"
