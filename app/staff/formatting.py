"""Template filters of every console page: dates, numbers and states in the chosen language (flask_babel).

The domains name their own states (:func:`add_status_labels`, called when they
register), so a state badge reads the same on every page without the foundation
knowing any domain's states.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, current_app
from flask_babel import format_date, format_datetime, format_decimal
from markupsafe import Markup, escape

_STATUS_KEY = "staff.status_labels"


def add_status_labels(app: Flask, labels: Mapping[str, Any]) -> None:
    """A domain's states and their translated names (lazy_gettext), for :func:`status`."""
    app.extensions.setdefault(_STATUS_KEY, {}).update(labels)


def status_label(value: str) -> Any:
    """A state's translated name, or the state itself when no domain named it."""
    return current_app.extensions.get(_STATUS_KEY, {}).get(value, value)


def _moment(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):  # some Core queries hand back ISO text on SQLite
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def when(value: datetime | str | None, fmt: str = "medium") -> Markup | str:
    """A moment as ``<time>``, in the chosen language; an em dash when there is none."""
    value = _moment(value)
    if value is None:
        return "—"
    return Markup('<time datetime="{}">{}</time>').format(value.isoformat(), format_datetime(value, fmt))


def day(value: date | datetime | None) -> Markup | str:
    if value is None:
        return "—"
    return Markup('<time datetime="{}">{}</time>').format(
        value.date().isoformat() if isinstance(value, datetime) else value.isoformat(),
        format_date(value, "medium"),
    )


def number(value: int | float | None) -> str:
    return "—" if value is None else format_decimal(value)


def status(value: str | None) -> Markup:
    """A state as a badge with its translated name (colour is never the only cue)."""
    if not value:
        return Markup("—")
    return Markup('<span class="badge {}">{}</span>').format(escape(value), status_label(value))


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        console_when=when,
        console_day=day,
        console_number=number,
        console_status=status,
    )
    app.jinja_env.globals.update(console_status_label=status_label)
