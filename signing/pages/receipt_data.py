"""The receipt of a signing link as plain values, for its page and its JSON twin."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import get_locale
from sqlalchemy.orm import Session

from signing import services
from signing.pages import texts
from signing.pages.context import providers


def receipt_data(session: Session, token: str, link: services.Link) -> dict[str, Any]:
    """What was signed with this link, and where it stands now (signature fields null until signed).

    Once signed, the view holds the text in the language signed (``signing_view``): the
    evidence here never follows the language of the page around it.
    """
    view = link.view
    found = services.receipt(session, link.signer)
    labels = {p.key: p.label for p in view.purposes}
    data: dict[str, Any] = {
        "kind": view.kind,
        "object_id": view.object_id,
        "status": view.object_status,
        "signer_status": view.signer_status,
        "role": view.role,
        "locale": view.locale,
        "title": view.title,
        "text_sha256": view.text_sha256,
        "visible_text": None,
        "visible_sha256": None,
        "purposes": [],
        "valid_until": view.valid_until,
        "signed_at": None,
        "signed_by": None,
        "method": None,
        "method_label": None,
        "record_available": view.record_available,
        "record_url": url_for("signing.record", token=token) if view.record_available else None,
        "can_withdraw": view.can_withdraw,
    }
    if found is not None:
        data.update(
            visible_text=found.visible_text,
            visible_sha256=found.visible_sha256,
            purposes=[{"key": key, "label": labels.get(key, key)} for key in found.purposes],
            signed_at=found.signed_at,
            signed_by=found.signer_name,
            method=found.method,
            method_label=texts.method_label(found.method, _provider_label(found.provider)),
        )
    return data


def _provider_label(name: str | None) -> str | None:
    locale = get_locale()
    language = locale.language if locale is not None else None
    return next((p.label_for(language) for p in providers() if p.name == name), None) if name else None
