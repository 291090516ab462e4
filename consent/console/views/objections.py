"""Objections (Art. 21) on the console: staff withdraw one the person took back, after a confirmation."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.db import get_session
from app.errors import NotFound
from app.i18n import current_locale
from app.staff import sessions
from app.staff.sessions import requires
from consent import objections, persons, purposes
from consent.console.forms import ObjectionWithdrawForm
from consent.console.pages import pages


def _objection_of(person_id: str, objection_id: str) -> Any:
    staff = sessions.staff()
    session = get_session()
    subject = persons.get_person(session, staff.tenant_id, person_id)
    objection = objections.get_objection(session, staff.tenant_id, objection_id)
    if objection.person_id != subject.id:
        raise NotFound(_("No such objection."))
    return subject, objection


def _page(person_id: str, objection_id: str, form: ObjectionWithdrawForm, status: int = 200) -> Any:
    staff = sessions.staff()
    subject, objection = _objection_of(person_id, objection_id)
    purpose = purposes.purpose_by_key(get_session(), staff.tenant_id, objection.purpose)
    label = purposes.label_in(purpose.label, current_locale(), objection.purpose) if purpose else objection.purpose
    return render_template(
        "console/objection_withdraw.html", person=subject, objection=objection, purpose_label=label, form=form,
        page_title=_("Withdraw the objection"), active="persons",
    ), status


@pages.route("/persons/<person_id>/objections/<objection_id>/withdraw", methods=["GET", "POST"])
@requires("objections.withdraw")
def objection_withdraw(person_id: str, objection_id: str) -> Any:
    staff = sessions.staff()
    _subject, objection = _objection_of(person_id, objection_id)  # 404 first
    if objection.withdrawn_at is not None:
        return redirect(url_for("console.person", person_id=person_id) + "#objections")
    if request.method == "GET":
        return _page(person_id, objection_id, ObjectionWithdrawForm(formdata=None))
    form = ObjectionWithdrawForm()
    if not form.validate():
        return _page(person_id, objection_id, form, 422)
    # Withdrawn meanwhile by someone else: the outcome the person asked for.
    with suppress(objections.ObjectionWithdrawn):
        objections.withdraw(get_session(), staff.tenant_id, objection_id, staff.actor)
    flash(_("The objection has been withdrawn."), "ok")
    return redirect(url_for("console.person", person_id=person_id) + "#objections")
