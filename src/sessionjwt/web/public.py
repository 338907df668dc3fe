"""The public opt-out from the default-deny guard; framework-free so the core can export it."""

from __future__ import annotations

from typing import TypeVar

PUBLIC_ATTRIBUTE = "__sessionjwt_public__"

T = TypeVar("T")


def public(target: T) -> T:
    """Mark an endpoint (or a mounted ASGI app) as open to anonymous callers."""
    setattr(target, PUBLIC_ATTRIBUTE, True)
    return target


def is_public(target: object) -> bool:
    return getattr(target, PUBLIC_ATTRIBUTE, False) is True
