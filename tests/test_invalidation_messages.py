"""What another instance's revoke message does to this instance's memory.

Messages carry the fact (session revoked, watermark moved, account disabled) so that a
receiver refuses on the next request without reading the store. They may only ever narrow
access: anything that would widen it (re-enable, new roles) makes the receiver reload, and a
late message for an older watermark changes nothing.
"""

from __future__ import annotations

import pytest

from sessionjwt.errors import AccountDisabled, SessionRevoked
from sessionjwt.sessions.liveness.cache import LivenessCache
from sessionjwt.sessions.liveness.feed import Invalidation
from sessionjwt.sessions.model import SessionRecord, liveness_error
from tests.records import session_record, user_state

NOW = 50.0


def session(session_id: str) -> SessionRecord:
    """A live session of user u1 at watermark 3, last seen now."""
    return session_record(session_id, user_id="u1", user_generation=3, last_seen_at=NOW)


@pytest.fixture
def cache() -> LivenessCache:
    """A warm instance: user u1 at watermark 3 with two live sessions."""
    cache = LivenessCache()
    for session_id in ("phone", "laptop"):
        user = user_state("u1", session_generation=3)
        assert cache.put(session(session_id), user, cache.generation) is not None
    return cache


def received(cache: LivenessCache, change: Invalidation) -> None:
    """The message as it travels: encoded, over the wire, decoded, applied."""
    decoded = Invalidation.decode(change.encode())
    assert decoded == change
    cache.apply(decoded, NOW)


def verdict(cache: LivenessCache, session_id: str) -> type[Exception] | None:
    entry = cache.sessions[session_id]
    error = liveness_error(entry.session, entry.user, NOW)
    return None if error is None else type(error)


def test_a_revoke_message_refuses_that_session_from_memory(cache: LivenessCache) -> None:
    received(cache, Invalidation("session", "phone", reason="logout"))
    assert verdict(cache, "phone") is SessionRevoked
    assert cache.sessions["phone"].session.revoked_reason == "logout"
    assert verdict(cache, "laptop") is None


def test_sign_out_everywhere_refuses_all_but_the_kept_session(cache: LivenessCache) -> None:
    received(cache, Invalidation("user", "u1", generation=4, kept_session="laptop"))
    assert verdict(cache, "phone") is SessionRevoked
    assert verdict(cache, "laptop") is None


def test_disable_refuses_every_session_from_memory(cache: LivenessCache) -> None:
    received(cache, Invalidation("user", "u1", generation=4, disabled=True))
    assert verdict(cache, "phone") is AccountDisabled
    assert verdict(cache, "laptop") is AccountDisabled


def test_a_late_message_for_an_older_watermark_changes_nothing(cache: LivenessCache) -> None:
    received(cache, Invalidation("user", "u1", generation=2, disabled=True))
    assert verdict(cache, "phone") is None


def test_re_enable_and_role_changes_make_the_user_reload(cache: LivenessCache) -> None:
    for change in (
        Invalidation("user", "u1", generation=4, disabled=False),
        Invalidation("user", "u1"),
    ):
        held = cache.sessions["phone"].user
        received(cache, change)
        assert held.stale  # the check reloads from the store instead of trusting memory
        assert held.disabled is False and held.session_generation == 3  # not widened in place
        user = user_state("u1", session_generation=3)
        cache.put(session("phone"), user, cache.generation)


def test_a_message_lands_even_while_a_load_is_in_flight(cache: LivenessCache) -> None:
    before_load = cache.generation
    received(cache, Invalidation("session", "tablet", reason="logout"))  # not held here
    user = user_state("u1", session_generation=3)
    assert cache.put(session("tablet"), user, before_load) is None  # the pre-revoke row


@pytest.mark.parametrize(
    "text",
    [
        "s:phone",  # an older peer's shape
        "s::logout",
        "u:u1:4",
        "u:u1:four::",
        "u:u1:4:x:",
        "x:anything",
        "s:\ufffd\ufffd not UTF-8",
        "",
    ],
)
def test_messages_this_version_does_not_understand_are_not_guessed_at(text: str) -> None:
    assert Invalidation.decode(text) is None
