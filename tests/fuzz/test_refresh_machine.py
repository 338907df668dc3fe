"""Property: any interleaving of login, refresh, replay of an old refresh token, logout,
sign-out-everywhere, clock steps and access checks keeps the refresh rules.

* one chain per session: a refresh succeeds only with the current token, or with the one just
  rotated out while still in grace, and then it hands back the *same* successor;
* replaying any other old token revokes the session (``refresh_token_reused``);
* once logout, a revoke or sign-out-everywhere has returned, no access token of the session is
  accepted and no refresh token of it mints anything, ever again.

Each example runs a fresh SessionJWT on its own in-memory SQLite database with a ManualClock.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from sessionjwt import ManualClock, SessionJWT
from sessionjwt.errors import (
    AuthenticationError,
    RefreshTokenReused,
    SessionRevoked,
    TokenExpired,
)
from sessionjwt.sessions.issue import TokenPair
from tests.conftest import PASSWORD, T0, make_settings

EXAMPLES = 40
STEPS = 25
EMAIL = "alice@example.com"
T = TypeVar("T")


@dataclass
class ModelSession:
    """What the model believes about one session."""

    current: str  # the refresh token the next refresh must present
    previous: str | None = None  # rotated out at ``rotated_at``: accepted within grace
    rotated_at: float | None = None
    older: list[str] = field(default_factory=list)  # replaying any of these is theft
    access: list[tuple[str, float]] = field(default_factory=list)  # (token, exp)
    revoked: bool = False


class RefreshMachine(RuleBasedStateMachine):
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock(T0)
        config = make_settings(Path(self._dir.name), database_url="sqlite+aiosqlite:///:memory:")
        self.grace = config.refresh_grace.total_seconds()
        self.leeway = config.leeway.total_seconds()
        self.auth = SessionJWT(config, clock=self.clock)
        self.run(self.auth.start())
        self.user_id = self.run(self.auth.register(EMAIL, PASSWORD)).id
        self.model: dict[str, ModelSession] = {}

    def run(self, step: Awaitable[T]) -> T:
        return self.loop.run_until_complete(step)

    def teardown(self) -> None:
        self.run(self.auth.close())
        self.loop.close()
        self._dir.cleanup()

    def _minted(self, session: ModelSession, pair: TokenPair) -> None:
        session.access.append((pair.access_token, self.clock.now() + pair.expires_in))

    # -- rules ----------------------------------------------------------------------------

    @rule(target=sessions)
    def login(self) -> str:
        pair = self.run(self.auth.login(EMAIL, PASSWORD))
        assert pair.session_id not in self.model  # a new session at every login
        self.model[pair.session_id] = ModelSession(current=pair.refresh_token)
        self._minted(self.model[pair.session_id], pair)
        return pair.session_id

    @rule(sid=sessions)
    def refresh_current(self, sid: str) -> None:
        session = self.model[sid]
        try:
            pair = self.run(self.auth.refresh(session.current))
        except AuthenticationError as error:
            assert session.revoked, f"current token refused on a live session: {error!r}"
            return
        assert not session.revoked, "a revoked session minted a token"
        assert pair.session_id == sid
        if session.previous is not None:
            session.older.append(session.previous)
        session.previous, session.rotated_at = session.current, self.clock.now()
        session.current = pair.refresh_token
        self._minted(session, pair)

    @precondition(lambda self: any(s.previous or s.older for s in self.model.values()))
    @rule(data=st.data())
    def replay_an_old_token(self, data: st.DataObject) -> None:
        sid = data.draw(
            st.sampled_from(sorted(k for k, s in self.model.items() if s.previous or s.older))
        )
        session = self.model[sid]
        candidates = session.older + ([session.previous] if session.previous else [])
        old = data.draw(st.sampled_from(candidates))
        in_grace = (
            old == session.previous
            and session.rotated_at is not None
            and self.clock.now() - session.rotated_at <= self.grace
        )
        try:
            pair = self.run(self.auth.refresh(old))
        except RefreshTokenReused:
            assert not in_grace or session.revoked
            session.revoked = True
            return
        except SessionRevoked:
            assert session.revoked
            return
        assert not session.revoked, "a revoked session minted a token"
        assert in_grace, "an old refresh token outside grace minted a token"
        assert pair.refresh_token == session.current, "a second chain was started"
        self._minted(session, pair)

    @rule(sid=sessions)
    def logout(self, sid: str) -> None:
        session = self.model[sid]
        live = [t for t, exp in session.access if self.clock.now() < exp + self.leeway]
        if live and not session.revoked:
            self.run(self.auth.logout(self.run(self.auth.check(live[-1]))))
        else:
            self.run(self.auth.revoke_session(sid))
        session.revoked = True

    @rule()
    def sign_out_everywhere(self) -> None:
        self.run(self.auth.revoke_user_sessions(self.user_id))
        for session in self.model.values():
            session.revoked = True

    @rule(seconds=st.sampled_from([1, 5, 9, 11, 120, 600]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def access_tokens_answer_as_the_model_says(self) -> None:
        now = self.clock.now()
        for sid, session in self.model.items():
            for token, exp in session.access[-3:]:
                try:
                    principal = self.run(self.auth.check(token))
                except TokenExpired:
                    assert now >= exp + self.leeway - 1
                    continue
                except SessionRevoked:
                    assert session.revoked
                    continue
                assert not session.revoked, "an access token was accepted after logout"
                assert now < exp + self.leeway
                assert principal.session_id == sid


RefreshMachine.TestCase.settings = settings(
    # Fixed seed: an example replayed during shrinking drew other random session ids, so the
    # test failed intermittently on CI; derandomized it explores the same steps every run.
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,
    derandomize=True,
)
test_refresh_state_machine = RefreshMachine.TestCase
