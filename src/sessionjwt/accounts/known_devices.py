"""Known devices (OWASP's "device cookies"): a browser that signed in before keeps its turn
while its account is under a distributed attack.

Past the per-account ceiling (:mod:`sessionjwt.accounts.throttle`) every address that fails
waits the full cap from its first failure — the real user's one typo from a new address
too. So a password sign-in hands out a *known-device token*,
``v1.<user id>.<device id>.<expiry>.<mac>``: HMAC-SHA256, under a key derived from the master
key (HKDF, purpose ``known-device``), over those fields and the account it signed in as.
Presented on a later attempt at the *same* account before it expires, it lifts the
account-wide ceiling for that attempt only — never the per-address limit nor the (account,
address) pair's own escalating delay. Each device id may fail ``max_failures`` times; after
that it counts as unknown, until a successful sign-in hands out a new one.

Verified with every configured master key (the current one signs), so a master-key rotation
keeps devices known while the previous key is still configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sessionjwt.clock import Clock
from sessionjwt.identifiers import new_identifier
from sessionjwt.support.ratelimit import Throttle

VERSION = "v1"
DEVICE_SCOPE = "login-device"  # failures of one known device
MAX_TOKEN_CHARS = 256


@dataclass(frozen=True, slots=True)
class KnownDevice:
    user_id: str
    device_id: str


class KnownDevices:
    def __init__(
        self,
        *,
        keys: Callable[[], Sequence[bytes]],
        clock: Clock,
        throttle: Throttle,
        ttl: float,
        max_failures: int,
    ) -> None:
        self._keys = keys  # signing key first; read on use, the master key loads at start
        self._clock = clock
        self._throttle = throttle
        self.ttl = int(ttl)
        self._failures = f"{max_failures}/{self.ttl} seconds"

    def issue(self, user_id: str, account: str) -> str:
        """A new token for a browser that just signed in to ``account`` as ``user_id``."""
        expires = int(self._clock.now()) + self.ttl
        fields = f"{VERSION}.{user_id}.{new_identifier(18)}.{expires}"
        return f"{fields}.{_mac(self._keys()[0], fields, account)}"

    async def recognise(self, token: str | None, account: str) -> KnownDevice | None:
        """The device, if ``token`` is ours, for ``account``, unexpired and not failed out."""
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return None
        fields, _, mac = token.rpartition(".")
        parts = fields.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not parts[3].isdigit():
            return None
        if not any(hmac.compare_digest(mac, _mac(key, fields, account)) for key in self._keys()):
            return None
        if int(parts[3]) <= self._clock.now():
            return None
        if not await self._throttle.allows(self._failures, DEVICE_SCOPE, parts[2]):
            return None
        return KnownDevice(user_id=parts[1], device_id=parts[2])

    async def failed(self, device: KnownDevice) -> None:
        """A wrong password from this device: one step closer to being unknown again."""
        await self._throttle.count(self._failures, DEVICE_SCOPE, device.device_id)


def _mac(key: bytes, fields: str, account: str) -> str:
    digest = hmac.new(key, f"{fields}\x00{account}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
