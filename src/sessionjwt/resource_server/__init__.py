"""sessionjwt for *other* services: verify the issuer's access tokens from its JWKS URL and
check their sessions by introspection or through the issuer's Redis feed.

The core needs ``httpx`` (the ``resource-server`` extra), ``redis`` for the feed mode, and
Starlette for the middleware; FastAPI only for :mod:`.fastapi`.
"""

from sessionjwt.resource_server.asgi import ResourceServerMiddleware
from sessionjwt.resource_server.config import LivenessMode, ResourceServerConfig
from sessionjwt.resource_server.verifier import ResourceServer

__all__ = ["LivenessMode", "ResourceServer", "ResourceServerConfig", "ResourceServerMiddleware"]
