"""Tenant contacts kept with the DPA: data protection officer, incident contact, operations contact."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.db import get_session
from app.errors import Unprocessable
from app.staff import sessions
from app.staff.permissions import authorize
from app.staff.sessions import requires
from consent import contacts
from consent.console.forms import CONTACT_ROLES, ContactsForm
from consent.console.pages import pages


def _page(form: ContactsForm | None, status: int = 200) -> Any:
    staff = sessions.staff()
    current = contacts.get_contacts(get_session(), staff.tenant_id)
    if form is None:
        initial = {
            f"{role}_{field}": getattr(row, field)
            for role, row in current.items() if row is not None for field in ("name", "email", "phone")
        }
        form = ContactsForm(formdata=None, data=initial)
    return render_template(
        "console/contacts.html", current=current, form=form, roles=CONTACT_ROLES,
        page_title=_("Contacts"), active="contacts",
    ), status


@pages.route("/contacts", methods=["GET", "POST"], endpoint="contacts")
@requires("console.read")
def contacts_page() -> Any:
    if request.method == "GET":
        return _page(None)
    staff = sessions.staff()
    authorize(staff.role, "contacts.edit")
    form = ContactsForm()
    if not form.validate():
        return _page(form, 422)
    try:
        contacts.put_contacts(get_session(), staff.tenant_id, staff.actor, form.as_payload())
    except Unprocessable:
        form.form_errors.append(_("Fill in every contact field."))
        return _page(form, 422)
    flash(_("The contacts have been saved."), "ok")
    return redirect(url_for("console.contacts"))
