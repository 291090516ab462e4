"""The signing domain's clock.

Services take ``now`` as a plain value; the pages (and anything else that calls
them inside a request) ask this clock, so a test can move time for a whole
signing flow at once by installing ``SIGNING_CLOCK``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app

from app.db import utcnow


def now() -> datetime:
    """Real time, or the clock a test installs (``SIGNING_CLOCK``)."""
    clock: Callable[[], datetime] | None = current_app.config.get("SIGNING_CLOCK")
    return clock() if clock is not None else utcnow()
