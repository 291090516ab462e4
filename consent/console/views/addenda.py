"""DPA addenda: list, send for signing, show the signing link, revoke, download the record."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from app import keyring
from app.console import presenters, queries, sessions
from app.console.blueprint import PREFIX, bp
from app.console.forms import AddendumForm, AddendumRevokeForm, apply_service_errors
from app.console.permissions import allowed
from app.console.sessions import requires
from app.db import get_session, utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.i18n import LOCALE_NAMES, LOCALES
from consent import addenda
from reports import services as record_services
from reports.api import pdf_download

# Revoking cannot be undone: a confirmation page (GET) says what happens, and the POST
# changes nothing without its ticked confirmation.
REVOCABLE = ("pending", "signed")


def _title(kind: str, locale: str) -> str:
    try:
        return addenda.text(kind, locale).title
    except OSError:
        return kind


def _form(formdata: Any = None) -> AddendumForm:
    locale = str(get_locale() or "sv")
    form = AddendumForm(formdata=formdata) if formdata is not None else AddendumForm(
        formdata=None, kind=addenda.KINDS[0], locale=locale)
    form.kind.choices = [(kind, _title(kind, locale)) for kind in addenda.KINDS]
    form.locale.choices = [(loc, LOCALE_NAMES.get(loc, loc)) for loc in LOCALES]
    return form


def _list_page(form: AddendumForm, status: int = 200) -> Any:
    staff = sessions.staff()
    session = get_session()
    locale = str(get_locale() or "sv")
    items = addenda.list_all(session, staff.tenant_id)
    signers = addenda.signers_by_addendum(session, [a.id for a in items])
    active = {kind: addenda.active(session, staff.tenant_id, kind) for kind in addenda.KINDS}
    return render_template(
        "console/addenda.html", items=items, signers=signers, active_by_kind=active, form=form,
        titles={kind: _title(kind, locale) for kind in addenda.KINDS},
        page_title=_("Addenda"), active="addenda",
    ), status


@bp.route(f"{PREFIX}/addenda", endpoint="addenda")
@requires("console.read")
def addenda_list() -> Any:
    return _list_page(_form())


@bp.route(f"{PREFIX}/addenda", methods=["POST"])
@requires("addenda.send")
def addendum_send() -> Any:
    staff = sessions.staff()
    form = _form(request.form)
    if form.validate():
        try:
            created, _signer = addenda.create(
                get_session(), keyring(), staff.tenant_id, staff.actor,
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
    records = record_services.records_of(session, staff.tenant_id, addendum_id=item.id)
    return render_template(
        "console/addendum.html", item=item, signer=signer, link=link, records=records,
        has_sealed=any(r.status == "sealed" for r in records),
        title=_title(item.kind, item.locale), can_end=item.status in REVOCABLE,
        trail=queries.trail(session, staff.tenant_id, addendum_id=item.id),
        page_title=_("Addendum"), active="addenda",
    )


@bp.route(f"{PREFIX}/addenda/<addendum_id>")
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


@bp.route(f"{PREFIX}/addenda/<addendum_id>/revoke", methods=["GET", "POST"])
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


@bp.route(f"{PREFIX}/addenda/<addendum_id>/record.pdf")
@requires("records.download")
def addendum_record(addendum_id: str) -> Response:
    staff = sessions.staff()
    session = get_session()
    addenda.get(session, staff.tenant_id, addendum_id)
    record = record_services.latest_sealed(session, staff.tenant_id, addendum_id=addendum_id)
    if record is None:
        raise NotFound(_("This addendum has no sealed record yet."))
    return pdf_download(record, f"addendum-{addendum_id}-{record.kind}.pdf")
