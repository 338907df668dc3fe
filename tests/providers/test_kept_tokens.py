"""The provider's own tokens, kept only for a ``keep_tokens`` provider, wrapped under the master
key and bound to their identity row; against the real OP, whose userinfo endpoint tells whether
a kept access token is the genuine article."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from sessionjwt import ConfigurationError, ManualClock, SessionJWT, Settings
from sessionjwt.accounts.providers.tokens import ProviderTokens
from sessionjwt.db.tables import identities
from sessionjwt.keys.rewrap import rows_by_master_key
from sessionjwt.keys.sealed import identity_associated_data
from tests.conftest import PASSWORD, T0, bearer, make_settings
from tests.providers.op import RP_CLIENT_ID, LocalOP, sign_in
from tests.providers.test_sign_in import (
    CALLBACK,
    access_cookie,
    browser_for,
    come_back,
    payload,
    provider,
    start_flow,
)
from tests.test_master_key_rotation import WRAPPED_ROWS, Keys, file_id


@pytest.fixture
async def op(fresh_op: LocalOP) -> LocalOP:
    await fresh_op.configure_client(RP_CLIENT_ID, redirect_uris=[CALLBACK])
    return fresh_op


async def started(settings: Settings) -> SessionJWT:
    auth = SessionJWT(settings, clock=ManualClock(T0))
    await auth.start()
    return auth


async def sign_in_with_op(auth: SessionJWT, op: LocalOP, login: str = "alice") -> str:
    """A browser signs in with the provider; the account's id."""
    async with browser_for(auth) as browser:
        answer = await come_back(browser, await sign_in(op, await start_flow(browser), login))
        assert answer.status_code == 302, answer.text
        user_id: str = payload(access_cookie(browser))["sub"]
        return user_id


async def link_with_op(auth: SessionJWT, op: LocalOP, email: str, login: str) -> str:
    """A password account connects ``login``'s identity at the provider; the account's id."""
    user = await auth.register(email, PASSWORD)
    pair = await auth.login(email, PASSWORD)
    async with browser_for(auth) as browser:
        asked = await browser.post("/auth/providers/op/link", headers=bearer(pair.access_token))
        assert asked.status_code == 200, asked.text
        linked = await come_back(browser, await sign_in(op, asked.json()["authorize_url"], login))
        assert linked.status_code == 302, linked.text
    return user.id


async def stored_row(auth: SessionJWT, user_id: str) -> Any:
    async with auth.database.read() as connection:
        return (
            await connection.execute(select(identities).where(identities.c.user_id == user_id))
        ).one()


async def userinfo(op: LocalOP, access_token: str) -> httpx.Response:
    """The OP's own answer to the token: what the application gets when it uses it."""
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        return await http.get(f"{op.issuer}/me", headers=bearer(access_token))


async def test_kept_tokens_are_wrapped_and_call_the_providers_api(
    tmp_path: Path, op: LocalOP
) -> None:
    auth = await started(make_settings(tmp_path, providers=[provider(op, keep_tokens=True)]))
    assert auth.providers is not None and auth.master_keys is not None
    try:
        user_id = await sign_in_with_op(auth, op)
        tokens = await auth.providers.tokens_of(user_id, "op")
        assert isinstance(tokens, ProviderTokens)
        assert tokens.token_type.lower() == "bearer"
        assert tokens.expires_at == T0 + 3600  # the OP's expires_in, on the service's clock
        assert tokens.scope is not None and "email" in tokens.scope.split()
        assert tokens.access_token not in repr(tokens)
        answer = await userinfo(op, tokens.access_token)
        assert answer.status_code == 200 and answer.json()["sub"] == "alice"

        row = await stored_row(auth, user_id)
        assert row.tokens_master_key_id == auth.master_keys.current_id
        assert tokens.access_token.encode() not in row.tokens_sealed
        assert b"access_token" not in row.tokens_sealed  # not even the JSON's shape shows
        plain, _ = auth.master_keys.unwrap(
            identity_associated_data(row.id), row.tokens_sealed, row.tokens_master_key_id
        )
        assert "id_token" not in json.loads(plain)  # verified once, never kept
    finally:
        await auth.close()


