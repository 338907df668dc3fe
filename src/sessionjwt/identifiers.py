"""Random identifiers that operators type: session ids, key ids, client ids.

``secrets.token_urlsafe`` starts with ``-`` one time in 64, and a command line then reads the
identifier as an option (``sessionjwt keys retire -dNx…`` fails). Drawing again until the
first character is not ``-`` keeps the draw uniform over the identifiers that remain and
costs under 0.03 bits of the entropy.
"""

from __future__ import annotations

import secrets


def new_identifier(nbytes: int) -> str:
    """``nbytes`` of CSPRNG output, base64url, never starting with ``-``."""
    while True:
        identifier = secrets.token_urlsafe(nbytes)
        if not identifier.startswith("-"):
            return identifier
