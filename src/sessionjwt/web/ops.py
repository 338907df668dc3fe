"""``/readyz`` and ``/metrics``: public routes for orchestrators and scrapers.

``/readyz`` says only which dependency is down, never why in detail (no hosts, no errors).
``/metrics`` is public by default so a scraper needs no token; bind it privately (network
policy, a proxy that does not route it) and never expose it to the internet, or turn it
off with ``SESSIONJWT_METRICS_ENABLED=false`` and export the registry yourself
(:func:`sessionjwt.web.metrics.build_registry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from sessionjwt.web.public import public

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore


def build_ops_router(auth: AuthCore) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/readyz")
    @public
    async def readyz() -> JSONResponse:
        """200 when the database, Redis (if configured) and the feed answer; else 503."""
        readiness = await auth.readiness()
        return JSONResponse(
            {"status": "ready" if readiness.ready else "not_ready", "checks": readiness.checks},
            status_code=200 if readiness.ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    if auth.settings.metrics_enabled:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from sessionjwt.web.metrics import build_registry

        registry = build_registry(auth)

        @router.get("/metrics", include_in_schema=False)
        @public
        async def metrics() -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
