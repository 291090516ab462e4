"""Ending a consent or an addendum from the console cannot be undone, so it takes a
confirmation page that says what happens, and a post without the ticked confirmation
changes nothing: not the consent, not the DAM's answer, not the audit log."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from consent.models import Addendum, Consent
from reports.models import Record
from tests.console_world import Seed, audit_seq, csrf_of


def _page(client: Any, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return str(response.get_data(as_text=True))


def _consent(app: Flask, consent_id: str) -> Consent:
    with app.extensions["samtycke.sessionmaker"]() as session:
        found = session.get(Consent, consent_id)
        assert found is not None
        session.expunge(found)
        return found


def _records(app: Flask, consent_id: str) -> list[str]:
    with app.extensions["samtycke.sessionmaker"]() as session:
        return list(session.scalars(sa.select(Record.kind).where(Record.consent_id == consent_id)))


def _rights(api: Any) -> dict[str, Any]:
    return dict(api.get("/api/v1/assets/img-anna/usage-rights?purpose=web").get_json())


def _unticked_checkbox(html: str, name: str) -> bool:
    box = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    return bool(box) and 'type="checkbox"' in box.group(0) and "checked" not in box.group(0)  # type: ignore[union-attr]


def test_the_consent_page_links_to_the_confirmation_instead_of_withdrawing_in_one_click(
    seed: Seed, as_role: Any
) -> None:
    html = _page(as_role("dpo"), f"/console/consents/{seed.given_consent}")
    # No form on the detail page posts to withdraw or revoke: each is a link to its confirmation.
    for form in re.findall(r"<form[^>]*>", html):
        assert "/withdraw" not in form and "/revoke" not in form, form
    assert f'href="/console/consents/{seed.given_consent}/withdraw"' in html
    assert f'href="/console/consents/{seed.given_consent}/revoke"' in html


def test_withdrawal_is_confirmed_first_and_a_post_without_confirmation_changes_nothing(
    app: Flask, seed: Seed, as_role: Any, api: Any
) -> None:
    editor = as_role("editor")
    page = _page(editor, f"/console/consents/{seed.given_consent}/withdraw")
    assert "<h1>Withdraw the consent?</h1>" in page and "Anna Andersson" in page
    for said in ("The consent ends now.", "on its next query", "“not allowed, withdrawn”",
                 "Nobody is asked to sign again", "A sealed PDF record is made", "A withdrawal cannot be undone."):
        assert said in page, said
    assert 'name="reason"' in page and _unticked_checkbox(page, "confirm")
    assert 'id="confirm-button"' in page and "Withdraw the consent</button>" in page
    assert f'<a href="/console/consents/{seed.given_consent}">Cancel</a>' in page
    token = csrf_of(page)
    seq = audit_seq(app, seed.tenant_id)

    # The old one-click post (a reason, no confirmation) and an empty one: refused, nothing changes.
    for body in ({"reason": "Phoned in"}, {}, {"reason": "Phoned in", "confirm": ""}):
        refused = editor.post(f"/console/consents/{seed.given_consent}/withdraw", data={**body, "csrf_token": token})
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422, body
        assert "Tick the box to confirm the withdrawal." in html and 'href="#confirm"' in html
        assert 'aria-invalid="true"' in html
    assert _consent(app, seed.given_consent).status == "given"
    assert _rights(api)["allowed"] is True
    assert audit_seq(app, seed.tenant_id) == seq
    assert "consent_withdrawn" not in _records(app, seed.given_consent)

    done = editor.post(f"/console/consents/{seed.given_consent}/withdraw",
                       data={"reason": "Phoned in", "confirm": "y", "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/console/consents/{seed.given_consent}")
    after = _consent(app, seed.given_consent)
    assert after.status == "withdrawn" and after.withdraw_reason == "Phoned in"
    assert _rights(api)["reason"] == "withdrawn" and _rights(api)["allowed"] is False
    assert "consent_withdrawn" in _records(app, seed.given_consent)
    # Nothing left to withdraw: the confirmation page sends back to the consent.
    again = editor.get(f"/console/consents/{seed.given_consent}/withdraw")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/console/consents/{seed.given_consent}")


def test_revocation_is_confirmed_first_and_needs_a_reason(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    dpo = as_role("dpo")
    page = _page(dpo, f"/console/consents/{seed.given_consent}/revoke")
    assert "<h1>Revoke the consent?</h1>" in page
    for said in ("on your organisation's decision", "“not allowed, revoked”", "Nobody is asked to sign again",
                 "A sealed PDF record is made", "A revocation cannot be undone."):
        assert said in page, said
    assert "Signing links that have not been used stop working." not in page  # a given consent has none
    assert _unticked_checkbox(page, "confirm")
    token = csrf_of(page)
    seq = audit_seq(app, seed.tenant_id)
    unconfirmed = dpo.post(f"/console/consents/{seed.given_consent}/revoke",
                           data={"reason": "The campaign was cancelled.", "csrf_token": token})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm the revocation." in unconfirmed.get_data(as_text=True)
    assert "The campaign was cancelled." in unconfirmed.get_data(as_text=True)  # what was typed is kept
    no_reason = dpo.post(f"/console/consents/{seed.given_consent}/revoke",
                         data={"reason": " ", "confirm": "y", "csrf_token": token})
    assert no_reason.status_code == 422 and "Give a reason for revoking." in no_reason.get_data(as_text=True)
    assert _consent(app, seed.given_consent).status == "given" and audit_seq(app, seed.tenant_id) == seq
    assert _rights(api)["allowed"] is True

    done = dpo.post(f"/console/consents/{seed.given_consent}/revoke",
                    data={"reason": "The campaign was cancelled.", "confirm": "y", "csrf_token": token})
    assert done.status_code == 302
    assert _consent(app, seed.given_consent).status == "revoked" and _rights(api)["reason"] == "revoked"


def test_revoking_a_pending_consent_says_its_links_stop_working(seed: Seed, as_role: Any) -> None:
    page = _page(as_role("dpo"), f"/console/consents/{seed.pending_consent}/revoke")
    assert "Signing links that have not been used stop working." in page and "Purposes requested" in page


def test_addendum_revocation_is_confirmed_first(app: Flask, seed: Seed, as_role: Any, api: Any) -> None:
    created = api.post("/api/v1/addenda", json={"kind": "transcription-transfer", "signer": {"name": "Ann Rep"}})
    addendum_id = created.get_json()["id"]
    dpo = as_role("dpo")
    detail = _page(dpo, f"/console/addenda/{addendum_id}")
    assert not any("/revoke" in form for form in re.findall(r"<form[^>]*>", detail))
    assert f'href="/console/addenda/{addendum_id}/revoke"' in detail
    page = _page(dpo, f"/console/addenda/{addendum_id}/revoke")
    assert "<h1>Revoke the addendum?</h1>" in page and "The signing link stops working." in page
    assert "A revocation cannot be undone." in page and _unticked_checkbox(page, "confirm")
    assert f'<a href="/console/addenda/{addendum_id}">Cancel</a>' in page
    token = csrf_of(page)
    seq = audit_seq(app, seed.tenant_id)
    refused = dpo.post(f"/console/addenda/{addendum_id}/revoke", data={"csrf_token": token})
    assert refused.status_code == 422 and "Tick the box to confirm the revocation." in refused.get_data(as_text=True)
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(Addendum, addendum_id).status == "pending"  # type: ignore[union-attr]
    assert audit_seq(app, seed.tenant_id) == seq
    done = dpo.post(f"/console/addenda/{addendum_id}/revoke", data={"confirm": "y", "csrf_token": token})
    assert done.status_code == 302
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(Addendum, addendum_id).status == "revoked"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("viewer", "/console/consents/{given_consent}/withdraw"),
        ("viewer", "/console/consents/{given_consent}/revoke"),
        ("editor", "/console/consents/{given_consent}/revoke"),
        ("editor", "/console/addenda/{other_addendum}/revoke"),
    ],
)
def test_confirmation_pages_keep_the_roles(seed: Seed, as_role: Any, role: str, path: str) -> None:
    assert as_role(role).get(path.format(**vars(seed))).status_code == 403


def test_another_tenants_confirmation_pages_answer_404(seed: Seed, as_role: Any) -> None:
    dpo = as_role("dpo")
    for path in (f"/console/consents/{seed.other_consent}/withdraw", f"/console/consents/{seed.other_consent}/revoke",
                 f"/console/addenda/{seed.other_addendum}/revoke"):
        response = dpo.get(path)
        assert response.status_code == 404, path
        assert "Otto" not in response.get_data(as_text=True) and "Olga" not in response.get_data(as_text=True)
