"""The records domain's console pages: the audit log with its chain's verification and anchors,
the downloads of sealed records, and the dashboard's section of records that failed.

``register(app)`` adds them to the console's frame (:mod:`app.staff`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit_queries
from app.bounds import storable_int
from app.db import get_session
from app.errors import NotFound
from app.staff import formatting, navigation, sessions
from app.staff.dashboard import add_section
from app.staff.pages import ConsolePages
from app.staff.sessions import requires
from consent import addenda
from reports import anchors, services
from reports.download import pdf_download, record_pdf_for_consent
from reports.models import Record

PAGE = 50
FAILED_SHOWN = 50

STATUS_LABELS = {"pending": _l("Pending"), "sealed": _l("Sealed"), "failed": _l("Failed")}

pages = ConsolePages("reports_console", __name__, template_folder="web_templates")


@pages.route("/audit", endpoint="audit")
@requires("audit.read")
def audit_log() -> Any:
    staff = sessions.staff()
    session = get_session()
    try:
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        before = None
    if before is not None and not storable_int(before):
        before = None  # no sequence number is that large; a query could not even compare it
    events = audit_queries.stored_events(session, staff.tenant_id, before_seq=before, newest_first=True, limit=PAGE)
    oldest = min((e.seq for e in events if e.seq is not None), default=None)
    settings = anchors.anchoring(current_app)
    # A verified chain gets its head checkpointed, at most every AUDIT_CHECKPOINT_SECONDS.
    verification = anchors.verify_and_checkpoint(session, staff.tenant_id, settings, min_age=settings.interval)
    return render_template(
        "console/audit.html", events=events, verification=verification,
        newer_url=url_for("console.audit") if before else None,
        older_url=url_for("console.audit", before=oldest) if oldest and oldest > 1 else None,
        page_title=_("Audit log"), active="audit",
    )


@pages.route("/consents/<consent_id>/record.pdf")
@requires("records.download")
def consent_record(consent_id: str) -> Response:
    staff = sessions.staff()
    return record_pdf_for_consent(staff.tenant_id, consent_id)


@pages.route("/addenda/<addendum_id>/record.pdf")
@requires("records.download")
def addendum_record(addendum_id: str) -> Response:
    staff = sessions.staff()
    session = get_session()
    addenda.get(session, staff.tenant_id, addendum_id)
    record = services.latest_sealed(session, staff.tenant_id, addendum_id=addendum_id)
    if record is None:
        raise NotFound(_("This addendum has no sealed record yet."))
    return pdf_download(record, f"addendum-{addendum_id}-{record.kind}.pdf")


def failed_records(session: Session, tenant_id: str, now: datetime) -> list[Record]:
    """The dashboard section's data: records that failed, newest first."""
    return services.failed_records(session, tenant_id, FAILED_SHOWN)


def register(app: Flask) -> None:
    pages.register(app)
    formatting.add_status_labels(app, STATUS_LABELS)
    navigation.add(app, "audit", _l("Audit log"), "console.audit", "audit.read")
    add_section(app, "console/dashboard_records.html", failed_records)
