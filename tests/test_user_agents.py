"""Device names on the devices and admin pages: what ``describe`` makes of real user agents."""

from __future__ import annotations

import pytest

from sessionjwt.web.pages.user_agents import UNKNOWN, _describe, describe

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (CHROME_LINUX, "Chrome 156 on Linux"),
        (FIREFOX_WINDOWS, "Firefox 128 on Windows"),
        (SAFARI_MAC, "Safari 17 on macOS"),
        (SAFARI_IPHONE, "Mobile Safari 17 on iOS"),
        (CHROME_ANDROID, "Chrome Mobile 126 on Android"),
    ],
)
def test_common_browsers_are_named_by_browser_version_and_os(agent: str, expected: str) -> None:
    assert describe(agent) == expected


@pytest.mark.parametrize("agent", [None, "", "   ", "pytest-device/1.0", "<script>x</script>"])
def test_agents_it_cannot_read_are_an_unknown_browser(agent: str | None) -> None:
    assert describe(agent) == UNKNOWN


def test_a_known_os_with_an_unknown_browser_still_names_the_os() -> None:
    assert describe("SomeApp (X11; Linux x86_64)") == "Unknown browser on Linux"


def test_the_cache_is_bounded_and_sees_only_the_stored_length() -> None:
    assert _describe.cache_info().maxsize == 1024
    long_agent = CHROME_LINUX + " " + "x" * 10_000
    assert describe(long_agent) == describe(long_agent[:512])
