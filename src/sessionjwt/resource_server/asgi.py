"""ASGI middleware for a resource server: the principal in ``scope["state"]``, or the refusal.

Three outcomes, as in Starlette's authentication middleware: no ``Authorization`` header →
the request goes on anonymous (``Depends(rs.principal)`` then answers 401 ``missing_token``;
pass ``required=True`` to refuse such requests here); a bad or ended token → the issuer's
JSON error shape and ``WWW-Authenticate`` header, rendered by the same
:func:`~sessionjwt.web.guard.error_response`; a good one → the principal, where
:func:`~sessionjwt.web.guard.current_principal` and the dependency find it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from sessionjwt.errors import MissingToken, SessionJWTError
from sessionjwt.resource_server.verifier import ResourceServer
from sessionjwt.web.credentials import PRINCIPAL_STATE_KEY, authorization_header, parse_bearer
from sessionjwt.web.refusals import refuse


class ResourceServerMiddleware:
    def __init__(self, app: ASGIApp, *, resource_server: ResourceServer, required: bool = False):
        self.app = app
        self._rs = resource_server
        self._required = required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = authorization_header(scope)
        try:
            if header is None:
                if not self._required:
                    await self.app(scope, receive, send)
                    return
                raise MissingToken()
            principal = await self._rs.check(parse_bearer(header.decode("latin-1")))
        except SessionJWTError as error:
            await refuse(error, scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        await self.app(scope, receive, send)
