"""A Flask "orders" API that trusts a running ``sessionjwt serve`` (docs/frameworks.md).

Configured by the same ``RS_*`` variables as ``examples/resource_server.py``; with
``RS_REDIS_URL`` a revoke at the issuer is refused by the very next request, in every worker::

    sessionjwt clients create orders            # prints the client id and secret
    RS_CLIENT_ID=… RS_CLIENT_SECRET=… gunicorn --workers 2 examples.flask_api:app
"""

from __future__ import annotations

import os

from flask import Flask

from sessionjwt.resource_server import ResourceServerConfig
from sessionjwt.resource_server.flask import (
    SessionJWT,
    current_principal,
    login_required,
    require_roles,
)

app = Flask("orders")
SessionJWT(app, config=ResourceServerConfig.from_env())


@app.get("/health")
def health() -> dict[str, str]:
    """No token needed: a request without one goes on anonymous."""
    return {"status": "ok"}


@app.get("/orders")
@login_required
def orders() -> dict[str, object]:
    """Any live session. ``worker`` says which process answered (gunicorn runs several)."""
    return {"user": current_principal.user_id, "orders": [], "worker": os.getpid()}


@app.delete("/orders/<order_id>")
@require_roles("admin")
def cancel(order_id: str) -> dict[str, str]:
    """Only the issuer's ``admin`` role (403 ``insufficient_role`` otherwise)."""
    return {"cancelled": order_id, "by": current_principal.user_id}
