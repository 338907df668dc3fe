"""The web layer's state for one core: its cookie transport and FastAPI dependencies.

Made once per :class:`~sessionjwt.core.AuthCore` and kept beside it (not on it: the core
knows no web framework), so ``Depends(auth.principal)`` is the same object in every router
and ``app.dependency_overrides`` works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from sessionjwt.web.cookies import CookieTransport
from sessionjwt.web.dependencies import Dependency

if TYPE_CHECKING:
    from sessionjwt.core import AuthCore


class WebBinding:
    def __init__(self, auth: AuthCore) -> None:
        self.cookies = CookieTransport(auth.settings)
        self.dependencies = Dependency(auth, self.cookies)


_BINDINGS: WeakKeyDictionary[AuthCore, WebBinding] = WeakKeyDictionary()


def web_of(auth: AuthCore) -> WebBinding:
    binding = _BINDINGS.get(auth)
    if binding is None:
        binding = _BINDINGS[auth] = WebBinding(auth)
    return binding
