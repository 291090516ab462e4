"""The console's asset pages: the look-up says plainly when an asset is unknown, the asset page shows
the status per purpose and the persons behind it, editors and DPOs edit persons expected and legal
bases; a person's objection is withdrawn by staff after a confirmation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from consent.models import Asset, Objection
from tests.console_world import Seed, csrf_of, token_for


def _html(client: Any, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return str(response.get_data(as_text=True))


def _section(html: str, caption_id: str) -> str:
    return html.split(f'id="{caption_id}-caption"')[1].split("</table>")[0]


def test_lookup_of_an_unknown_asset_says_so_and_shows_nothing_green(seed: Seed, as_role: Any) -> None:
    html = _html(as_role("viewer"), "/console/assets?asset_id=IMG-Both")  # a typo of img-both
    assert "This asset is unknown." in html
    assert 'class="allowed"' not in html and "rights-caption" not in html
    known = _html(as_role("viewer"), "/console/assets?asset_id=img-both")
    assert "This asset is unknown." not in known and "/console/assets/img-both" in known


def test_asset_page_shows_status_per_purpose_and_each_person(seed: Seed, as_role: Any, api: Any) -> None:
    html = _html(as_role("viewer"), "/console/assets/img-both")
    status = _section(html, "asset-status")
    assert status.count("Partial consent") == 2  # Anna gave web and print, Bo has not signed
    persons = _section(html, "asset-persons")
    assert "Anna Andersson" in persons and "Bo Berg" in persons and "A signature is missing" in persons
    assert f"/console/persons/{seed.anna}" in persons and f"/console/consents/{seed.given_consent}" in persons
    assert "<form" not in html.split('id="legal-bases"')[1]  # a viewer does not edit
    assert _html(as_role("viewer"), "/console/assets/img_0003", 404)


def test_editor_sets_persons_expected_and_a_legal_basis(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    editor = as_role("editor")
    page = _html(editor, "/console/assets/img-anna")
    assert "Full cover" in _section(page, "asset-status")
    response = editor.post("/console/assets/img-anna", data={
        "persons_expected": "2", "basis__web": "", "basis__print": "public_task", "csrf_token": csrf_of(page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.extensions["samtycke.sessionmaker"]() as session:
        asset = session.get(Asset, (seed.tenant_id, "img-anna"))
        assert asset is not None and asset.persons_expected == 2
        assert asset.legal_bases == [{"basis": "public_task", "purposes": ["print"]}]
    assert api.get("/api/v1/assets/img-anna/usage-rights?purpose=web").get_json()["reason"] == "persons_unidentified"
    html = _html(editor, "/console/assets/img-anna")
    assert "Persons unidentified" in _section(html, "asset-status")
    assert '<option selected value="public_task">' in html or 'value="public_task" selected' in html

    bad = editor.post("/console/assets/img-anna", data={
        "persons_expected": "-3", "basis__print": "tax_reasons", "csrf_token": csrf_of(page)})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    viewer = as_role("viewer")
    forged = viewer.post("/console/assets/img-anna", data={"persons_expected": "9", "csrf_token": token_for(viewer)})
    assert forged.status_code == 403
    no_token = editor.post("/console/assets/img-anna", data={"persons_expected": "9"})
    assert no_token.status_code in (400, 422)
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(Asset, (seed.tenant_id, "img-anna")).persons_expected == 2  # type: ignore[union-attr]


def test_an_objection_is_withdrawn_after_its_confirmation(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    assert api.put("/api/v1/assets/img-anna", json={
        "legal_bases": [{"basis": "public_task", "purposes": ["web"]}]}).status_code == 200
    objection = api.post(f"/api/v1/persons/{seed.anna}/objections", json={"purpose": "web"}).get_json()
    assert api.get("/api/v1/assets/img-anna/usage-rights?purpose=web").get_json()["reason"] == "objected"
    editor = as_role("editor")
    person = _html(editor, f"/console/persons/{seed.anna}")
    listed = _section(person, "person-objections")
    url = f"/console/persons/{seed.anna}/objections/{objection['id']}/withdraw"
    assert "web" in listed and url in listed
    assert url not in _html(as_role("viewer"), f"/console/persons/{seed.anna}")
    assert as_role("viewer").get(url).status_code == 403

    page = _html(editor, url)
    unconfirmed = editor.post(url, data={"csrf_token": csrf_of(page)})
    assert unconfirmed.status_code == 422 and 'aria-invalid="true"' in unconfirmed.get_data(as_text=True)
    assert api.get("/api/v1/assets/img-anna/usage-rights?purpose=web").get_json()["reason"] == "objected"
    done = editor.post(url, data={"confirm": "y", "csrf_token": csrf_of(page)})
    assert done.status_code == 302
    assert api.get("/api/v1/assets/img-anna/usage-rights?purpose=web").get_json()["reason"] == "legal_basis"
    with app.extensions["samtycke.sessionmaker"]() as session:
        row = session.scalar(sa.select(Objection).where(Objection.id == objection["id"]))
        assert row is not None and row.withdrawn_at is not None and row.withdrawn_by
    # Another person's path, or an unknown objection: 404.
    assert editor.get(f"/console/persons/{seed.bo}/objections/{objection['id']}/withdraw").status_code == 404
    assert editor.get(f"/console/persons/{seed.anna}/objections/nope/withdraw").status_code == 404
