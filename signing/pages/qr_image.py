"""QR code images (PNG and SVG) with the ``qrcode`` package.

Used for the animated BankID QR (rendered on the server, so the browser never
sees ``qrStartSecret``) and for printable signing-link codes for on-site capture.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathFillImage

# M recovers ~15 % damage: enough for a screen or a print-out, small enough to scan quickly.
_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M


def _code(text: str, box_size: int) -> qrcode.QRCode:  # type: ignore[type-arg]
    code = qrcode.QRCode(error_correction=_ERROR_CORRECTION, box_size=box_size, border=4)
    code.add_data(text)
    code.make(fit=True)
    return code


def svg(text: str) -> bytes:
    """A standalone SVG document (black modules on a white background) that scales without blur."""
    image = _code(text, box_size=10).make_image(image_factory=SvgPathFillImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def png(text: str, box_size: int = 10) -> bytes:
    image = _code(text, box_size=box_size).make_image(image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()
