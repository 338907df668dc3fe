"""Turning a template and its values into an HTML response, with the form token every page needs.

Every page of a signed-in user carries the "Sign out" form in its nav, and the public pages
carry their own forms, so each render hands out the CSRF form token (and sets its cookie on
the first visit). Jinja autoescapes everything: emails and user agents are attacker-chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from sessionjwt.principal import Principal
from sessionjwt.web.cookies import CookieTransport
from sessionjwt.web.csrf import form_token
from sessionjwt.web.pages.user_agents import describe


def as_datetime(moment: float | datetime) -> datetime:
    """Sessions keep epoch seconds, audit rows datetimes; both are shown in UTC."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(moment, UTC)


def human_time(moment: float | datetime) -> str:
    """ "30 Nov 2026, 18:40 UTC": unambiguous in every locale, no script needed."""
    return as_datetime(moment).strftime("%d %b %Y, %H:%M UTC")


def time_element(moment: float | datetime | None) -> Markup:
    """``<time datetime=ISO>`` so machines (and the E2E tests) read the exact instant."""
    if moment is None:
        return Markup("—")
    value = as_datetime(moment).replace(microsecond=0)
    iso = value.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}">{}</time>').format(iso, human_time(value))


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("sessionjwt.web.pages", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a typo in a template fails the tests, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["moment"] = time_element
    environment.filters["device"] = describe
    return environment


class Renderer:
    """Renders the pages' templates for one :class:`CookieTransport` and admin role."""

    def __init__(self, cookies: CookieTransport, admin_role: str) -> None:
        self._cookies = cookies
        self._admin_role = admin_role
        self.environment = _environment()

    def is_admin(self, principal: Principal | None) -> bool:
        return principal is not None and principal.has_roles(self._admin_role)

    def page(
        self,
        request: Request,
        template: str,
        *,
        title: str,
        status: int = 200,
        principal: Principal | None = None,
        notice: str | None = None,
        error: str | None = None,
        headers: Mapping[str, str] | None = None,
        **values: Any,
    ) -> HTMLResponse:
        """The page, with the form token in ``csrf_token`` and its cookie if newly made."""
        carrier = Response()
        token = form_token(request, carrier, self._cookies)
        html = self.environment.get_template(template).render(
            title=title,
            principal=principal,
            is_admin=self.is_admin(principal),
            current_path=request.url.path,
            csrf_token=token,
            notice=notice,
            error=error,
            **values,
        )
        response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
        for name, value in carrier.raw_headers:
            if name == b"set-cookie":
                response.raw_headers.append((name, value))
        return response
