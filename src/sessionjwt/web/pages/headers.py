"""Security headers for every page response (docs: the issue 6 page contract).

The pages hold forms that end sessions and change passwords, so they must not be framed
(clickjacking), must not run injected markup (the CSP allows our own files only, no inline
script or style), must not leak URLs through Referer, and must not sit in shared caches.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    # connect-src: passkeys.js sends the WebAuthn ceremony to this origin (fetch), no other.
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def apply_security_headers(headers: MutableHeaders) -> None:
    """Set (not add) each header, replacing whatever a lower layer chose."""
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
