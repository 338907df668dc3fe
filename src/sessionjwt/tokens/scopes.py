"""Scope values (RFC 6749 §3.3): what an API key, a client or a scoped session may do.

One parser for every place a scope enters — an API key's creation, a client's registration,
the ``scope`` of a token request or a sign-in — so a value accepted in one is accepted in all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_SCOPES = 32
MAX_SCOPE_LENGTH = 64
MAX_SCOPES_TEXT = 1024
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), no quote, backslash or space.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}")
ACCOUNT_SCOPE = "account"  # lets a restricted credential reach account management
SCOPE_RULE = (
    f"Scopes are up to {MAX_SCOPES} RFC 6749 scope-tokens of 1 to {MAX_SCOPE_LENGTH} "
    "printable characters (no space, quote or backslash)."
)


class ScopeError(ValueError):
    """A value that is not a list of RFC 6749 scope-tokens; the caller says which error."""


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes in order, without repeats; :class:`ScopeError` for a value that is not an
    RFC 6749 scope-token, or too many."""
    unique = tuple(dict.fromkeys(scopes))
    if len(unique) > MAX_SCOPES or any(not _SCOPE_TOKEN.fullmatch(s) for s in unique):
        raise ScopeError(SCOPE_RULE)
    return unique


def parse_scope(text: str) -> tuple[str, ...]:
    """The space-separated ``scope`` parameter of a request (RFC 6749 §3.3)."""
    if len(text) > MAX_SCOPES_TEXT:
        raise ScopeError(SCOPE_RULE)
    return normalize_scopes(text.split(" ") if text else ())


def scope_text(scopes: Iterable[str]) -> str | None:
    """How scopes are stored and put in tokens: space-separated; None for none."""
    return " ".join(scopes) or None
