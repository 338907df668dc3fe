"""The global guard, an ASGI middleware with no FastAPI dependency.

The guard is default-deny: every HTTP and WebSocket request needs a live session unless the
endpoint (or mounted app) it resolves to was marked with :func:`public`. Unknown paths are
refused too, so a route added later, a mounted sub-application or a typo can never open a
hole. Three outcomes, as in Starlette's own authentication middleware: public → pass; good
token → principal stored in ``scope["state"]``; anything else → the refusal, rendered once.
Every answer to a request that carried a credential is ``Cache-Control: no-store``
(:mod:`sessionjwt.web.private`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.responses import RedirectResponse
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from sessionjwt.errors import (
    AuthenticationError,
    MissingToken,
    SessionJWTError,
)
from sessionjwt.web.cookies import CookieTransport, path_with_query
from sessionjwt.web.credentials import (
    PRINCIPAL_STATE_KEY,
    authorization_header,
    cookie_token,
    parse_bearer,
)
from sessionjwt.web.private import no_store
from sessionjwt.web.public import is_public, public
from sessionjwt.web.refusals import refuse

__all__ = ["GuardMiddleware", "PublicRoutes", "public"]


def is_navigation(scope: Scope) -> bool:
    """A browser loading a page (not a script's fetch): where a redirect helps the user."""
    mode: str | None = None
    accept = ""
    for name, value in scope.get("headers", ()):
        if name == b"sec-fetch-mode":
            mode = bytes(value).decode("latin-1").strip().lower()
        elif name == b"accept":
            accept = bytes(value).decode("latin-1").lower()
    if mode is not None:
        return mode == "navigate"
    return "text/html" in accept


@dataclass(frozen=True, slots=True)
class _Rule:
    """One route as the guard sees it: where it matches and whether it is public."""

    regex: re.Pattern[str]
    methods: frozenset[str] | None  # None: any method (mounts, websockets)
    public: bool

    def decide(self, method: str, path: str) -> bool | None:
        """True/False when this route takes the request, None when it does not."""
        if self.regex.match(path) is None:
            return None
        if self.methods is not None and method not in self.methods:
            return None
        return self.public


def _rules(routes: Iterable[Any], prefix: str = "") -> list[_Rule]:
    """Flatten routes in the order the router tries them (FastAPI's included routers too)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # plain Starlette, or a FastAPI that keeps routes flat
        contexts: Iterable[Any] = routes
    else:
        contexts = iter_route_contexts(list(routes))
    rules: list[_Rule] = []
    for context in contexts:
        original = getattr(context, "original_route", context)
        path = prefix + (getattr(context, "path", None) or "")
        if isinstance(original, Mount):
            if is_public(original.app):
                regex, _, _ = compile_path(path.rstrip("/") + "/{path:path}")
                rules.append(_Rule(regex, None, True))
                rules.append(_Rule(re.compile(re.escape(path.rstrip("/")) + "$"), None, True))
            else:
                nested = getattr(original, "routes", None) or []
                rules.extend(_rules(nested, path.rstrip("/")))
                regex, _, _ = compile_path(path.rstrip("/") + "/{path:path}")
                rules.append(_Rule(regex, None, False))
            continue
        if not path:
            continue
        regex, _, _ = compile_path(path)
        methods = getattr(context, "methods", None)
        # The route's own method set, as the router will match it (Starlette adds HEAD to
        # GET routes itself; FastAPI does not, and answers HEAD with 405).
        allowed = frozenset(methods) if methods else None
        rules.append(_Rule(regex, allowed, is_public(getattr(context, "endpoint", None))))
    return rules


def _route_path(scope: Scope) -> str:
    """The path the router matches on: ``path`` without the ``root_path`` it is mounted at."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and (path == root_path or path.startswith(root_path.rstrip("/") + "/")):
        return path[len(root_path.rstrip("/")) :] or "/"
    return path


class PublicRoutes:
    """Decides whether a request resolves to a public endpoint, trying routes in router order.

    Only a request whose first matching route is marked public passes unauthenticated; an
    unknown path or a method no route takes is protected. Before every decision the table is
    compared with the router's version (FastAPI bumps it whenever any router in the tree,
    included ones too, gains a route; FastAPI itself reads it on every request), so a route
    added at any time is judged like the others.
    """

    def __init__(
        self,
        router: Any,
        public_paths: Iterable[str] = (),
        max_cached: int = 10_000,
    ) -> None:
        self._router = router
        self._public_paths = frozenset(public_paths)
        self._rules: list[_Rule] = []
        self._version: object = object()  # matches nothing: build on first use
        self._decisions: dict[tuple[str, str, str], bool] = {}
        self._max_cached = max_cached

    def __call__(self, scope: Scope) -> bool:
        version = _routes_version(self._router)
        if version != self._version:
            self._rules = _rules(self._router.routes)
            self._decisions = {}
            self._version = version
        key = (scope["type"], scope.get("method", ""), scope["path"])
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decide(scope)
            if len(self._decisions) >= self._max_cached:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def _decide(self, scope: Scope) -> bool:
        path = _route_path(scope)
        if path in self._public_paths:
            return True
        method = scope.get("method", "GET") if scope["type"] == "http" else "GET"
        for rule in self._rules:
            decided = rule.decide(method, path)
            if decided is not None:
                return decided
        return False


def _routes_version(router: Any) -> object:
    """A value that changes whenever a route is added anywhere in the router tree."""
    versioned = getattr(router, "_get_routes_version", None)
    if callable(versioned):  # FastAPI >= 0.13x: counts every nested included router
        return versioned()
    return _route_count(router.routes)


def _route_count(routes: Iterable[Any]) -> int:
    total = 0
    for route in routes:
        total += 1
        nested = getattr(route, "routes", None)
        if nested:
            total += _route_count(nested)
    return total


class GuardMiddleware:
    """Default-deny ASGI middleware: no live session, no request (bar public routes)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        check: Callable[[str], Any],
        is_public_request: Callable[[Scope], bool],
        cookies: CookieTransport | None = None,
        trusted_origins: Iterable[str] = (),
        max_parsed: int = 10_000,
    ) -> None:
        self.app = app
        self._check = check
        self._is_public = is_public_request
        self._cookies = cookies
        self._trusted_origins = frozenset(trusted_origins)
        # Raw header → its bearer token, for headers that parsed before: a client sends the
        # same header on every request, and equal bytes parse equally. Bounded like every
        # cache an attacker can fill; verification is never skipped, only the parsing.
        self._parsed: dict[bytes, str] = {}
        self._max_parsed = max_parsed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self._is_public(scope):
            # A public route that reads a bearer credential itself answers privately too;
            # a cookie alone does not make it so (static files stay cacheable).
            if scope["type"] == "http" and authorization_header(scope) is not None:
                send = no_store(send)
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._check(self._token(scope))
        except SessionJWTError as error:
            cookies = self._cookies
            if (
                cookies is not None
                and isinstance(error, AuthenticationError)
                and scope["type"] == "http"
                and is_navigation(scope)
            ):
                await _send_to_refresh(cookies, scope, receive, send)
                return
            await refuse(error, scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        await self.app(scope, receive, no_store(send) if scope["type"] == "http" else send)

    def _token(self, scope: Scope) -> str:
        header = authorization_header(scope)
        if header is None:
            if self._cookies is not None:
                token = cookie_token(scope, self._cookies, self._trusted_origins)
                if token is not None:
                    return token
            raise MissingToken()
        token = self._parsed.get(header)
        if token is None:
            token = parse_bearer(header.decode("latin-1"))
            if len(self._parsed) >= self._max_parsed:
                self._parsed.clear()
            self._parsed[header] = token
        return token


async def _send_to_refresh(
    cookies: CookieTransport, scope: Scope, receive: Receive, send: Send
) -> None:
    """Transparent refresh for a page load: the refresh cookie only goes to the refresh path,
    so the browser is sent there and back (or on to sign-in if that fails too). A form post
    cannot be replayed by a redirect, so it comes back to the start page instead."""
    back = path_with_query(scope) if scope.get("method") in ("GET", "HEAD") else "/"
    redirect = RedirectResponse(cookies.refresh_url(back), status_code=303)
    redirect.headers["Cache-Control"] = "no-store"
    await redirect(scope, receive, send)
