"""The apps that ``benchmarks/http_throughput.py`` serves: one FastAPI endpoint,
``GET /hello``, answering the same small JSON dict behind five kinds of authentication.

========================  ================================================================
``none``                  (a) no authentication at all: the ceiling
``sessionjwt``            (b) ``auth.protect(app)`` (the default-deny guard) and
                          ``Depends(auth.principal)``; settings from ``SESSIONJWT_*``
``pyjwt``                 (c) a stateless dependency: ``jwt.decode`` (HS256) of the bearer
``pyjwt-redis``           (d) (c), then ``GET session:<sid>`` on Redis per request
``pyjwt-postgres``        (e) (c), then ``SELECT … FROM bench_sessions WHERE id = $1`` per
                          request, through an asyncpg pool
========================  ================================================================

Every dependency is ``async def`` (a plain ``def`` would run in FastAPI's thread pool and cost
more) and refuses with 401 what it cannot vouch for, so no row is fast because it skips work.

uvicorn imports ``benchmarks.http_apps:app``; the variant and its parameters come from the
environment (``SJBENCH_APP`` and friends, see :func:`create_app`), so importing this module
builds nothing. By hand::

    SJBENCH_APP=none .venv/bin/python -m uvicorn benchmarks.http_apps:app
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the closures' Annotated
# parameters, which name local variables.
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request

from sessionjwt import Principal, SessionJWT, Settings

APP_ENV = "SJBENCH_APP"
KEY_ENV = "SJBENCH_JWT_KEY"  # hex of the HS256 secret of (c), (d), (e)
ISSUER_ENV = "SJBENCH_JWT_ISSUER"
AUDIENCE_ENV = "SJBENCH_JWT_AUDIENCE"
REDIS_ENV = "SJBENCH_REDIS_URL"
POSTGRES_ENV = "SJBENCH_POSTGRES_DSN"  # plain asyncpg DSN: postgresql://user@host:port/db
APPS = ("none", "sessionjwt", "pyjwt", "pyjwt-redis", "pyjwt-postgres")

# asyncpg's default pool size. On the 2-core benchmark machine, where PostgreSQL shares the
# cores with uvicorn and wrk, neither 4 nor 32 connections did measurably better.
POSTGRES_POOL_SIZE = 10
BENCH_SESSIONS_DDL = """
CREATE TABLE IF NOT EXISTS bench_sessions (
    id text PRIMARY KEY,
    user_id text NOT NULL,
    revoked boolean NOT NULL DEFAULT false,
    expires_at double precision NOT NULL
)
"""
SESSION_QUERY = "SELECT user_id, revoked, expires_at FROM bench_sessions WHERE id = $1"

Claims = dict[str, Any]


def redis_key(session_id: str) -> str:
    return f"session:{session_id}"


def _hello(user: str) -> dict[str, str]:
    return {"message": "hello", "user": user}


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


# -- (a) --------------------------------------------------------------------------------------


def no_auth_app() -> FastAPI:
    app = FastAPI(title="bench (a): no auth")

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return _hello("anonymous")

    return app


# -- (b) --------------------------------------------------------------------------------------


def sessionjwt_app(settings: Settings | None = None) -> FastAPI:
    """The five-line embed of the README: guard over the whole app, principal as dependency."""
    auth = SessionJWT(settings)
    app = FastAPI(title="bench (b): sessionjwt", lifespan=auth.lifespan)
    auth.protect(app)

    @app.get("/hello")
    async def hello(user: Annotated[Principal, Depends(auth.principal)]) -> dict[str, str]:
        return _hello(user.user_id)

    return app


# -- (c), (d), (e) ----------------------------------------------------------------------------


def bearer_claims(key: bytes, *, issuer: str, audience: str) -> Callable[..., Awaitable[Claims]]:
    """The dependency every PyJWT tutorial writes: decode the bearer token, or 401."""

    async def claims(request: Request) -> Claims:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("missing bearer token")
        try:
            decoded: Claims = jwt.decode(
                token,
                key,
                algorithms=["HS256"],
                audience=audience,
                issuer=issuer,
                options={"require": ["exp", "sub", "sid"]},
            )
        except jwt.InvalidTokenError as error:
            raise _unauthorized("invalid token") from error
        return decoded

    return claims


def pyjwt_app(key: bytes, *, issuer: str, audience: str) -> FastAPI:
    app = FastAPI(title="bench (c): PyJWT")
    decode = bearer_claims(key, issuer=issuer, audience=audience)

    @app.get("/hello")
    async def hello(claims: Annotated[Claims, Depends(decode)]) -> dict[str, str]:
        return _hello(str(claims["sub"]))

    return app


def pyjwt_redis_app(key: bytes, *, issuer: str, audience: str, redis_url: str) -> FastAPI:
    from redis.asyncio import Redis

    clients: list[Redis] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        client = Redis.from_url(redis_url, decode_responses=True)
        try:
            await client.ping()  # fail at start-up, not on the first request
            clients.append(client)
            yield
        finally:
            clients.clear()
            await client.aclose()

    app = FastAPI(title="bench (d): PyJWT + Redis", lifespan=lifespan)
    decode = bearer_claims(key, issuer=issuer, audience=audience)

    @app.get("/hello")
    async def hello(claims: Annotated[Claims, Depends(decode)]) -> dict[str, str]:
        owner = await clients[0].get(redis_key(str(claims["sid"])))
        if owner != claims["sub"]:  # None (no such key) too
            raise _unauthorized("no such session")
        return _hello(str(claims["sub"]))

    return app


def pyjwt_postgres_app(key: bytes, *, issuer: str, audience: str, dsn: str) -> FastAPI:
    import asyncpg

    pools: list[Any] = []  # asyncpg ships no type information

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            dsn, min_size=POSTGRES_POOL_SIZE, max_size=POSTGRES_POOL_SIZE
        )
        try:
            await pool.fetchval("SELECT count(*) FROM bench_sessions")  # the table must exist
            pools.append(pool)
            yield
        finally:
            pools.clear()
            await pool.close()

    app = FastAPI(title="bench (e): PyJWT + asyncpg", lifespan=lifespan)
    decode = bearer_claims(key, issuer=issuer, audience=audience)

    @app.get("/hello")
    async def hello(claims: Annotated[Claims, Depends(decode)]) -> dict[str, str]:
        row = await pools[0].fetchrow(SESSION_QUERY, str(claims["sid"]))
        if (
            row is None
            or row["revoked"]
            or row["user_id"] != claims["sub"]
            or row["expires_at"] <= time.time()
        ):
            raise _unauthorized("no such session")
        return _hello(str(claims["sub"]))

    return app


# -- choosing one from the environment --------------------------------------------------------


def create_app(env: Mapping[str, str]) -> FastAPI:
    """The app named by ``SJBENCH_APP`` in ``env``; a missing parameter is a readable error."""

    def need(name: str) -> str:
        value = env.get(name)
        if not value:
            raise RuntimeError(f"{name} is not set (needed by {APP_ENV}={variant})")
        return value

    variant = env.get(APP_ENV, "")
    if variant == "none":
        return no_auth_app()
    if variant == "sessionjwt":
        return sessionjwt_app()  # Settings() reads SESSIONJWT_* itself
    if variant in ("pyjwt", "pyjwt-redis", "pyjwt-postgres"):
        key = bytes.fromhex(need(KEY_ENV))
        issuer, audience = need(ISSUER_ENV), need(AUDIENCE_ENV)
        if variant == "pyjwt":
            return pyjwt_app(key, issuer=issuer, audience=audience)
        if variant == "pyjwt-redis":
            return pyjwt_redis_app(key, issuer=issuer, audience=audience, redis_url=need(REDIS_ENV))
        return pyjwt_postgres_app(key, issuer=issuer, audience=audience, dsn=need(POSTGRES_ENV))
    raise RuntimeError(f"{APP_ENV} must be one of {', '.join(APPS)}; got {variant!r}")


def app_from_env() -> FastAPI:
    return create_app(os.environ)


def __getattr__(name: str) -> FastAPI:
    """``benchmarks.http_apps:app`` for uvicorn, built on first access (PEP 562)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = globals()["app"] = app_from_env()
    return built
