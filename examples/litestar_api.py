"""A Litestar "orders" API that trusts a running ``sessionjwt serve`` (docs/frameworks.md).

Configured by the same ``RS_*`` variables as ``examples/resource_server.py``; with
``RS_REDIS_URL`` a revoke at the issuer is refused by the very next request::

    sessionjwt clients create orders            # prints the client id and secret
    RS_CLIENT_ID=… RS_CLIENT_SECRET=… uvicorn examples.litestar_api:app --port 8001

The OpenAPI schema (``/schema``) declares the bearer scheme on the guarded routes.
"""

from __future__ import annotations

from litestar import Litestar, Request, delete, get
from litestar.datastructures import State
from litestar.params import FromPath

from sessionjwt import Principal
from sessionjwt.resource_server import ResourceServerConfig
from sessionjwt.resource_server.litestar import SessionJWTPlugin, requires_login, requires_roles

Checked = Request[Principal, Principal, State]


@get("/health", exclude_from_auth=True)
async def health() -> dict[str, str]:
    """No token needed, and none is looked at (``exclude_from_auth``)."""
    return {"status": "ok"}


@get("/orders", guards=[requires_login])
async def orders(request: Checked) -> dict[str, object]:
    """Any live session; refused on the next request after logout at the issuer (introspection
    mode: within ``introspection_cache_ttl``, 5 s by default)."""
    return {"user": request.user.user_id, "email": request.user.email, "orders": []}


@delete("/orders/{order_id:str}", guards=[requires_roles("admin")], status_code=200)
async def cancel(order_id: FromPath[str], request: Checked) -> dict[str, str]:
    """Only the issuer's ``admin`` role (403 ``insufficient_role`` otherwise)."""
    return {"cancelled": order_id, "by": request.user.user_id}


plugin = SessionJWTPlugin(ResourceServerConfig.from_env())  # the RS_* variables above
app = Litestar([health, orders, cancel], plugins=[plugin])
