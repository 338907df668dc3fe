"""``examples/flask_api.py`` as gunicorn serves it, plus a header naming the worker that
answered each request, refusals included: the fork tests need to see both workers refuse."""

from __future__ import annotations

import os

from examples.flask_api import app
from flask import Response


@app.after_request
def name_the_worker(response: Response) -> Response:
    response.headers["X-Worker"] = str(os.getpid())
    return response
