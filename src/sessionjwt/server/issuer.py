"""Which URL ``sessionjwt serve`` names as the issuer (``iss``) when none is configured.

A wrong issuer fails silently: tokens verify at the issuer itself, and every resource server
that checks ``iss`` against the URL it was given refuses them. So an unset issuer follows the
bind address on a loopback interface (development), and a public bind refuses to start: only
the operator knows the URL clients reach through proxies and TLS."""

from __future__ import annotations

import ipaddress

from sessionjwt.errors import ConfigurationError
from sessionjwt.settings import Settings

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_url(host: str, port: int) -> str:
    """``http://host:port`` with an IPv6 literal in brackets (RFC 3986 §3.2.2)."""
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}"


def serving_issuer(settings: Settings, host: str, port: int) -> tuple[str, bool]:
    """The issuer to serve as, and whether it was derived from the bind address."""
    if "issuer" in settings.model_fields_set:
        return settings.issuer, False
    if not is_loopback(host):
        raise ConfigurationError(
            f"serving on {host} needs SESSIONJWT_ISSUER, the public URL clients reach (for "
            'example https://auth.example.com): access tokens name it as "iss" and resource '
            "servers refuse any other"
        )
    return bind_url(host, port), True
