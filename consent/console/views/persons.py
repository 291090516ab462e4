"""Persons: search, register, a person's page (guardians, consents, assets, trail), asset links."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.config import test_numbers_allowed
from app.crypto import current_keyring
from app.db import get_session, utcnow
from app.errors import Conflict, DomainError, NotFound, Unprocessable
from app.staff import sessions
from app.staff.forms import ActionForm, apply_service_errors
from app.staff.sessions import requires
from consent import consents, links, objections, personal_numbers, persons
from consent.console import person_search, queries
from consent.console.forms import LinkAssetForm, PersonCreateForm
from consent.console.pages import pages
from consent.personal_numbers.words import invalid_message, number_label

PAGE = 50


@pages.route("/persons", endpoint="persons", methods=["GET", "POST"])
@requires("console.read")
def persons_list() -> Any:
    staff = sessions.staff()
    outcome = person_search.search("console.persons", staff.tenant_id, limit=PAGE)
    if not isinstance(outcome, person_search.PersonSearch):
        return outcome
    next_cursor = None
    items = outcome.found
    if not outcome.text and outcome.status == 200:
        try:
            page = persons.list_persons(get_session(), current_keyring(), staff.tenant_id, limit=PAGE,
                                        country=outcome.country, cursor=request.args.get("cursor") or None)
        except Unprocessable:
            page = persons.list_persons(get_session(), current_keyring(), staff.tenant_id, limit=PAGE,
                                        country=outcome.country)
        items, next_cursor = page.items, page.next_cursor
    return render_template(
        "console/persons.html", form=outcome.form, items=items, text=outcome.text, next_cursor=next_cursor,
        today=utcnow().date(), is_minor=persons.is_minor, page_title=_("Persons"), active="persons",
        country=outcome.country, number_label=number_label,
    ), outcome.status


def _person_error_map(country: str) -> dict[str, tuple[str, str]]:
    return {
        "name": ("name", _("Enter the person's name.")),
        "country": ("country", _("Choose the country of the personal number.")),
        "personal_number": ("personal_number", invalid_message(country)),
        "birth_date": ("birth_date", _("The date of birth must be a real date in the past that matches the "
                                      "personal number.")),
        "guardian_ids": ("guardians", _("A person has at most four guardians, never themselves or their own "
                                        "ward.")),
    }


def _resolve_guardians(tenant_id: str, text: str | None, country: str) -> tuple[list[str], list[str]]:
    """Guardian ids for the lines of the form (a personal number, read first as one of the ward's
    ``country`` and then of the others, or an external reference), and the lines that matched nobody."""
    session, ring = get_session(), current_keyring()
    test_numbers = test_numbers_allowed(current_app.config)
    countries = [country, *(c for c in personal_numbers.COUNTRIES if c != country)]
    ids: list[str] = []
    unknown: list[str] = []
    for line in [part.strip() for part in (text or "").splitlines() if part.strip()]:
        match = None
        searches = [
            partial(persons.list_persons, session, ring, tenant_id, limit=2, personal_number=line,
                    country=number_country, test_numbers=test_numbers)
            for number_country in countries
        ]
        searches.append(partial(persons.list_persons, session, ring, tenant_id, limit=2, external_ref=line))
        for search in searches:
            try:
                page = search()
            except Unprocessable:
                continue
            if len(page.items) == 1:
                match = page.items[0].id
                break
        if match is None:
            unknown.append(line)
        else:
            ids.append(match)
    return ids, unknown


@pages.route("/persons/new", methods=["GET", "POST"])
@requires("persons.manage")
def person_new() -> Any:
    staff = sessions.staff()
    form = PersonCreateForm()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate():
            country = form.country.data or "SE"
            guardian_ids, unknown = _resolve_guardians(staff.tenant_id, form.guardians.data, country)
            if unknown:
                form.guardians.errors = [
                    _("No registered person has this personal number or external reference: %(values)s",
                      values=", ".join(unknown))
                ]
            else:
                try:
                    person = persons.create_person(
                        get_session(), current_keyring(), staff.tenant_id, staff.actor,
                        name=form.name.data.strip(),
                        country=country,
                        test_numbers=test_numbers_allowed(current_app.config),
                        personal_number=(form.personal_number.data or "").strip() or None,
                        birth_date=form.birth_date.data,
                        email=(form.email.data or "").strip() or None,
                        phone=(form.phone.data or "").strip() or None,
                        external_ref=(form.external_ref.data or "").strip() or None,
                        guardian_ids=guardian_ids,
                    )
                except Conflict as exc:
                    apply_service_errors(form, exc.errors, {
                        "personal_number": ("personal_number",
                                            _("Another person already has this personal number."))},
                        _("The person could not be registered."))
                except Unprocessable as exc:
                    apply_service_errors(form, exc.errors, _person_error_map(country),
                                         _("The person could not be registered."))
                else:
                    flash(_("The person has been registered."), "ok")
                    return redirect(url_for("console.person", person_id=person.id))
    return render_template(
        "console/person_new.html", form=form, page_title=_("Register a person"), active="persons"
    ), status


@pages.route("/persons/<person_id>")
@requires("console.read")
def person(person_id: str, link_form: LinkAssetForm | None = None, status: int = 200) -> Any:
    staff = sessions.staff()
    session = get_session()
    subject = persons.get_person(session, staff.tenant_id, person_id)
    now = utcnow()
    lines, more = queries.consent_lines(
        session, staff.tenant_id, consents.ConsentFilter(person_id=subject.id), now, limit=200
    )
    return render_template(
        "console/person.html",
        person=subject,
        minor=persons.is_minor(subject.birth_date, now.date()),
        guardians=[g for g in subject.guardians if g.erased_at is None],
        wards=queries.wards_of(session, staff.tenant_id, subject.id),
        consents=lines,
        more_consents=more,
        assets=queries.asset_ids_of(session, staff.tenant_id, subject.id),
        objections=objections.of_person(session, staff.tenant_id, subject.id),
        trail=queries.trail(session, staff.tenant_id, person_id=subject.id,
                            consent_ids=[line.consent.id for line in lines]),
        link_form=link_form or LinkAssetForm(formdata=None),
        unlink_form=ActionForm(formdata=None),
        number_label=number_label(subject.country),
        page_title=subject.name or _("Person"),
        active="persons",
    ), status


@pages.route("/persons/<person_id>/assets", methods=["POST"])
@requires("persons.manage")
def person_link_asset(person_id: str) -> Any:
    staff = sessions.staff()
    persons.get_person(get_session(), staff.tenant_id, person_id)  # 404 before anything else
    form = LinkAssetForm()
    if form.validate():
        asset_id = form.asset_id.data.strip()
        try:
            _row, created = links.link(get_session(), staff.tenant_id, asset_id, person_id, staff.actor)
        except NotFound:
            raise
        except DomainError:
            form.asset_id.errors = [_("An asset id is 1 to 200 characters without control characters.")]
        else:
            flash(_("Asset %(asset)s is linked to the person.", asset=asset_id) if created
                  else _("Asset %(asset)s was already linked to the person.", asset=asset_id), "ok")
            return redirect(url_for("console.person", person_id=person_id) + "#assets")
    return person(person_id, link_form=form, status=422)


@pages.route("/persons/<person_id>/assets/unlink", methods=["POST"])
@requires("persons.manage")
def person_unlink_asset(person_id: str) -> Any:
    staff = sessions.staff()
    persons.get_person(get_session(), staff.tenant_id, person_id)
    asset_id = (request.form.get("asset_id") or "").strip()
    try:
        links.unlink(get_session(), staff.tenant_id, asset_id, person_id, staff.actor)
    except (NotFound, Unprocessable) as exc:
        raise NotFound(_("This asset is not linked to the person.")) from exc
    flash(_("Asset %(asset)s is no longer linked to the person.", asset=asset_id), "ok")
    return redirect(url_for("console.person", person_id=person_id) + "#assets")
