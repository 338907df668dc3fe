"""Responses to a request that carried a credential are private: ``Cache-Control: no-store``.

Such an answer names a person (their e-mail, sessions, addresses): no shared cache, proxy or
browser history may keep it. The guard applies :func:`no_store` once for every route, so a
route added later cannot forget it; a route that chose its own ``Cache-Control`` keeps it.
"""

from __future__ import annotations

from starlette.types import Message, Send

__all__ = ["no_store"]

_CACHE_CONTROL = b"cache-control"


def no_store(send: Send) -> Send:
    """``send`` that adds ``Cache-Control: no-store`` to a response that set none."""

    async def send_private(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(bytes(name).lower() == _CACHE_CONTROL for name, _ in headers):
                headers.append((_CACHE_CONTROL, b"no-store"))
                message = {**message, "headers": headers}
        await send(message)

    return send_private
