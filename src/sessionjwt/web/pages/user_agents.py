"""Device names for people: "Chrome 156 on Linux" instead of a raw ``User-Agent`` string.

A user deciding which session to sign out recognises a browser and an operating system, not a
header. Parsing uses the maintained uap-core rules (``ua-parser``); it costs a regex scan, and
the devices and admin pages show the same few agents over and over, hence the cache. The cache
is bounded because the input is attacker-chosen (any client can send any ``User-Agent``).
"""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse

from sessionjwt.client import MAX_USER_AGENT

UNKNOWN = "Unknown browser"
# uap-core's family names, where the marketing name reads better to users.
_OS_NAMES = {"Mac OS X": "macOS"}


def describe(user_agent: str | None) -> str:
    """ "Browser major on OS", as much of it as the agent reveals, or ``"Unknown browser"``."""
    if not user_agent or not user_agent.strip():
        return UNKNOWN
    return _describe(user_agent[:MAX_USER_AGENT])


@lru_cache(maxsize=1024)
def _describe(user_agent: str) -> str:
    result = parse(user_agent)
    browser = result.user_agent
    system = result.os
    name = ""
    if browser is not None and browser.family != "Other":
        name = f"{browser.family} {browser.major}" if browser.major else browser.family
    os_name = ""
    if system is not None and system.family != "Other":
        os_name = _OS_NAMES.get(system.family, system.family)
    if name and os_name:
        return f"{name} on {os_name}"
    if name:
        return name
    if os_name:
        return f"{UNKNOWN} on {os_name}"
    return UNKNOWN
