"""The PDF records the consent pages show, asked of the records domain through a signal.

Consent sits below reports and never imports it. A consent's or an addendum's page
lists its records by sending ``consent.signals.records_listed``; the records domain answers
(its receiver is connected in ``create_app``). Without a receiver a page simply
shows no records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from consent.signals import records_listed


class RecordLine(Protocol):
    """What the pages read of a record."""

    kind: str
    status: str
    consent_id: str | None
    addendum_id: str | None
    sealed_at: datetime | None
    sha256: str | None


def records_for(
    session: Session, tenant_id: str, *, consent_ids: Sequence[str] = (), addendum_ids: Sequence[str] = ()
) -> list[RecordLine]:
    """The records of these consents and addenda, as the records domain lists them."""
    if not consent_ids and not addendum_ids:
        return []
    found: list[RecordLine] = []
    for _receiver, records in records_listed.send(
        session, tenant_id=tenant_id, consent_ids=list(consent_ids), addendum_ids=list(addendum_ids)
    ):
        found.extend(records)
    return found
