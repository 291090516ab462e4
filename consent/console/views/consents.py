"""Consents: filtered list, detail (signatures, evidence, records, trail), revoke, withdraw.

The record's download is the records domain's page (``reports.console``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.bounds import storable_int
from app.db import get_session, utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.i18n import current_locale
from app.staff import sessions
from app.staff.permissions import allowed
from app.staff.sessions import requires
from app.text import has_control_characters
from consent import consents, purposes, templates
from consent.console import presenters, queries
from consent.console.forms import ConsentFilterForm, RevokeForm, WithdrawForm
from consent.console.labels import STATUS_LABELS
from consent.console.pages import pages
from consent.console.records import records_for

PAGE = 50
# Ending a consent cannot be undone, so each way of ending it has its own confirmation page
# (GET) that says what happens; the POST changes nothing without the ticked confirmation.
WITHDRAWABLE = ("given",)
REVOCABLE = ("given", "pending")
EXPIRY_CHOICES = (("", _l("Any time")), ("30", _l("Within 30 days")), ("90", _l("Within 90 days")),
                  ("365", _l("Within a year")))


def _int(value: str | None, default: int = 0) -> int:
    """A paging offset from the query string; anything else, too large for a query included, is the default."""
    try:
        number = max(0, int(value or default))
    except ValueError:
        return default
    return number if storable_int(number) else default


@pages.route("/consents", endpoint="consents")
@requires("console.read")
def consents_list() -> Any:
    staff = sessions.staff()
    session = get_session()
    locale = current_locale()
    form = ConsentFilterForm(request.args)
    form.status.choices = [("", _("Any state")), *[(s, STATUS_LABELS[s]) for s in consents.STATUSES]]
    form.purpose.choices = [("", _("Any purpose")), *[
        (p.key, purposes.label_in(p.label, locale, p.key)) for p in purposes.list_purposes(session, staff.tenant_id)]]
    form.template.choices = [("", _("Any template")), *[
        (key, key) for key in queries.template_keys(session, staff.tenant_id)]]
    form.expires.choices = list(EXPIRY_CHOICES)
    form.validate()
    # A state or period outside the choices is ignored (its field shows why); a purpose or
    # template key is used as given, so an unknown one simply matches nothing.
    valid = {name: getattr(form, name).data if not getattr(form, name).errors else None
             for name in ("status", "expires")}
    for name in ("purpose", "template"):
        raw = (request.args.get(name) or "").strip()
        valid[name] = raw if raw and not has_control_characters(raw) else None
    offset = _int(request.args.get("offset"))
    person_id = request.args.get("person") or None
    person = None
    if person_id:
        person = queries.person_in_tenant(session, staff.tenant_id, person_id)
        if person is None:
            raise NotFound(_("No such person."))
    now = utcnow()
    flt = consents.ConsentFilter(
        status=valid["status"] or None, purpose=valid["purpose"] or None, template=valid["template"] or None,
        expiring_by=now + timedelta(days=int(valid["expires"])) if valid["expires"] else None,
        person_id=person_id,
    )
    lines, more = queries.consent_lines(session, staff.tenant_id, flt, now, offset=offset, limit=PAGE)
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "offset" and v}
    return render_template(
        "console/consents.html", form=form, lines=lines, person=person,
        next_url=url_for("console.consents", **args, offset=offset + PAGE) if more else None,
        prev_url=url_for("console.consents", **args, offset=max(0, offset - PAGE)) if offset else None,
        page_title=_("Consents"), active="consents",
    )


def _detail(consent_id: str) -> Any:
    staff = sessions.staff()
    session = get_session()
    consent = consents.get(session, staff.tenant_id, consent_id)
    now = utcnow()
    locale = current_locale()
    signers = queries.signers_of_consent(session, staff.tenant_id, consent.id)
    names = queries.names_of(session, staff.tenant_id, [consent.person_id, *[s.person_id for s in signers]])
    person = queries.person_in_tenant(session, staff.tenant_id, consent.person_id)
    records = records_for(session, staff.tenant_id, consent_ids=[consent.id])
    shown = consents.status_at(consent, now)
    return render_template(
        "console/consent.html",
        consent=consent,
        shown_status=shown,
        person=person,
        names=names,
        signers=signers,
        signatures=[
            (sig, *presenters.evidence_summary(sig.evidence, show_addresses=allowed(staff.role, "persons.export")))
            for sig in consent.signatures
        ],
        purpose_labels=templates.purpose_labels(session, staff.tenant_id,
                                                list(dict.fromkeys([*consent.requested_purposes,
                                                                    *consent.purposes])), locale),
        records=records,
        has_sealed=any(r.status == "sealed" for r in records),
        consent_request=queries.request_of_consent(session, staff.tenant_id, consent.id),
        trail=queries.trail(session, staff.tenant_id, consent_ids=[consent.id]),
        can_revoke=shown in REVOCABLE,
        can_withdraw=shown in WITHDRAWABLE,
        page_title=_("Consent"),
        active="consents",
    )


@pages.route("/consents/<consent_id>")
@requires("console.read")
def consent(consent_id: str) -> Any:
    return _detail(consent_id)


def _end_page(consent_id: str, action: str, form: WithdrawForm | RevokeForm, status: int = 200) -> Any:
    staff = sessions.staff()
    session = get_session()
    consent = consents.get(session, staff.tenant_id, consent_id)
    shown = consents.status_at(consent, utcnow())
    keys = list(consent.purposes if shown == "given" else consent.requested_purposes)
    labels = templates.purpose_labels(session, staff.tenant_id, keys, current_locale())
    names = queries.names_of(session, staff.tenant_id, [consent.person_id])
    return render_template(
        "console/consent_end.html",
        action=action,
        consent=consent,
        shown_status=shown,
        person_name=names.get(consent.person_id),
        purposes=[labels.get(key, key) for key in keys],
        form=form,
        page_title=_("Withdraw the consent") if action == "withdraw" else _("Revoke the consent"),
        active="consents",
    ), status


@pages.route("/consents/<consent_id>/revoke", methods=["GET", "POST"])
@requires("consents.revoke")
def consent_revoke(consent_id: str) -> Any:
    staff = sessions.staff()
    found = consents.get(get_session(), staff.tenant_id, consent_id)  # 404 first
    if request.method == "GET":
        if consents.status_at(found, utcnow()) not in REVOCABLE:
            return redirect(url_for("console.consent", consent_id=consent_id))
        return _end_page(consent_id, "revoke", RevokeForm(formdata=None))
    form = RevokeForm()
    if not form.validate():
        return _end_page(consent_id, "revoke", form, 422)
    try:
        consents.revoke(get_session(), staff.tenant_id, staff.actor, consent_id,
                        reason=form.reason.data.strip(), now=utcnow())
    except Conflict:
        form.form_errors.append(_("Only a given or pending consent can be revoked."))
        return _end_page(consent_id, "revoke", form, 409)
    except Unprocessable:
        form.reason.errors = [_("Give a reason for revoking.")]
        return _end_page(consent_id, "revoke", form, 422)
    flash(_("The consent has been revoked. The DAM sees it on its next query."), "ok")
    return redirect(url_for("console.consent", consent_id=consent_id))


@pages.route("/consents/<consent_id>/withdraw", methods=["GET", "POST"])
@requires("consents.withdraw")
def consent_withdraw(consent_id: str) -> Any:
    staff = sessions.staff()
    found = consents.get(get_session(), staff.tenant_id, consent_id)  # 404 first
    if request.method == "GET":
        if consents.status_at(found, utcnow()) not in WITHDRAWABLE:
            return redirect(url_for("console.consent", consent_id=consent_id))
        return _end_page(consent_id, "withdraw", WithdrawForm(formdata=None))
    form = WithdrawForm()
    if not form.validate():
        return _end_page(consent_id, "withdraw", form, 422)
    try:
        consents.withdraw(get_session(), staff.tenant_id, staff.actor, consent_id,
                          reason=(form.reason.data or "").strip() or None, now=utcnow())
    except Conflict:
        form.form_errors.append(_("Only a given consent can be withdrawn."))
        return _end_page(consent_id, "withdraw", form, 409)
    flash(_("The withdrawal has been recorded. The DAM sees it on its next query."), "ok")
    return redirect(url_for("console.consent", consent_id=consent_id))

