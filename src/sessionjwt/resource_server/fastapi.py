"""FastAPI face of the resource server: its refusals rendered like the issuer's.

::

    rs = ResourceServer(ResourceServerConfig(issuer=..., audience=..., client_id=..., ...))
    app = FastAPI(lifespan=rs.lifespan)
    install(app)                                  # SessionJWTError → JSON + WWW-Authenticate
    @app.get("/orders")
    async def orders(user: Annotated[Principal, Depends(rs.principal)]) -> ...
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from sessionjwt.errors import SessionJWTError
from sessionjwt.resource_server.asgi import ResourceServerMiddleware
from sessionjwt.resource_server.verifier import ResourceServer
from sessionjwt.web.refusals import error_response


def install(app: FastAPI, rs: ResourceServer | None = None, *, required: bool = False) -> None:
    """Render sessionjwt errors raised by ``Depends(rs.principal)``; with ``rs``, also add the
    middleware (``required=True``: a request without a bearer token is refused there)."""

    async def on_sessionjwt_error(_request: Request, error: Exception) -> Response:
        if not isinstance(error, SessionJWTError):
            raise error
        return error_response(error)

    app.add_exception_handler(SessionJWTError, on_sessionjwt_error)
    if rs is not None:
        app.add_middleware(ResourceServerMiddleware, resource_server=rs, required=required)
