"""Where a request comes from, as recorded on sessions and audit rows."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from sessionjwt.settings import IPNetwork

MAX_USER_AGENT = 512


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None
    # The known-device token the client presented (sessionjwt.accounts.known_devices): read
    # by password sign-in only, never recorded.
    known_device: str | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls, ip: str | None, user_agent: str | None, known_device: str | None = None
    ) -> ClientInfo:
        agent = user_agent[:MAX_USER_AGENT] if user_agent else None
        return cls(ip=ip, user_agent=agent, known_device=known_device)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]
) -> str | None:
    """The client address: the peer, unless the peer is a trusted proxy.

    Then ``X-Forwarded-For`` is walked from the right, skipping trusted proxies, and the first
    untrusted hop is the client; anything left of it is attacker-controlled and ignored.
    """
    if peer is None or not forwarded_for or not _trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # garbage in the header: fall back to what we saw ourselves
        if not _trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, trusted_proxies: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)
