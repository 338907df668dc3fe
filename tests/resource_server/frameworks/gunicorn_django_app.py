"""``examples/django_api`` as gunicorn serves it, plus the header naming the answering worker
(refusals included) that the fork tests read."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from examples.django_api.wsgi import application


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("X-Worker", str(os.getpid()))], exc_info)

    result: Iterable[bytes] = application(environ, start)
    return result
