"""Every console form is refused without its CSRF token (400) and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.models import StaffUser
from consent.models import Consent, Person
from tests.console_world import PASSWORD, Seed, audit_seq, token_for


# A complete, otherwise valid body for each console form.
def _bodies(seed: Seed) -> dict[str, tuple[str, dict[str, Any]]]:
    contacts = {f"{r}_{f}": {"name": "Nils", "email": "n@example.se", "phone": "+46 70 123 45 67"}[f]
                for r in ("dpo", "incident", "operations") for f in ("name", "email", "phone")}
    return {
        "console.login": ("/console/login", {"email": "dpo@acme.example", "password": PASSWORD}),
        "console.choose_tenant": ("/console/login/organisation", {"tenant": "x"}),
        "console.logout": ("/console/logout", {}),
        "console.person_new": ("/console/persons/new", {"name": "Eve Evil"}),
        "console.person_link_asset": (f"/console/persons/{seed.anna}/assets", {"asset_id": "img-new"}),
        "console.person_unlink_asset": (f"/console/persons/{seed.anna}/assets/unlink", {"asset_id": "img-anna"}),
        "console.consent_revoke": (f"/console/consents/{seed.given_consent}/revoke", {"reason": "x", "confirm": "y"}),
        "console.consent_withdraw": (f"/console/consents/{seed.given_consent}/withdraw", {"confirm": "y"}),
        "console.request_new": ("/console/requests/new", {"person_id": seed.anna, "template": "photo",
                                                         "purposes": ["web"], "locale": "sv"}),
        "console.gdpr_erase": (f"/console/persons/{seed.anna}/erase", {"confirm": "y"}),
        "console.addendum_send": ("/console/addenda", {"kind": "transcription-transfer", "locale": "sv",
                                                       "signer_name": "Eve"}),
        "console.addendum_revoke": ("/console/addenda/{addendum}/revoke", {"confirm": "y"}),
        "console.contacts": ("/console/contacts", contacts),
        "console.jobs_retry": ("/console/jobs/retry", {}),
        "console.asset": ("/console/assets/img-anna", {"persons_expected": "3", "basis__web": "public_task"}),
        "console.objection_withdraw": (f"/console/persons/{seed.anna}/objections/{{objection}}/withdraw",
                                       {"confirm": "y"}),
        # Searches change nothing, but they post (a personal number stays out of the address).
        "console.persons": ("/console/persons", {"q": "19800101-1231"}),
        "console.gdpr": ("/console/gdpr", {"q": "19800101-1231"}),
    }


def _console_post_endpoints(app: Flask) -> set[str]:
    return {
        rule.endpoint for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("console.") and "POST" in (rule.methods or set())
    }


def _state(app: Flask, seed: Seed) -> tuple[Any, ...]:
    with app.extensions["samtycke.sessionmaker"]() as session:
        consent = session.get(Consent, seed.given_consent)
        anna = session.get(Person, seed.anna)
        persons = session.scalar(sa.select(sa.func.count()).select_from(Person))
        staff = session.scalar(sa.select(sa.func.max(StaffUser.last_login_at)))
        assert consent is not None and anna is not None
        return consent.status, anna.erased_at, persons, staff, audit_seq(app, seed.tenant_id)


def test_every_console_form_needs_its_token(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    addendum = api.post("/api/v1/addenda", json={"kind": "transcription-transfer",
                                                 "signer": {"name": "Ann Rep"}}).get_json()["id"]
    objection = api.post(f"/api/v1/persons/{seed.anna}/objections", json={"purpose": "web"}).get_json()["id"]
    bodies = _bodies(seed)
    assert _console_post_endpoints(app) <= set(bodies), "a console form has no CSRF test body"
    dpo = as_role("dpo")
    before = _state(app, seed)
    for endpoint, (path, body) in bodies.items():
        url = path.format(addendum=addendum, objection=objection)
        response = dpo.post(url, data=body)
        assert response.status_code == 400, (endpoint, response.status_code)
        assert "csrf" in response.get_data(as_text=True).lower() or response.status_code == 400
        wrong = dpo.post(url, data={**body, "csrf_token": "forged"})
        assert wrong.status_code == 400, endpoint
    assert _state(app, seed) == before
    # Still signed in: the refusals did not end the session, and a real token works.
    good = dpo.post(f"/console/consents/{seed.given_consent}/revoke",
                    data={"reason": "ends here", "confirm": "y", "csrf_token": token_for(dpo)})
    assert good.status_code == 302


def test_a_token_from_another_session_is_refused(app: Flask, seed: Seed, as_role: Any) -> None:
    first, second = as_role("dpo"), as_role("editor")
    foreign = token_for(first)
    response = second.post("/console/persons/new", data={"name": "Mallory", "csrf_token": foreign})
    assert response.status_code == 400
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.scalar(sa.select(Person.id).where(Person.name == "Mallory")) is None


def test_every_console_form_renders_a_token(seed: Seed, as_role: Any) -> None:
    dpo = as_role("dpo")
    pages = ["/", f"/console/persons/{seed.anna}", "/console/persons/new", f"/console/consents/{seed.given_consent}",
             f"/console/requests/new?person_id={seed.anna}", f"/console/persons/{seed.anna}/erase",
             "/console/addenda", "/console/contacts", f"/console/consents/{seed.given_consent}/withdraw",
             f"/console/consents/{seed.given_consent}/revoke"]
    for path in pages:
        html = dpo.get(path).get_data(as_text=True)
        for form in re.findall(r'<form method="post".*?</form>', html, flags=re.S):
            assert 'name="csrf_token"' in form or '-csrf_token"' in form, (path, form[:120])
