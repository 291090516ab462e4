"""A sealed record as an HTTP download: the one answer the API, the console and the
subject's link all give for a record's PDF."""

from __future__ import annotations

from flask import Response

from app.db import get_session
from app.errors import NotFound
from consent.models import Consent
from consent.queries import get_scoped
from reports import services
from reports.models import Record


def pdf_download(record: Record, filename: str) -> Response:
    """The record's PDF as an attachment, with its SHA-256 so a client can check what it got."""
    response = Response(record.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-SHA256"] = record.sha256
    response.headers["Cache-Control"] = "no-store"
    return response


def record_pdf_for_consent(tenant_id: str, consent_id: str, kind: str | None = None) -> Response:
    """The consent's latest sealed record (of ``kind``), for the API and the console; 404 for another
    tenant's consent or before the record is sealed."""
    session = get_session()
    get_scoped(session, Consent, tenant_id, consent_id, "consent")
    record = services.latest_sealed(session, tenant_id, consent_id=consent_id, kind=kind)
    if record is None:
        raise NotFound("This consent has no sealed record yet.")
    return pdf_download(record, f"samtycke-{consent_id}-{record.kind}.pdf")
