"""Verification as the service answers it: the seal check plus, for a valid
record, whether the consent it proves still holds today."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import PayloadTooLarge
from consent import consents
from consent.models import Addendum, Consent
from reports.keys import trust_roots
from reports.verify import MAX_REVISIONS, MAX_STREAM_BYTES, TOO_LARGE, RecordVerification, verify_record


class RecordTooLarge(PayloadTooLarge):
    """The upload fits the request limit but inflates (or branches) far beyond any record."""

    slug, title = "record-too-large", "Too large to be a record"


def current_status(session: Session, result: RecordVerification, now: datetime) -> str | None:
    """The consent's (or addendum's) state today; None when unknown or the record is not valid.

    Only the state is returned, never who it concerns: the page shows no more than the PDF holds.
    """
    if not result.valid or not result.tenant_id:
        return None
    if result.consent_id:
        status = session.scalar(
            sa.select(consents.status_sql(now)).where(
                Consent.id == result.consent_id, Consent.tenant_id == result.tenant_id
            )
        )
        return "unknown" if status is None else str(status)
    if result.addendum_id:
        addendum_status = session.scalar(
            sa.select(Addendum.status).where(Addendum.id == result.addendum_id, Addendum.tenant_id == result.tenant_id)
        )
        return str(addendum_status) if addendum_status else "unknown"
    return None


def verify_for_service(
    app: Flask, session: Session, pdf: bytes, *, expected_tenant_id: str | None = None
) -> dict[str, Any]:
    result = verify_record(pdf, trust_roots=trust_roots(app), expected_tenant_id=expected_tenant_id)
    if TOO_LARGE in result.problems:
        raise RecordTooLarge(
            f"The file was not checked: a stream in it decodes to more than {MAX_STREAM_BYTES // 2**20} MiB, "
            f"or it has more than {MAX_REVISIONS} revisions. A Samtycke record never does."
        )
    body = asdict(result)
    for key in ("signed_at", "timestamp"):
        body[key] = body[key].isoformat() if body[key] is not None else None
    body["current_status"] = current_status(session, result, utcnow())
    if expected_tenant_id is None:
        body.pop("tenant_id", None)  # the public page does not name tenants by id
    return body
