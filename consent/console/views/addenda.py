"""DPA addenda: list, send for signing, show the signing link, revoke (the record's download is reports')."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.crypto import current_keyring
from app.db import get_session, utcnow
from app.errors import Conflict, Unprocessable
from app.i18n import LOCALE_NAMES, LOCALES, current_locale
from app.staff import sessions
from app.staff.forms import apply_service_errors
from app.staff.permissions import allowed
from app.staff.sessions import requires
from consent import addenda
from consent.console import presenters, queries
from consent.console.forms import AddendumForm, AddendumRevokeForm
from consent.console.pages import pages
from consent.console.records import records_for

# Revoking cannot be undone: a confirmation page (GET) says what happens, and the POST
# changes nothing without its ticked confirmation.
REVOCABLE = ("pending", "signed")


def _title(kind: str, locale: str) -> str:
    try:
        return addenda.text(kind, locale).title
    except OSError:
        return kind


def _form(formdata: Any = None) -> AddendumForm:
    locale = current_locale()
    form = AddendumForm(formdata=formdata) if formdata is not None else AddendumForm(
        formdata=None, kind=addenda.KINDS[0], locale=locale)
    form.kind.choices = [(kind, _title(kind, locale)) for kind in addenda.KINDS]
    form.locale.choices = [(loc, LOCALE_NAMES.get(loc, loc)) for loc in LOCALES]
    return form


def _list_page(form: AddendumForm, status: int = 200) -> Any:
    staff = sessions.staff()
    session = get_session()
    locale = current_locale()
    items = addenda.list_all(session, staff.tenant_id)
    signers = addenda.signers_by_addendum(session, [a.id for a in items])
    active = {kind: addenda.active(session, staff.tenant_id, kind) for kind in addenda.KINDS}
    return render_template(
        "console/addenda.html", items=items, signers=signers, active_by_kind=active, form=form,
        titles={kind: _title(kind, locale) for kind in addenda.KINDS},
        page_title=_("Addenda"), active="addenda",
    ), status


@pages.route("/addenda", endpoint="addenda")
@requires("console.read")
def addenda_list() -> Any:
    return _list_page(_form())


@pages.route("/addenda", methods=["POST"])
@requires("addenda.send")
def addendum_send() -> Any:
    staff = sessions.staff()
    form = _form(request.form)
    if form.validate():
        try:
            created, _signer = addenda.create(
                get_session(), current_keyring(), staff.tenant_id, staff.actor,
                addenda.AddendumInput(
                    kind=form.kind.data, signer_name=form.signer_name.data.strip(),
                    signer_email=(form.signer_email.data or "").strip() or None,
                    signer_personal_number=(form.signer_personal_number.data or "").strip() or None,
                    locale=form.locale.data,
                ),
                now=utcnow(), link_days=int(current_app.config.get("SIGNING_LINK_DAYS", 30)),
            )
        except Unprocessable as exc:
            apply_service_errors(form, exc.errors, {
                "signer": ("signer_personal_number", _("Enter a valid Swedish personal number, like 19121212-1212.")),
                "kind": ("kind", _("Choose the addendum.")),
                "locale": ("locale", _("Choose a language.")),
            }, _("The addendum could not be sent."))
        else:
            flash(_("The addendum has been created. Give the signer the link or QR code."), "ok")
            return redirect(url_for("console.addendum", addendum_id=created.id))
    return _list_page(form, 422)


def _detail(addendum_id: str) -> Any:
    staff = sessions.staff()
    session = get_session()
    item = addenda.get(session, staff.tenant_id, addendum_id)
    signer = addenda.signer_of(session, item.id)
    now = utcnow()
    link = None
    if item.status == "pending" and signer.status == "pending" and signer.expires_at > now \
            and allowed(staff.role, "addenda.send"):
        link = presenters.signing_link(signer.id)
    records = records_for(session, staff.tenant_id, addendum_ids=[item.id])
    return render_template(
        "console/addendum.html", item=item, signer=signer, link=link, records=records,
        has_sealed=any(r.status == "sealed" for r in records),
        title=_title(item.kind, item.locale), can_end=item.status in REVOCABLE,
        trail=queries.trail(session, staff.tenant_id, addendum_id=item.id),
        page_title=_("Addendum"), active="addenda",
    )


@pages.route("/addenda/<addendum_id>")
@requires("console.read")
def addendum(addendum_id: str) -> Any:
    return _detail(addendum_id)


def _revoke_page(addendum_id: str, form: AddendumRevokeForm, status: int = 200) -> Any:
    staff = sessions.staff()
    item = addenda.get(get_session(), staff.tenant_id, addendum_id)
    return render_template(
        "console/addendum_revoke.html", item=item, title=_title(item.kind, item.locale), form=form,
        page_title=_("Revoke the addendum"), active="addenda",
    ), status


@pages.route("/addenda/<addendum_id>/revoke", methods=["GET", "POST"])
@requires("addenda.revoke")
def addendum_revoke(addendum_id: str) -> Any:
    staff = sessions.staff()
    found = addenda.get(get_session(), staff.tenant_id, addendum_id)  # 404 first
    if request.method == "GET":
        if found.status not in REVOCABLE:
            return redirect(url_for("console.addendum", addendum_id=addendum_id))
        return _revoke_page(addendum_id, AddendumRevokeForm(formdata=None))
    form = AddendumRevokeForm()
    if not form.validate():
        return _revoke_page(addendum_id, form, 422)
    try:
        addenda.revoke(get_session(), staff.tenant_id, staff.actor, addendum_id, now=utcnow())
    except Conflict:
        form.form_errors.append(_("Only a pending or signed addendum can be revoked."))
        return _revoke_page(addendum_id, form, 409)
    flash(_("The addendum has been revoked."), "ok")
    return redirect(url_for("console.addendum", addendum_id=addendum_id))

