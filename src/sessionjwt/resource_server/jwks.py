"""The issuer's public keys, fetched from its JWKS URL and nowhere else.

Only the configured URL is ever fetched: a token's ``jku``, ``x5u`` or ``jwk`` header is never
read (the decode policy in :mod:`sessionjwt.tokens.access` looks at ``kid``, ``alg``, ``typ``,
``crit`` and ``b64`` only). Each published key keeps the algorithm it was published with,
exactly like the issuer's own ring, and only asymmetric keys are taken: an ``oct`` (HMAC) key
in a JWKS would let anyone who can read the JWKS sign, so it is skipped.

When is the set fetched?

* at start, then periodically per the response's ``Cache-Control: max-age`` (clamped between
  the refetch floor and ``jwks_max_refresh_interval``);
* when a token names a ``kid`` not in the set, at most once per ``jwks_refetch_floor``
  (measured from the last fetch of any cause): a kid still unknown after that is refused with
  ``invalid_token`` and no further fetch, so random kids cannot turn us into a request pump;
* when the issuer announces a key-ring change on the Redis feed (``k:``), after at most
  ``jwks_keys_message_floor`` — never dropped, only delayed.

A failed fetch keeps the previous set (its keys were valid a moment ago; retired keys leave
it on the next successful fetch). A token whose key could not be fetched is answered with 503
``store_unavailable``, never accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import PyJWS
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError, PyJWKError

from sessionjwt.errors import StoreUnavailable
from sessionjwt.support.background import cancel_all

logger = logging.getLogger("sessionjwt.resource_server")

# Members that only a private (or symmetric) JWK carries: such a key is never taken.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MIN_RSA_BITS = 2048
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True, eq=False)
class PublishedKey:
    """One verification key from the JWKS: ``(kid, alg, public key)``, the algorithm pinned."""

    kid: str
    alg: str
    verifying_key: Any = field(repr=False)
    jws: PyJWS = field(repr=False)


class PublishedKeys:
    """An immutable verification set by ``kid``: what the access-token verifier looks keys up in."""

    def __init__(self, keys: Iterable[PublishedKey] = ()) -> None:
        self._by_kid: Mapping[str, PublishedKey] = {key.kid: key for key in keys}

    def get(self, kid: str) -> PublishedKey | None:
        return self._by_kid.get(kid)

    def is_retired(self, kid: str) -> bool:
        """A resource server only sees what is published: a retired kid is an unknown one."""
        return False

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._by_kid)

    def __len__(self) -> int:
        return len(self._by_kid)


def _public_key(jwk: Mapping[str, Any], alg: str) -> Any:
    """The public key of ``jwk`` for ``alg``, or ValueError if the JWK does not fit ``alg``."""
    if alg == "EdDSA":
        key: Any = OKPAlgorithm.from_jwk(dict(jwk))
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError("an EdDSA key must be an Ed25519 public key")
    elif alg == "ES256":
        key = ECAlgorithm.from_jwk(dict(jwk))
        if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
            raise ValueError("an ES256 key must be a P-256 public key")
    elif alg in ("PS256", "RS256"):
        key = RSAAlgorithm.from_jwk(dict(jwk))
        if not (isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS):
            raise ValueError(f"an {alg} key must be an RSA public key of at least 2048 bits")
    else:
        raise ValueError(f"algorithm {alg!r} is not accepted from a JWKS")
    return key


def parse_jwks(document: Any) -> PublishedKeys:
    """The usable keys of a JWKS document; unusable entries are skipped with a warning.

    A key must name its ``kid`` and its ``alg`` (one of EdDSA, ES256, PS256, RS256), be a
    signature key, carry public members only, and match its algorithm. A ``kid`` published
    twice is ambiguous and dropped altogether.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS is not a JSON object with a 'keys' list")
    keys: dict[str, PublishedKey] = {}
    duplicated: set[str] = set()
    for index, jwk in enumerate(document["keys"]):
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        try:
            if not isinstance(jwk, dict) or type(kid) is not str or not kid:
                raise ValueError("no kid")
            alg = jwk.get("alg")
            if type(alg) is not str:
                raise ValueError("no alg: this service never guesses a key's algorithm")
            if jwk.get("use", "sig") != "sig":
                raise ValueError("not a signature key")
            if not PRIVATE_MEMBERS.isdisjoint(jwk):
                raise ValueError("private or symmetric key material")
            public = _public_key(jwk, alg)
        except (ValueError, TypeError, InvalidKeyError, PyJWKError) as error:
            logger.warning("JWKS entry %d (kid %.64r) skipped: %s", index, kid, error)
            continue
        if kid in keys:
            duplicated.add(kid)
        keys[kid] = PublishedKey(kid, alg, public, PyJWS(algorithms=[alg]))
    for kid in duplicated:
        logger.warning("JWKS publishes kid %.64r twice; neither is used", kid)
        del keys[kid]
    return PublishedKeys(keys.values())


