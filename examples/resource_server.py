"""Another service (an "orders" API) that trusts a running ``sessionjwt serve``.

It holds no database and no signing key: tokens are verified from the issuer's JWKS, and the
session behind each one is checked by introspection (or, with ``RS_REDIS_URL``, through the
issuer's Redis invalidation feed). Run the issuer, register a client for this service, then::

    sessionjwt clients create orders            # prints the client id and secret
    RS_ISSUER=http://127.0.0.1:8000 RS_AUDIENCE=sessionjwt \\
    RS_CLIENT_ID=… RS_CLIENT_SECRET=… uvicorn examples.resource_server:app --port 8001

``RS_ISSUER``/``RS_AUDIENCE`` must equal the issuer's ``SESSIONJWT_ISSUER``/``_AUDIENCE``; when
the issuer is not reachable at its ``iss`` URL, set ``RS_JWKS_URL`` and ``RS_INTROSPECTION_URL``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from sessionjwt import Principal
from sessionjwt.resource_server import ResourceServer, ResourceServerConfig
from sessionjwt.resource_server.fastapi import install

rs = ResourceServer(ResourceServerConfig.from_env())  # the RS_* variables above
app = FastAPI(title="orders", lifespan=rs.lifespan)
install(app)  # refusals as JSON {"error", "message"} with WWW-Authenticate, like the issuer


@app.get("/health")
async def health() -> dict[str, str]:
    """No dependency: open to anyone."""
    return {"status": "ok"}


@app.get("/orders")
async def orders(user: Annotated[Principal, Depends(rs.principal)]) -> dict[str, object]:
    """Any live session; refused on the next request after logout at the issuer (introspection
    mode: within ``introspection_cache_ttl``, 5 s by default)."""
    return {"user": user.user_id, "email": user.email, "orders": []}


@app.delete("/orders/{order_id}")
async def cancel(
    order_id: str, user: Annotated[Principal, Depends(rs.require_roles("admin"))]
) -> dict[str, str]:
    """Only the issuer's ``admin`` role (403 ``insufficient_role`` otherwise)."""
    return {"cancelled": order_id, "by": user.user_id}
