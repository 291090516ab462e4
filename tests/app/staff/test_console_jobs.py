"""The dashboard's background-work section: the tenant's own queue, and the DPO's retry."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from reports.models import Record
from tests.console_world import Seed, csrf_of


def _section(client: Any) -> str:
    html = client.get("/").get_data(as_text=True)
    return str(html.split("<h2>Background work</h2>")[1].split("<h2")[0])


def test_the_dashboard_shows_the_tenants_background_work_and_a_dpo_queues_the_failed_again(
    app: Flask, seed: Seed, as_role: Any
) -> None:
    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        record = session.scalars(sa.select(Record).where(Record.consent_id == seed.given_consent)).one()
        record.status, record.failure_reason, record.attempts, record.pdf = "failed", "TSA down", 6, None
        # Another tenant's failures are not this tenant's business.
        session.add(Record(tenant_id=seed.other_tenant_id, kind="consent_given", consent_id=seed.other_consent,
                           audit_event_id="e", audit_event_hash="0" * 64, status="failed", failure_reason="x"))
    viewer = as_role("viewer")
    section = _section(viewer)
    row = section.split("PDF records")[1].split("</tr>")[0]
    assert [cell.split("</td>")[0] for cell in row.split("<td>")[1:]] == ["0", "—", "1", "0"]
    assert "Webhook deliveries" in section
    assert "Retry what failed" not in section  # a viewer sees the queue, not the button
    token = csrf_of(viewer.get("/").get_data(as_text=True))
    assert viewer.post("/console/jobs/retry", data={"csrf_token": token}).status_code == 403

    dpo = as_role("dpo")
    page = dpo.get("/").get_data(as_text=True)
    assert "Retry what failed" in page
    done = dpo.post("/console/jobs/retry", data={"csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "1 failed item queued again." in done.get_data(as_text=True)
    with app.extensions["samtycke.sessionmaker"]() as session:
        mine = session.scalars(sa.select(Record).where(Record.consent_id == seed.given_consent)).one()
        others = list(session.scalars(sa.select(Record.status).where(Record.tenant_id == seed.other_tenant_id)))
    # Queued after the commit and (eagerly, in tests) sealed: one more attempt.
    assert mine.status == "sealed" and mine.attempts == 7 and mine.failure_reason is None
    assert others == ["failed"]


def test_the_dashboard_puts_consents_first_and_says_plainly_when_nothing_waits(
    app: Flask, seed: Seed, as_role: Any
) -> None:
    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        # The seed leaves one record unsealed on purpose; here everything is done.
        for waiting in session.scalars(sa.select(Record).where(Record.status != "sealed")):
            waiting.status, waiting.pdf = "sealed", b"%PDF-1.7 placeholder"
    html = as_role("dpo").get("/").get_data(as_text=True)
    # The DPO's own work first; the machinery's health after it.
    assert html.index(">Consents by state</h2>") < html.index("<h2>Background work</h2>")
    section = _section(as_role("dpo"))
    assert "Nothing is waiting" in section and "<table" not in section

    with app.extensions["samtycke.sessionmaker"]() as session, session.begin():
        record = session.scalars(sa.select(Record).where(Record.consent_id == seed.given_consent)).one()
        record.status, record.pdf = "pending", None
    section = _section(as_role("dpo"))
    assert "Nothing is waiting" not in section and "<table" in section
