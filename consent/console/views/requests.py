"""Send a consent request (person → template → purposes and assets) and show its signing links."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.crypto import current_keyring
from app.db import get_session, utcnow
from app.errors import NotFound, Unprocessable
from app.i18n import LOCALE_NAMES, LOCALES, current_locale
from app.staff import sessions
from app.staff.forms import apply_service_errors
from app.staff.permissions import allowed
from app.staff.sessions import requires
from consent import consents, persons, requests, templates
from consent.console import person_search, presenters, queries
from consent.console.forms import RequestForm
from consent.console.pages import pages
from consent.models import ConsentTemplate, Person


def _end_of_day(day: Any) -> datetime:
    """A date typed in the form means "through that day" (UTC)."""
    return datetime.combine(day, time.min, tzinfo=UTC) + timedelta(days=1)


def _request_form(tenant_id: str, person: Person, template: ConsentTemplate, formdata: Any = None) -> RequestForm:
    session = get_session()
    ui_locale = current_locale()
    labels = templates.purpose_labels(session, tenant_id, list(template.purposes), ui_locale)
    assets = [asset_id for asset_id, _at in queries.asset_ids_of(session, tenant_id, person.id)]
    text_locales = [loc for loc in LOCALES if loc in template.title]
    form = RequestForm(formdata=formdata) if formdata is not None else RequestForm(
        formdata=None,
        person_id=person.id,
        template=template.key,
        purposes=list(template.purposes),
        locale=ui_locale if ui_locale in text_locales else templates.default_locale(template),
    )
    form.purposes.choices = [(key, labels.get(key, key)) for key in template.purposes]
    form.assets.choices = [(a, a) for a in assets]
    form.locale.choices = [(loc, LOCALE_NAMES.get(loc, loc)) for loc in text_locales]
    return form


def _service_errors() -> dict[str, tuple[str, str]]:
    return {
        "purposes": ("purposes", _("Choose at least one of the template's purposes.")),
        "asset_ids": ("other_assets", _("Give at most 10,000 asset ids, or none to cover all the person's assets.")),
        "valid_until": ("valid_until", _("The end date must be in the future.")),
        "locale": ("locale", _("The template has no text in this language.")),
        "person_id": ("purposes", _("The person is a minor and has no guardians on file. Register the "
                                    "guardians first.")),
        "template": ("purposes", _("The template no longer exists.")),
    }


@pages.route("/requests/new", methods=["GET", "POST"])
@requires("requests.send")
def request_new() -> Any:
    staff = sessions.staff()
    session = get_session()
    person_id = request.values.get("person_id") or None
    if person_id is None:
        outcome = person_search.search("console.request_new", staff.tenant_id)
        if not isinstance(outcome, person_search.PersonSearch):
            return outcome
        return render_template(
            "console/request_person.html", form=outcome.form, text=outcome.text, found=outcome.found,
            page_title=_("Send a consent request"), active="request",
        ), outcome.status
    person = persons.get_person(session, staff.tenant_id, person_id)
    available = templates.list_latest(session, staff.tenant_id)
    key = request.values.get("template") or (available[0].key if len(available) == 1 else None)
    if key is None:
        return render_template(
            "console/request_template.html", person=person, templates_=available,
            page_title=_("Send a consent request"), active="request",
        )
    try:
        template = templates.get_version(session, staff.tenant_id, key)
    except NotFound as exc:
        raise NotFound(_("No such template.")) from exc
    minor = persons.is_minor(person.birth_date, utcnow().date(), template.minor_age)
    if request.method == "GET":
        form = _request_form(staff.tenant_id, person, template)
        return render_template(
            "console/request_new.html", form=form, person=person, template=template, minor=minor,
            page_title=_("Send a consent request"), active="request",
        )
    form = _request_form(staff.tenant_id, person, template, formdata=request.form)
    valid = form.validate()
    if valid and form.valid_until.data and form.valid_until.data.year >= 9999:
        form.valid_until.errors = [_("Enter a date before the year 9999.")]
        valid = False
    if valid:
        try:
            created = requests.create(
                session, current_keyring(), staff.tenant_id, staff.actor,
                requests.RequestInput(
                    person_id=person.id, template_key=template.key, purposes=list(form.purposes.data or []),
                    asset_ids=form.asset_ids(),
                    valid_until=_end_of_day(form.valid_until.data) if form.valid_until.data else None,
                    locale=form.locale.data,
                ),
                now=utcnow(), link_days=int(current_app.config.get("SIGNING_LINK_DAYS", 30)),
            )
        except Unprocessable as exc:
            apply_service_errors(form, exc.errors, _service_errors(), _("The request could not be sent."))
        else:
            flash(_("The consent request has been created. Give each signer their link or QR code."), "ok")
            return redirect(url_for("console.request_detail", request_id=created.id))
    return render_template(
        "console/request_new.html", form=form, person=person, template=template, minor=minor,
        page_title=_("Send a consent request"), active="request",
    ), 422


@pages.route("/requests/<request_id>")
@requires("console.read")
def request_detail(request_id: str) -> Any:
    staff = sessions.staff()
    session = get_session()
    found = requests.get(session, staff.tenant_id, request_id)
    consent = consents.get(session, staff.tenant_id, found.consent_id)
    signers = requests.signers_of(session, consent.id)
    names = queries.names_of(session, staff.tenant_id, [consent.person_id, *[s.person_id for s in signers]])
    now = utcnow()
    shown = consents.status_at(consent, now)
    # A link is the key to sign: shown only to those who may send requests, while it can be used.
    show_links = shown == "pending" and allowed(staff.role, "requests.send")
    cards = [
        {
            "signer": s,
            "name": names.get(s.person_id or ""),
            "link": presenters.signing_link(s.id) if show_links and s.status == "pending" and s.expires_at > now
            else None,
        }
        for s in signers
    ]
    return render_template(
        "console/request.html", req=found, consent=consent, shown_status=shown, cards=cards,
        person_name=names.get(consent.person_id), page_title=_("Consent request"), active="request",
    )
