"""Which language a subject reads and signs in, and that the receipt shows the text as
signed: in the language signed, with its hash, whatever the language of the page around
it (DESIGN: "the page around it may switch language, the evidence never does")."""

from __future__ import annotations

import base64
import re
from typing import Any

import sqlalchemy as sa
from signing_helpers import ADULT_PN, GUARDIAN2_PN, GUARDIAN_PN, TEMPLATE, Clock, Phone, World, poll_until, token_of

from app.crypto import sha256_hex
from app.db import transaction
from consent import addenda
from consent.models import Signature
from consent.templates import text_hash
from signing.bankid.simulator.models import SimOrder
from signing.models import SignatureOrder

HASH = {loc: text_hash(TEMPLATE["title"][loc], TEMPLATE["body"][loc]) for loc in ("sv", "nb", "en")}


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token"
    return match.group(1)


def _action(html: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)" id="sign-form"', html)
    assert match, "no signing form"
    return match.group(1).replace("&amp;", "&")


def _status(client: Any, token: str, query: str = "") -> dict[str, Any]:
    resp = client.get(f"/s/{token}/bankid/status{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def _sign(client: Any, clock: Clock, token: str, pn: str = ADULT_PN, query: str = "", **body: Any) -> None:
    """Start with the JSON twin (``query`` is what the page's URLs carry), sign on the phone."""
    started = client.post(f"/s/{token}/bankid/start{query}", json={"device": "other", **body})
    assert started.status_code == 200, started.get_data(as_text=True)
    Phone(client, pn).sign_qr(_status(client, token, query)["qr_data"])
    poll_until(client, clock, token, "complete")


def _signature(app: Any, token_signer_id: str | None = None) -> Signature:
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        query = sa.select(Signature)
        if token_signer_id:
            query = query.where(Signature.signer_id == token_signer_id)
        found = s.scalars(query).one()
        s.expunge(found)
        return found


def _evidence_lang(html: str) -> str | None:
    match = re.search(r'<div class="consent-text" id="signed-text"(?: lang="(\w+)")?>', html)
    assert match, "no signed text on the receipt"
    return match.group(1)


def test_receipt_shows_the_norwegian_text_that_was_signed_on_a_swedish_page(
    app: Any, client: Any, world: World, clock: Clock
) -> None:
    token = world.adult(locale="nb")
    _sign(client, clock, token, query="?lang=nb", purposes=["web", "print"])  # from the Norwegian page
    sig = _signature(app)
    assert "Samtykke til bilder" in sig.visible_text and "### Formål" in sig.visible_text

    for url in (f"/s/{token}/receipt?lang=sv", f"/s/{token}?lang=sv"):
        resp = client.get(url, headers={"Accept-Language": "sv-SE"})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200 and '<html lang="sv">' in html and "Kvitto" in html  # the page: Swedish
        # The evidence: the Norwegian text, its labels and hashes, marked as Norwegian.
        assert "Samtykke til bilder" in html and "Vi vil bruke <strong>bilder</strong>" in html
        assert "Nettsted" in html and "Trykksaker" in html
        assert "Samtycke till bilder" not in html and "Webbplats" not in html and "Vi vill använda" not in html
        assert _evidence_lang(html) == "nb" and '<ul class="plain" lang="nb">' in html
        assert f'<code class="hash" id="text-sha256">{HASH["nb"]}</code>' in html
        assert f'<code class="hash" id="visible-sha256">{sig.visible_sha256}</code>' in html
        assert "### Formål" in html  # the exact text shown when signing
        assert '<dd id="signed-language">Norsk bokmål</dd>' in html

    as_json = client.get(
        f"/s/{token}/receipt?lang=sv", headers={"Accept": "application/json", "Accept-Language": "sv"}
    ).get_json()
    assert as_json["locale"] == "nb" and as_json["title"] == "Samtykke til bilder"
    assert as_json["text_sha256"] == HASH["nb"] != HASH["sv"]
    assert as_json["visible_sha256"] == sig.visible_sha256 == sha256_hex(as_json["visible_text"])
    assert as_json["visible_text"] == sig.visible_text
    assert [p["label"] for p in as_json["purposes"]] == ["Nettsted", "Trykksaker"]
    consent = world.consent_of(token)
    assert consent["template"]["text_sha256"] == HASH["nb"] and consent["locale"] == "nb"
    assert sig.locale == "nb"


def test_a_request_made_in_norwegian_opens_in_norwegian_whatever_the_browser_prefers(
    client: Any, world: World
) -> None:
    token = world.adult(locale="nb")
    client.set_cookie("lang", "sv")  # left by another link or the console
    resp = client.get(f"/s/{token}", headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and '<html lang="nb">' in html
    assert "<h1>Samtykke til bilder</h1>" in html and "Nettsted" in html and "Samtycke till bilder" not in html
    assert "BankID på denne enheten" in html and "Samtykk og signer" in html  # the page around it is Norwegian too
    assert f'action="/s/{token}/bankid/start?lang=nb"' in html  # the form posts in the page's language
    # The status messages the page's script fetches speak the link's language too.
    assert client.post(f"/s/{token}/bankid/start", json={"device": "other", "purposes": ["web"]}).status_code == 200
    nb_message = _status(client, token)["message"]
    assert nb_message == _status(client, token, "?lang=nb")["message"] != _status(client, token, "?lang=en")["message"]


def test_the_language_chosen_on_the_page_is_the_language_signed_and_recorded(
    app: Any, client: Any, world: World, clock: Clock
) -> None:
    token = world.adult(locale="nb")
    page = client.get(f"/s/{token}?lang=sv").get_data(as_text=True)  # the person switches to Swedish
    assert '<html lang="sv">' in page and "<h1>Samtycke till bilder</h1>" in page and "Webbplats" in page
    action = _action(page)
    assert action == f"/s/{token}/bankid/start?lang=sv"
    # The no-JS form: the order carries the Swedish text the person read.
    resp = client.post(action, data={"csrf_token": _csrf(page), "device": "other", "purposes": ["web"]})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/s/{token}/bankid?lang=sv")
    progress = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert '<html lang="sv">' in progress and f'data-status-url="/s/{token}/bankid/status?lang=sv"' in progress
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        order = s.scalars(sa.select(SignatureOrder)).one()
        sim = s.scalars(sa.select(SimOrder)).one()
        assert order.locale == "sv" and "Samtycke till bilder" in order.visible_text
        assert "### Ändamål" in order.visible_text and "Webbplats" in order.visible_text
        assert base64.b64decode(sim.user_visible_data or "").decode() == order.visible_text  # what BankID shows
    Phone(client).sign_qr(_status(client, token, "?lang=sv")["qr_data"])
    poll_until(client, clock, token, "complete")

    sig = _signature(app)
    assert sig.locale == "sv" and sig.visible_text == order.visible_text
    receipt = client.get(f"/s/{token}/receipt?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in receipt and "Samtycke till bilder" in receipt and _evidence_lang(receipt) == "sv"
    assert f'id="text-sha256">{HASH["sv"]}<' in receipt and "Samtykke til bilder" not in receipt
    # The consent records the text that was read and signed, not the one the request was sent in.
    consent = world.consent_of(token)
    assert consent["locale"] == "sv" and consent["template"]["text_sha256"] == HASH["sv"]


def test_a_json_start_signs_the_requests_language_unless_the_link_chose_another(
    app: Any, client: Any, world: World
) -> None:
    plain, chosen = world.adult(locale="nb"), world.adult(pn=None, locale="nb")
    assert client.post(f"/s/{plain}/bankid/start", json={"device": "other"}).status_code == 200
    assert client.post(f"/s/{chosen}/bankid/start?lang=en", json={"device": "other"}).status_code == 200
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        orders = {o.locale: o.visible_text for o in s.scalars(sa.select(SignatureOrder))}
    assert set(orders) == {"nb", "en"}
    assert "Samtykke til bilder" in orders["nb"] and "Consent to photos" in orders["en"]


def test_each_guardian_keeps_the_language_they_signed_in(app: Any, client: Any, world: World, clock: Clock) -> None:
    req, (t1, t2) = world.family("all")  # the request names no language
    _sign(client, clock, t1, GUARDIAN_PN, query="?lang=nb", purposes=["web"])
    client.delete_cookie("lang")  # the other guardian, on another phone: a Swedish one
    _sign(client, clock, t2, GUARDIAN2_PN, purposes=["web"])
    first = client.get(f"/s/{t1}/receipt?lang=en", headers={"Accept": "application/json"}).get_json()
    second = client.get(f"/s/{t2}/receipt?lang=en", headers={"Accept": "application/json"}).get_json()
    assert (first["locale"], first["text_sha256"]) == ("nb", HASH["nb"])
    assert (second["locale"], second["text_sha256"]) == ("sv", HASH["sv"])
    assert "Samtykke til bilder" in client.get(f"/s/{t1}/receipt?lang=sv").get_data(as_text=True)
    consent = world.consent(req["consent_id"])
    # Two languages signed: the consent keeps the one it was made in; each signature keeps its own.
    assert consent["status"] == "given" and consent["locale"] == "sv"
    assert consent["template"]["text_sha256"] == HASH["sv"]


def test_an_addendum_receipt_keeps_the_language_signed(app: Any, client: Any, api: Any, clock: Clock) -> None:
    from signing_helpers import REP_PN

    created = api.post("/api/v1/addenda", json={
        "kind": "transcription-transfer", "locale": "nb",
        "signer": {"name": "Rita Representant", "personal_number": REP_PN}})
    assert created.status_code == 201, created.get_data(as_text=True)
    token = token_of(created.get_json()["signing_url"])
    nb = addenda.text("transcription-transfer", "nb")
    sv = addenda.text("transcription-transfer", "sv")
    _sign(client, clock, token, REP_PN)
    html = client.get(f"/s/{token}/receipt?lang=sv").get_data(as_text=True)
    assert '<html lang="sv">' in html and _evidence_lang(html) == "nb"
    assert nb.title in html and sv.title not in html and f'id="text-sha256">{nb.sha256}<' in html
    as_json = client.get(f"/s/{token}/receipt?lang=en", headers={"Accept": "application/json"}).get_json()
    assert as_json["locale"] == "nb" and as_json["text_sha256"] == nb.sha256 and as_json["title"] == nb.title


def test_the_form_signs_the_language_of_its_page_even_if_the_browsers_preference_changes(
    app: Any, client: Any, world: World
) -> None:
    """A request that names no language follows the browser; the page's form carries the
    language it was shown in, so a preference changed meanwhile (another tab) changes nothing."""
    token = world.adult()
    page = client.get(f"/s/{token}", headers={"Accept-Language": "nb-NO"}).get_data(as_text=True)
    assert '<html lang="nb">' in page and "Samtykke til bilder" in page
    client.set_cookie("lang", "en")  # e.g. English chosen on another page meanwhile
    resp = client.post(
        _action(page), data={"csrf_token": _csrf(page), "device": "other", "purposes": ["web"]},
        headers={"Accept-Language": "sv"},
    )
    assert resp.status_code == 303
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        order = s.scalars(sa.select(SignatureOrder)).one()
    assert order.locale == "nb" and "Samtykke til bilder" in order.visible_text and "### Formål" in order.visible_text
