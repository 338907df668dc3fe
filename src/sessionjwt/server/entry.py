"""The ``sessionjwt`` console script: one readable line, not a traceback, without the extras.

``pip install sessionjwt`` installs the library only; the command line and the service need
``sessionjwt[server]``. This module checks for them with the standard library alone before
importing :mod:`sessionjwt.server.cli` (which imports Typer, Rich and, to serve, Uvicorn and
FastAPI at module level). Importing it still runs ``sessionjwt/__init__``, which needs the core
dependencies only: those come with every install.
"""

from __future__ import annotations

import importlib.util
import sys

EXIT_MISSING_EXTRA = 2
#: Top-level modules the ``server`` extra provides, as ``import`` spells them.
SERVER_MODULES = ("typer", "rich", "uvicorn", "fastapi", "starlette", "jinja2", "prometheus_client")


def hint(module: str) -> str:
    return (
        f"sessionjwt: the command line needs the server extra (no module named {module!r}): "
        "pip install 'sessionjwt[server]'"
    )


def missing_module() -> str | None:
    for module in SERVER_MODULES:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def main() -> None:
    module = missing_module()
    if module is None:
        try:
            from sessionjwt.server import cli
        except ModuleNotFoundError as error:
            # A dependency of a dependency the check above cannot name; never one of ours (an
            # ImportError inside sessionjwt is a bug and keeps its traceback).
            top = (error.name or "").partition(".")[0]
            if not top or top == "sessionjwt":
                raise
            module = top
        else:
            cli.main()
            return
    print(hint(module), file=sys.stderr)
    sys.exit(EXIT_MISSING_EXTRA)


if __name__ == "__main__":
    main()
