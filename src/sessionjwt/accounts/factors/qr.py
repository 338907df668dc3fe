"""The enrolment QR code as inline SVG (segno): no image files, no third-party request."""

from __future__ import annotations

import segno


def qr_svg(text: str) -> str:
    """An ``<svg>`` element for ``text``, with a title for screen readers."""
    return segno.make(text, error="m").svg_inline(
        scale=4, title="QR code for your authenticator app"
    )