async def test_without_keep_tokens_nothing_is_stored(tmp_path: Path, op: LocalOP) -> None:
    auth = await started(make_settings(tmp_path, providers=[provider(op)]))
    assert auth.providers is not None
    try:
        user_id = await sign_in_with_op(auth, op)
        row = await stored_row(auth, user_id)
        assert row.tokens_sealed is None and row.tokens_master_key_id is None
        assert await auth.providers.tokens_of(user_id, "op") is None
    finally:
        await auth.close()


async def test_turning_keep_tokens_off_drops_the_kept_tokens_at_the_next_sign_in(
    tmp_path: Path, op: LocalOP
) -> None:
    keeping = await started(make_settings(tmp_path, providers=[provider(op, keep_tokens=True)]))
    try:
        user_id = await sign_in_with_op(keeping, op)
        assert (await stored_row(keeping, user_id)).tokens_sealed is not None
    finally:
        await keeping.close()
    auth = await started(make_settings(tmp_path, providers=[provider(op)]))
    assert auth.providers is not None
    try:
        assert await auth.providers.tokens_of(user_id, "op") is None  # off: never handed out
        assert await sign_in_with_op(auth, op) == user_id
        row = await stored_row(auth, user_id)
        assert row.tokens_sealed is None and row.tokens_master_key_id is None
    finally:
        await auth.close()


async def test_a_blob_moved_to_another_identity_does_not_open(tmp_path: Path, op: LocalOP) -> None:
    """Linking keeps tokens too; and a row holding another identity's blob fails closed,
    naming the row, instead of handing one person's provider tokens to another."""
    auth = await started(make_settings(tmp_path, providers=[provider(op, keep_tokens=True)]))
    assert auth.providers is not None
    try:
        alice = await sign_in_with_op(auth, op, "alice")
        carol = await link_with_op(auth, op, "carol@example.com", "bob")
        carols = await auth.providers.tokens_of(carol, "op")
        assert carols is not None
        assert (await userinfo(op, carols.access_token)).json()["sub"] == "bob"

        alices_row, carols_row = await stored_row(auth, alice), await stored_row(auth, carol)
        async with auth.database.write() as connection:
            await connection.execute(
                update(identities)
                .where(identities.c.id == carols_row.id)
                .values(
                    tokens_sealed=alices_row.tokens_sealed,
                    tokens_master_key_id=alices_row.tokens_master_key_id,
                )
            )
        with pytest.raises(ConfigurationError, match="tampered") as refused:
            await auth.providers.tokens_of(carol, "op")
        assert f"provider tokens identity:{carols_row.id}" in str(refused.value)
        assert await auth.providers.tokens_of(alice, "op") is not None  # its own row still opens
    finally:
        await auth.close()


async def test_kept_tokens_survive_a_master_key_rotation(
    tmp_path: Path, backend: dict[str, object], op: LocalOP
) -> None:
    """The documented rotation (B current + A previous → rewrap → A removed) re-wraps the
    provider tokens with everything else; afterwards B alone opens them."""
    keys = Keys(tmp_path, backend)

    def settings(current: Path, *previous: Path) -> Settings:
        return make_settings(
            tmp_path,
            **backend,
            master_key_file=current,
            master_key_previous=",".join(str(path) for path in previous),
            providers=[provider(op, keep_tokens=True)],
        )

    auth = await started(settings(keys.a))
    try:
        user_id = await sign_in_with_op(auth, op)
        assert auth.providers is not None
        kept = await auth.providers.tokens_of(user_id, "op")
        assert kept is not None
    finally:
        await auth.close()

    auth = await started(settings(keys.b, keys.a))
    try:
        assert auth.providers is not None
        assert await auth.providers.tokens_of(user_id, "op") == kept
        assert await rows_by_master_key(auth.database) == {file_id(keys.a): WRAPPED_ROWS + 1}
    finally:
        await auth.close()

    assert f"re-wrapped {WRAPPED_ROWS + 1} rows" in keys.cli(keys.b, keys.a)

    auth = await started(settings(keys.b))
    try:
        assert auth.providers is not None
        assert await rows_by_master_key(auth.database) == {file_id(keys.b): WRAPPED_ROWS + 1}
        assert await auth.providers.tokens_of(user_id, "op") == kept
        assert (await userinfo(op, kept.access_token)).json()["sub"] == "alice"
    finally:
        await auth.close()
