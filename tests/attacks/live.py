"""The app behind a real HTTP server (uvicorn on an ephemeral loopback port), in the test's own
event loop, for attacks the in-process transport cannot express: header sizes and raw bytes
that an HTTP parser sees before the app does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import httpx
import uvicorn
from fastapi import FastAPI

HttpImplementation = Literal["h11", "httptools"]


@asynccontextmanager
async def serving(app: FastAPI, http: HttpImplementation) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``app`` served over TCP; the service is already started by the fixtures."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="critical", http=http
    )
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup()  # listening from here on; asyncio serves in the background
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        await server.shutdown()
