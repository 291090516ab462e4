"""Template filters: dates, numbers and states in the chosen language (flask_babel)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from flask_babel import format_date, format_datetime, format_decimal
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

STATUS_LABELS = {
    "pending": _l("Pending"),
    "given": _l("Given"),
    "refused": _l("Refused"),
    "withdrawn": _l("Withdrawn"),
    "revoked": _l("Revoked"),
    "expired": _l("Expired"),
    "signed": _l("Signed"),
    "declined": _l("Declined"),
    "sealed": _l("Sealed"),
    "failed": _l("Failed"),
}

REASON_LABELS = {
    "no_linked_persons": _l("No persons are linked to the asset"),
    "erased": _l("The person has been erased"),
    "consent_given": _l("Consent given"),
    "withdrawn": _l("Consent withdrawn"),
    "revoked": _l("Consent revoked"),
    "expired": _l("Consent expired"),
    "not_yet_valid": _l("Consent not yet valid"),
    "purpose_not_covered": _l("The purpose is not covered"),
    "asset_not_covered": _l("The asset is not covered"),
    "signature_missing": _l("A signature is missing"),
    "refused": _l("Consent refused"),
    "no_consent": _l("No consent"),
}

ROLE_LABELS = {
    "subject": _l("The person"),
    "guardian": _l("Guardian"),
    "representative": _l("Representative"),
}

CONTACT_LABELS = {
    "dpo": _l("Data protection officer"),
    "incident": _l("Incident contact"),
    "operations": _l("Operations contact"),
}


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
    label = STATUS_LABELS.get(value, value)
    return Markup('<span class="badge {}">{}</span>').format(escape(value), label)


def label_of(labels: dict[str, Any], locale: str, fallback: str) -> str:
    """A purpose's label in the chosen language, else another language, else its key."""
    if not isinstance(labels, dict):
        return fallback
    for loc in (locale, "en", "sv", "nb"):
        if labels.get(loc):
            return str(labels[loc])
    return fallback


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        console_when=when,
        console_day=day,
        console_number=number,
        console_status=status,
    )
    app.jinja_env.globals.update(
        console_reason=lambda r: REASON_LABELS.get(r, r),
        console_status_label=lambda s: STATUS_LABELS.get(s, s),
        console_role=lambda r: ROLE_LABELS.get(r, r),
        console_contact_label=lambda r: CONTACT_LABELS.get(r, r),
    )
