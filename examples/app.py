"""Embedding sessionjwt in an existing FastAPI app: a global guard, one public route, one
role-protected route. Run with ``uvicorn examples.app:app`` (settings from SESSIONJWT_*)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from sessionjwt import Principal, SessionJWT, public

auth = SessionJWT()
app = FastAPI(title="example", lifespan=auth.lifespan)
app.include_router(auth.router(), prefix="/auth")
auth.protect(app)  # default-deny: every route below needs a live session unless @public


@app.get("/")
@public
async def index() -> dict[str, str]:
    """Open to anyone."""
    return {"hello": "world"}


@app.get("/profile")
async def profile(user: Annotated[Principal, Depends(auth.principal)]) -> dict[str, str]:
    """Any signed-in user; refused at once after logout or sign-out-everywhere."""
    return {"email": user.email, "session": user.session_id}


@app.get("/admin/stats")
async def admin_stats(
    user: Annotated[Principal, Depends(auth.require_roles("admin"))],
) -> dict[str, str]:
    """Only users with the ``admin`` role (403 ``insufficient_role`` otherwise)."""
    return {"admin": user.email}
