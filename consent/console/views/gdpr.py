"""GDPR requests: export a person (Art. 15 and 20) and erase a person (Art. 17) after confirmation."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.crypto import current_keyring
from app.db import get_session, utcnow
from app.staff import sessions
from app.staff.sessions import requires
from consent import gdpr, persons
from consent.console import person_search, queries
from consent.console.forms import EraseForm
from consent.console.pages import pages


@pages.route("/gdpr", endpoint="gdpr", methods=["GET", "POST"])
@requires("console.read")
def gdpr_home() -> Any:
    outcome = person_search.search("console.gdpr", sessions.staff().tenant_id)
    if not isinstance(outcome, person_search.PersonSearch):
        return outcome
    return render_template(
        "console/gdpr.html", form=outcome.form, text=outcome.text, found=outcome.found,
        page_title=_("GDPR requests"), active="gdpr",
    ), outcome.status


@pages.route("/persons/<person_id>/export.json")
@requires("persons.export")
def gdpr_export(person_id: str) -> Response:
    staff = sessions.staff()
    data = gdpr.export_person(get_session(), current_keyring(), staff.tenant_id, person_id, staff.actor)
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="person-{person_id}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _erase_page(person_id: str, form: EraseForm, status: int = 200) -> Any:
    staff = sessions.staff()
    session = get_session()
    subject = persons.get_person(session, staff.tenant_id, person_id)
    return render_template(
        "console/erase.html", person=subject, form=form,
        preview=queries.erasure_preview(session, staff.tenant_id, subject.id, utcnow()),
        page_title=_("Erase a person"), active="gdpr",
    ), status


@pages.route("/persons/<person_id>/erase", methods=["GET", "POST"])
@requires("persons.erase")
def gdpr_erase(person_id: str) -> Any:
    staff = sessions.staff()
    if request.method == "GET":
        return _erase_page(person_id, EraseForm(formdata=None))
    persons.get_person(get_session(), staff.tenant_id, person_id)  # 404 before validation
    form = EraseForm()
    if not form.validate():
        return _erase_page(person_id, form, 422)
    gdpr.erase_person(get_session(), current_keyring(), staff.tenant_id, person_id, staff.actor)
    flash(_("The person's personal data has been erased. Linked assets now answer “not allowed”."), "ok")
    return redirect(url_for("console.gdpr"))
