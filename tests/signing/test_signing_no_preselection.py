"""Nothing is pre-selected where a person chooses what to consent to (GDPR Art. 4(11), the
CJEU's Planet49 ruling): every page that collects a choice shows every purpose unticked,
a re-rendered page keeps exactly what the person ticked, and a form or link that ticks
nothing starts no signing."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
import sqlalchemy as sa
from signing_helpers import World

from app.db import transaction
from signing.models import SignatureOrder

PROVIDER = {
    "name": "idp",
    "label": "Example ID",
    "discovery_url": "https://idp.invalid/.well-known/openid-configuration",
    "client_id": "samtycke",
    "client_secret": "not-used-before-the-person-goes-on",
}


class _Boxes(HTMLParser):
    """Every purpose checkbox of a page: its value, and whether it is ticked."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name") == "purposes" and found.get("type") in ("checkbox", "radio"):
            self.boxes.append((found.get("value") or "", "checked" in found))


def boxes(html: str) -> list[tuple[str, bool]]:
    parser = _Boxes()
    parser.feed(html)
    return parser.boxes


def ticked(html: str) -> list[str]:
    return [value for value, checked in boxes(html) if checked]


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def sign_form_action(html: str) -> str:
    """Where the page's own form posts (it carries the page's language choice)."""
    match = re.search(r'<form method="post" action="([^"]+)" id="sign-form"', html)
    assert match, "no signing form"
    return match.group(1).replace("&amp;", "&")


def orders(app: Any) -> list[SignatureOrder]:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        return list(s.scalars(sa.select(SignatureOrder)))


@pytest.mark.parametrize("lang", ["sv", "nb", "en"])
def test_no_purpose_is_ticked_on_the_subject_or_guardian_page(
    app: Any, client: Any, world: World, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", [PROVIDER])  # every way to sign is on the page
    adult = world.adult()
    _req, guardians = world.family()
    for token in (adult, *guardians):
        html = client.get(f"/s/{token}?lang={lang}").get_data(as_text=True)
        assert [value for value, _ in boxes(html)] == ["web", "print", "social"], html
        assert ticked(html) == [], f"pre-ticked purposes on {lang} page: {ticked(html)}"
        assert "Example ID" in html


def test_a_page_shown_again_after_an_error_keeps_only_what_was_ticked(app: Any, client: Any, world: World) -> None:
    token = world.adult()
    page = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    # No way to sign chosen (no device): the page comes back with the person's own choice.
    again = client.post(sign_form_action(page), data={"csrf_token": csrf(page), "purposes": ["print"]})
    assert again.status_code == 422
    assert ticked(again.get_data(as_text=True)) == ["print"]
    # Nothing ticked: the field error, and still nothing ticked for them.
    empty = client.post(sign_form_action(page), data={"csrf_token": csrf(page), "device": "other"})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 422 and "Choose at least one purpose to consent to." in html
    assert ticked(html) == [] and len(boxes(html)) == 3
    assert orders(app) == []


def test_a_failed_attempt_shows_the_page_with_nothing_ticked(app: Any, client: Any, world: World) -> None:
    """Back on the consent page after an attempt failed, the person chooses again."""
    token = world.adult()
    assert client.post(f"/s/{token}/bankid/start", json={"device": "other", "purposes": ["web"]}).status_code == 200
    assert client.post(f"/s/{token}/bankid/cancel", json={}).status_code == 200
    [order] = orders(app)
    html = client.get(f"/s/{token}?attempt={order.id}&lang=en").get_data(as_text=True)
    assert 'role="alert"' in html and len(boxes(html)) == 3 and ticked(html) == []


def test_the_link_to_an_identity_provider_without_a_choice_starts_nothing(
    app: Any, client: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person sent straight to ``/s/{token}/oidc/{name}`` has ticked nothing: they get the
    page with the field error, not a signature of every purpose."""
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", [PROVIDER])
    token = world.adult()
    for url in (f"/s/{token}/oidc/idp?lang=en", f"/s/{token}/oidc/idp?purposes=&lang=en"):
        resp = client.get(url)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 422, (url, resp.status_code)
        assert "Choose at least one purpose to consent to." in html and ticked(html) == []
    as_json = client.get(f"/s/{token}/oidc/idp", headers={"Accept": "application/json"})
    assert as_json.status_code == 422 and "purposes" in as_json.get_json()["errors"]
    assert orders(app) == []
    assert world.consent_of(token)["status"] == "pending"
