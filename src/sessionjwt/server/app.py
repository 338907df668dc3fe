"""The standalone service: sessionjwt's router behind its own default-deny guard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from sessionjwt.facade import SessionJWT
from sessionjwt.server.access_log import ACCESS_LOGGER, AccessLogMiddleware, configure_json_lines
from sessionjwt.settings import Settings
from sessionjwt.web.limits import RequestLimitsMiddleware, describe_limits
from sessionjwt.web.public import public

AUDIT_LOGGER = "sessionjwt.audit"


def create_app(
    settings: Settings | None = None,
    *,
    auth: SessionJWT | None = None,
    migrate: bool | None = None,
) -> FastAPI:
    """The service's app. ``migrate`` is passed to ``auth.start()`` by the lifespan (None: on
    SQLite only); ``sessionjwt serve`` migrates once before its workers start and passes
    False, so that no two workers ever race on the schema."""
    auth = auth or SessionJWT(settings)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if migrate is not None:
            try:
                await auth.start(migrate=migrate)
            except BaseException:
                await auth.close()  # release connections opened before the failure
                raise
        async with auth.lifespan(app):  # start() is idempotent; close() runs on shutdown
            yield

    app = FastAPI(
        title="sessionjwt",
        summary="Stateful JWT authentication: tokens that point to revocable sessions.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.auth = auth
    app.include_router(auth.router(), prefix="/auth")
    app.include_router(auth.well_known_router())
    app.include_router(auth.admin_router(), prefix="/admin")
    app.include_router(auth.oauth_router())
    app.include_router(auth.ops_router())
    if auth.settings.pages_enabled:
        from sessionjwt.web.pages import mount_static

        app.include_router(auth.pages_router())
        mount_static(app)

    @app.get("/healthz", tags=["ops"])
    @public
    async def healthz() -> JSONResponse:
        """Liveness of the process (not of its dependencies)."""
        return JSONResponse({"status": "ok"})

    auth.protect(app)
    limit_requests(app, auth.settings)
    if auth.settings.access_log:
        # Added last, so outermost: it times the guard too and sees its refusals.
        app.add_middleware(AccessLogMiddleware, trusted_proxies=auth.settings.trusted_proxies)
    return app


def limit_requests(app: FastAPI, settings: Settings) -> None:
    """Header and body limits in front of the guard, and the 413/431 answers they add in the
    OpenAPI document (docs/security.md, "Request size")."""
    app.add_middleware(
        RequestLimitsMiddleware,
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
        max_body_bytes=settings.max_body_bytes,
        max_body_bytes_by_path=settings.max_body_bytes_by_path,
    )
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return app.openapi_schema or describe_limits(generate())

    app.openapi = openapi  # type: ignore[method-assign]


def service_app() -> FastAPI:
    """What each ``sessionjwt serve`` worker process runs: a zero-argument factory for uvicorn
    (``uvicorn --factory sessionjwt.server.app:service_app``), settings from ``SESSIONJWT_*``.

    It also sends the audit events (and, with ``access_log``, the access lines) to stderr as
    JSON lines, in this process: a worker is a fresh interpreter that inherits no logging
    set-up. It does not migrate: the ``serve`` command did that once, before any worker.
    """
    settings = Settings()
    configure_json_lines(AUDIT_LOGGER)
    if settings.access_log:
        configure_json_lines(ACCESS_LOGGER)
    return create_app(settings, migrate=False)
