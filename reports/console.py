"""The tenant's audit log, newest first, with the hash chain's verification result."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request, url_for
from flask_babel import gettext as _

from app.bounds import storable_int
from app.console import queries, sessions
from app.console.blueprint import PREFIX, bp
from app.console.sessions import requires
from app.db import get_session
from reports import anchors

PAGE = 50


@bp.route(f"{PREFIX}/audit", endpoint="audit")
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
    events = queries.audit_page(session, staff.tenant_id, before_seq=before, limit=PAGE)
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