def max_age(cache_control: str | None) -> float | None:
    """``max-age`` of a ``Cache-Control`` value (0 for ``no-cache``/``no-store``), or None."""
    if not cache_control:
        return None
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return 0.0
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else None


class RemoteKeySet:
    """The JWKS at one URL, cached, refreshed in the background and on demand (floored)."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        refetch_floor: float = 30.0,
        keys_message_floor: float = 1.0,
        default_max_age: float = 300.0,
        max_refresh_interval: float = 3600.0,
        max_bytes: int = 256 * 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http
        self._refetch_floor = refetch_floor
        self._keys_message_floor = keys_message_floor
        self._default_max_age = default_max_age
        self._max_refresh_interval = max_refresh_interval
        self._max_bytes = max_bytes
        self._monotonic = monotonic
        self.keys = PublishedKeys()
        self.version = 0  # bumped whenever the set of keys changes
        self.fetches = 0  # attempts, for tests and metrics
        self._last_attempt = -float("inf")
        self._last_failed = False
        self._next_refresh = 0.0
        self._lock = asyncio.Lock()
        self._announced = asyncio.Event()  # a ``k:`` message asks for a refetch
        self._tasks: list[asyncio.Task[None]] = []

    def current(self) -> PublishedKeys:
        return self.keys

    # -- on demand -------------------------------------------------------------------------

    async def refresh_for_unknown_kid(self) -> None:
        """Refetch because a token named a kid we do not hold, unless one was fetched less than
        the floor ago. Raises :class:`StoreUnavailable` if the set cannot be fetched now (or the
        last attempt, within the floor, failed): the kid may be real, so no 401 is claimed."""
        async with self._lock:
            if self._monotonic() - self._last_attempt < self._refetch_floor:
                if self._last_failed:
                    raise StoreUnavailable("The issuer's signing keys cannot be fetched now.")
                return
            await self._fetch()

    def keys_changed(self) -> None:
        """The issuer announced a key-ring change: refetch soon (after the tiny floor)."""
        self._announced.set()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """First fetch (a failure is logged: requests retry it, floored), then the refreshers."""
        async with self._lock:
            with contextlib.suppress(StoreUnavailable):
                await self._fetch()
        self._tasks = [
            asyncio.create_task(self._refresh_forever(), name="sessionjwt-rs-jwks-refresh"),
            asyncio.create_task(self._follow_announcements(), name="sessionjwt-rs-jwks-k"),
        ]

    async def close(self) -> None:
        await cancel_all(self._tasks, grace=2.0)
        self._tasks = []

    # -- background work -------------------------------------------------------------------

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self._next_refresh - self._monotonic()))
            async with self._lock:
                if self._monotonic() >= self._next_refresh:
                    with contextlib.suppress(StoreUnavailable):
                        await self._fetch()

    async def _follow_announcements(self) -> None:
        while True:
            await self._announced.wait()
            wait = self._last_attempt + self._keys_message_floor - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._announced.clear()  # an announcement from here on asks for one more fetch
            async with self._lock:
                with contextlib.suppress(StoreUnavailable):
                    await self._fetch()

    # -- the fetch itself (always under the lock) ------------------------------------------

    async def _fetch(self) -> None:
        self._last_attempt = self._monotonic()
        self.fetches += 1
        self._last_failed = True
        # Retry pace after a failure: the floor, and never a tight loop.
        self._next_refresh = self._last_attempt + max(self._refetch_floor, 1.0)
        try:
            document, cache_control = await self._download()
            keys = parse_jwks(document)
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("JWKS fetch from %s failed: %s", self.url, error)
            raise StoreUnavailable("The issuer's signing keys cannot be fetched now.") from error
        self._last_failed = False
        if keys.kids != self.keys.kids:
            self.version += 1
        self.keys = keys
        age = max_age(cache_control)
        lifetime = self._default_max_age if age is None else age
        lifetime = min(max(lifetime, self._refetch_floor), self._max_refresh_interval)
        self._next_refresh = self._last_attempt + lifetime

    async def _download(self) -> tuple[Any, str | None]:
        headers = {"Accept": "application/jwk-set+json, application/json"}
        async with self._http.stream("GET", self.url, headers=headers) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise ValueError(f"the JWKS is larger than {self._max_bytes} bytes")
            cache_control = response.headers.get("cache-control")
        return json.loads(bytes(body)), cache_control
