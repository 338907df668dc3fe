"""Property: the bearer parser and the access-token verifier refuse anything that is not a
genuine token with one of our own errors (a :class:`SessionJWTError`), never anything else: no
``ValueError``, ``UnicodeError``, ``KeyError`` or ``RecursionError`` escaping as a 500."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.errors import SessionJWTError
from sessionjwt.tokens.access import AccessTokenCodec
from sessionjwt.web.credentials import parse_bearer
from tests.conftest import PASSWORD, T0, make_settings

EXAMPLES = 300
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Genuine:
    codec: AccessTokenCodec
    token: str


async def _issue(tmp_path: Path) -> Genuine:
    service = SessionJWT(make_settings(tmp_path), clock=ManualClock(T0))
    await service.start()
    try:
        await service.register("alice@example.com", PASSWORD)
        pair = await service.login("alice@example.com", PASSWORD)
        return Genuine(service.codec, pair.access_token)
    finally:
        await service.close()  # the key ring stays loaded: the codec needs nothing else


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Genuine]:
    yield asyncio.run(_issue(tmp_path_factory.mktemp("fuzz-parser")))


def verify(genuine: Genuine, token: str) -> None:
    try:
        genuine.codec.verify(token, T0)
    except SessionJWTError:
        pass


def test_the_genuine_token_verifies(genuine: Genuine) -> None:
    """The properties below would hold vacuously for a codec that refuses everything."""
    assert genuine.codec.verify(genuine.token, T0).sub


@BOUNDED
@given(st.text(max_size=600))
def test_arbitrary_text_as_a_token(genuine: Genuine, text: str) -> None:
    verify(genuine, text)


@BOUNDED
@given(st.lists(st.text(alphabet=B64URL + "=.~+/", max_size=120), min_size=1, max_size=6))
def test_token_shaped_text(genuine: Genuine, segments: list[str]) -> None:
    verify(genuine, ".".join(segments))


def json_values() -> st.SearchStrategy[object]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@BOUNDED
@given(header=json_values(), payload=json_values(), signature=st.binary(max_size=80))
def test_any_json_in_any_segment(
    genuine: Genuine, header: object, payload: object, signature: bytes
) -> None:
    segments = (json.dumps(header).encode(), json.dumps(payload).encode(), signature)
    verify(genuine, ".".join(b64(segment) for segment in segments))


@BOUNDED
@given(st.data())
def test_mutations_of_the_genuine_token(genuine: Genuine, data: st.DataObject) -> None:
    """Replace, insert or delete a few characters anywhere (any Unicode character at all)."""
    token = list(genuine.token)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(token)))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        character = data.draw(st.characters())
        if action == "insert" or at == len(token):
            token.insert(at, character)
        elif action == "replace":
            token[at] = character
        else:
            del token[at]
    mutated = "".join(token)
    if mutated == genuine.token:
        return
    with pytest.raises(SessionJWTError):
        genuine.codec.verify(mutated, T0)


@BOUNDED
@given(header=st.binary(max_size=300), payload=st.binary(max_size=300))
def test_arbitrary_bytes_in_decoded_segments(
    genuine: Genuine, header: bytes, payload: bytes
) -> None:
    signature = genuine.token.rsplit(".", 1)[1]
    verify(genuine, f"{b64(header)}.{b64(payload)}.{signature}")


@BOUNDED
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")))
def test_parse_bearer_on_any_header_value(value: str) -> None:
    """What the guard decodes from raw header bytes (latin-1) or any text at all."""
    for header in (value, f"Bearer {value}"):
        try:
            token = parse_bearer(header)
        except SessionJWTError:
            continue
        assert header.lower().startswith("bearer ")
        assert token == header[7:]
