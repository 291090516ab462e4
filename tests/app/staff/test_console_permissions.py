"""The permission matrix is enforced on the server; other tenants' objects answer 404."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.staff.permissions import MATRIX, ROLES, as_markdown
from consent.models import Consent, Person, TenantContact
from tests.console_world import Seed, audit_seq, token_for

ROOT = Path(__file__).resolve().parents[3]


def _pages(seed: Seed) -> list[tuple[str, str]]:
    """(path, permission) for every console page a GET reaches."""
    return [
        ("/", "console.read"),
        ("/console/persons", "console.read"),
        ("/console/persons?q=Anna", "console.read"),
        ("/console/persons/new", "persons.manage"),
        (f"/console/persons/{seed.anna}", "console.read"),
        (f"/console/persons/{seed.bo}", "console.read"),
        ("/console/consents", "console.read"),
        ("/console/consents?status=given&purpose=web&template=photo&expires=365", "console.read"),
        (f"/console/consents/{seed.given_consent}", "console.read"),
        (f"/console/consents/{seed.pending_consent}", "console.read"),
        ("/console/requests/new", "requests.send"),
        ("/console/requests/new?q=Anna", "requests.send"),
        (f"/console/requests/new?person_id={seed.anna}", "requests.send"),
        (f"/console/requests/{seed.pending_request}", "console.read"),
        ("/console/assets", "console.read"),
        ("/console/assets?asset_id=img-both", "console.read"),
        ("/console/gdpr", "console.read"),
        ("/console/gdpr?q=Anna", "console.read"),
        (f"/console/persons/{seed.anna}/erase", "persons.erase"),
        (f"/console/persons/{seed.anna}/export.json", "persons.export"),
        ("/console/addenda", "console.read"),
        ("/console/contacts", "console.read"),
        ("/console/audit", "audit.read"),
    ]


def test_matrix_is_as_documented() -> None:
    assert MATRIX["console.read"] == {"viewer", "editor", "dpo"}
    assert MATRIX["requests.send"] == {"editor", "dpo"}
    assert MATRIX["persons.manage"] == {"editor", "dpo"}
    assert MATRIX["addenda.send"] == {"editor", "dpo"}
    for dpo_only in ("persons.erase", "persons.export", "consents.revoke", "addenda.revoke", "contacts.edit",
                     "audit.read"):
        assert MATRIX[dpo_only] == {"dpo"}, dpo_only
    # docs/permissions.md carries the same table.
    assert as_markdown() in (ROOT / "docs" / "permissions.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_or_refuses_by_role(app: Flask, seed: Seed, as_role: Any, role: str) -> None:
    client = as_role(role)
    for path, permission in _pages(seed):
        response = client.get(path)
        expected = 200 if role in MATRIX[permission] else 403
        assert response.status_code == expected, (role, path, response.status_code)
        if expected == 200 and response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            assert '<nav class="console-nav"' in html and "<h1" in html, path
        if expected == 403:
            assert "Your role does not allow this action." in response.get_data(as_text=True)


def test_navigation_shows_only_what_the_role_may_open(seed: Seed, as_role: Any) -> None:
    viewer = as_role("viewer").get("/").get_data(as_text=True)
    dpo = as_role("dpo").get("/").get_data(as_text=True)
    assert 'href="/console/requests/new"' not in viewer and 'href="/console/audit"' not in viewer
    assert 'href="/console/requests/new"' in dpo and 'href="/console/audit"' in dpo


def _consent_count(app: Flask) -> int:
    with app.extensions["samtycke.sessionmaker"]() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Consent)) or 0)


def _request_form(seed: Seed, token: str) -> dict[str, Any]:
    return {"person_id": seed.anna, "template": "photo", "purposes": ["web"], "locale": "en",
            "csrf_token": token}


def test_viewer_cannot_send_a_request(app: Flask, seed: Seed, as_role: Any) -> None:
    viewer = as_role("viewer")
    before, seq = _consent_count(app), audit_seq(app, seed.tenant_id)
    response = viewer.post("/console/requests/new", data=_request_form(seed, token_for(viewer)))
    assert response.status_code == 403
    assert _consent_count(app) == before and audit_seq(app, seed.tenant_id) == seq


def test_editor_can_send_a_request(app: Flask, seed: Seed, as_role: Any) -> None:
    editor = as_role("editor")
    before = _consent_count(app)
    response = editor.post("/console/requests/new", data=_request_form(seed, token_for(editor)))
    assert response.status_code == 302 and "/console/requests/" in response.headers["Location"]
    assert _consent_count(app) == before + 1


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_the_dpo_can_erase(app: Flask, seed: Seed, as_role: Any, role: str) -> None:
    client = as_role(role)
    seq = audit_seq(app, seed.tenant_id)
    response = client.post(f"/console/persons/{seed.anna}/erase",
                           data={"confirm": "y", "csrf_token": token_for(client)})
    assert response.status_code == 403
    with app.extensions["samtycke.sessionmaker"]() as session:
        person = session.get(Person, seed.anna)
        assert person is not None and person.erased_at is None and person.name == "Anna Andersson"
    assert audit_seq(app, seed.tenant_id) == seq


@pytest.mark.parametrize(
    ("role", "path", "data"),
    [
        ("editor", "/console/consents/{given_consent}/revoke", {"reason": "no longer needed", "confirm": "y"}),
        ("viewer", "/console/consents/{given_consent}/withdraw", {"confirm": "y"}),
        ("editor", "/console/contacts", {f"{r}_{f}": "x@y.se" if f == "email" else "+46 70 123 45 67"
                                         if f == "phone" else "N" for r in ("dpo", "incident", "operations")
                                         for f in ("name", "email", "phone")}),
        ("viewer", "/console/addenda", {"kind": "transcription-transfer", "locale": "sv", "signer_name": "X"}),
        ("viewer", "/console/persons/new", {"name": "New Person"}),
        ("viewer", "/console/persons/{anna}/assets", {"asset_id": "img-new"}),
    ],
)
def test_refused_actions_change_nothing(app: Flask, seed: Seed, as_role: Any, role: str, path: str,
                                        data: dict[str, str]) -> None:
    client = as_role(role)
    seq = audit_seq(app, seed.tenant_id)
    response = client.post(path.format(**vars(seed)), data={**data, "csrf_token": token_for(client)})
    assert response.status_code == 403
    assert audit_seq(app, seed.tenant_id) == seq
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(Consent, seed.given_consent).status == "given"  # type: ignore[union-attr]
        assert session.scalar(sa.select(sa.func.count()).select_from(TenantContact)) == 0


def test_another_tenants_objects_answer_404(app: Flask, seed: Seed, as_role: Any) -> None:
    dpo = as_role("dpo")
    for path in (
        f"/console/persons/{seed.other_person}",
        f"/console/persons/{seed.other_person}/erase",
        f"/console/persons/{seed.other_person}/export.json",
        f"/console/consents/{seed.other_consent}",
        f"/console/consents/{seed.other_consent}/record.pdf",
        f"/console/consents?person={seed.other_person}",
        f"/console/requests/{seed.other_request}",
        f"/console/requests/new?person_id={seed.other_person}",
        f"/console/addenda/{seed.other_addendum}",
        f"/console/addenda/{seed.other_addendum}/record.pdf",
    ):
        response = dpo.get(path)
        assert response.status_code == 404, path
        assert "Otto" not in response.get_data(as_text=True)
    token = token_for(dpo)
    seq = audit_seq(app, seed.other_tenant_id)
    for path, data in (
        (f"/console/consents/{seed.other_consent}/revoke", {"reason": "mine now", "confirm": "y"}),
        (f"/console/persons/{seed.other_person}/erase", {"confirm": "y"}),
        (f"/console/persons/{seed.other_person}/assets", {"asset_id": "img-x"}),
        (f"/console/addenda/{seed.other_addendum}/revoke", {"confirm": "y"}),
        ("/console/requests/new", {"person_id": seed.other_person, "template": "photo", "purposes": ["web"],
                                   "locale": "sv"}),
    ):
        response = dpo.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 404, path
    assert audit_seq(app, seed.other_tenant_id) == seq
