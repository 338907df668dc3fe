"""The standalone service: sessionjwt's router behind its own default-deny guard."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from sessionjwt.public import public
from sessionjwt.service import SessionJWT
from sessionjwt.settings import Settings


def create_app(settings: Settings | None = None, *, auth: SessionJWT | None = None) -> FastAPI:
    auth = auth or SessionJWT(settings)
    app = FastAPI(
        title="sessionjwt",
        summary="Stateful JWT authentication: tokens that point to revocable sessions.",
        version="0.1.0",
        lifespan=auth.lifespan,
    )
    app.state.auth = auth
    app.include_router(auth.router(), prefix="/auth")
    app.include_router(auth.well_known_router())
    app.include_router(auth.admin_router(), prefix="/admin")
    app.include_router(auth.oauth_router())
    app.include_router(auth.ops_router())
    if auth.settings.pages_enabled:
        from sessionjwt.pages import mount_static

        app.include_router(auth.pages_router())
        mount_static(app)

    @app.get("/healthz", tags=["ops"])
    @public
    async def healthz() -> JSONResponse:
        """Liveness of the process (not of its dependencies)."""
        return JSONResponse({"status": "ok"})

    auth.protect(app)
    return app
