"""The subject pages as a person uses them: HTML forms (post/redirect/get with a CSRF
token), languages, decline, withdraw, expired/used/unknown links, on-site QR codes,
and the rate limit on order starts."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from PIL import Image
from signing_helpers import ADULT_PN, Clock, Phone, World, poll_until, start, status

from app.db import transaction
from reports.models import Record
from signing.pages import qr_image


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def sign_by_qr(client: Any, clock: Clock, token: str, pn: str = ADULT_PN, **body: Any) -> None:
    assert start(client, token, "other", **body).status_code == 200
    Phone(client, pn).sign_qr(status(client, token)["qr_data"])
    poll_until(client, clock, token, "complete")


# --- the consent page ------------------------------------------------------------------


def test_consent_page_shows_text_safely_with_purposes_and_both_bankid_choices(client: Any, world: World) -> None:
    token = world.adult()
    resp = client.get(f"/s/{token}?lang=en")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert '<html lang="en">' in html and "<h1>Consent to photos</h1>" in html
    assert "<strong>photos</strong>" in html and "<h3>Your rights</h3>" in html  # body headings below the h1
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html  # raw HTML shown as text
    for n, label in enumerate(("Website", "Print", "Social media"), start=1):
        assert re.search(rf'id="purpose-{n}" name="purposes" value="\w+">', html)  # nothing pre-ticked
        assert f'<label for="purpose-{n}">{label}</label>' in html
    assert 'name="device" value="same"' in html and 'name="device" value="other"' in html
    assert "BankID on this device" in html and "BankID on another device" in html
    assert f'href="/s/{token}/decline?lang=en"' in html  # the choice of language goes along
    # No inline script or style: the CSP allows only our own files.
    assert "<script>" not in html.replace("<script>alert(1)</script>", "") and "style=" not in html
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"


def test_language_is_negotiated_when_the_request_names_none_and_the_switch_keeps_the_choice(
    client: Any, world: World
) -> None:
    token = world.adult()  # the request names no language: the person's browser decides
    sv = client.get(f"/s/{token}", headers={"Accept-Language": "sv-SE"}).get_data(as_text=True)
    assert '<html lang="sv">' in sv and "Samtycke till bilder" in sv and "Webbplats" in sv
    nb = client.get(f"/s/{token}", headers={"Accept-Language": "nb-NO,no;q=0.8"}).get_data(as_text=True)
    assert '<html lang="nb">' in nb and "Samtykke til bilder" in nb and "Nettsted" in nb
    # Every page of the link carries its language, so its forms post in the language read.
    assert f'action="/s/{token}/bankid/start?lang=nb"' in nb and f'href="/s/{token}/decline?lang=nb"' in nb
    # The switch: links in every language, the current one marked.
    for code in ("sv", "nb", "en"):
        assert f'href="?lang={code}" lang="{code}" hreflang="{code}"' in sv
    assert 'hreflang="sv" aria-current="true"' in sv
    switched = client.get(f"/s/{token}?lang=en", headers={"Accept-Language": "sv"})
    assert "lang=en" in switched.headers.get("Set-Cookie", "")
    assert "Consent to photos" in switched.get_data(as_text=True)
    # The cookie keeps English although the browser still prefers Swedish.
    later = client.get(f"/s/{token}", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert '<html lang="en">' in later and "Consent to photos" in later


def test_form_start_without_javascript_redirects_to_the_progress_page(
    client: Any, world: World, clock: Clock
) -> None:
    token = world.adult()
    page = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    resp = client.post(
        f"/s/{token}/bankid/start?lang=en",
        data={"csrf_token": csrf(page), "device": "other", "purposes": ["web", "social"]},
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/s/{token}/bankid?lang=en")
    progress = client.get(resp.headers["Location"])
    html = progress.get_data(as_text=True)
    assert progress.status_code == 200
    assert f'<img id="qr-image" src="/s/{token}/bankid/qr.svg"' in html and 'alt="QR code' in html
    assert 'role="status"' in html and "Start your BankID app." in html
    assert re.search(rf'id="check-status" href="/s/{token}/bankid\?lang=en"', html)
    qr = client.get(f"/s/{token}/bankid/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    # The image carries the QR text, never the secret.
    assert qr.data == qr_image.svg(status(client, token)["qr_data"])

    # Reloading the progress page is the no-JS "check status"; it ends on the receipt.
    Phone(client).sign_qr(status(client, token)["qr_data"])
    clock.advance(3)
    done = client.get(f"/s/{token}/bankid?lang=en")
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/s/{token}/receipt?lang=en")
    assert world.consent_of(token)["purposes"] == ["web", "social"]


def test_same_device_progress_page_links_to_the_app(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    page = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    client.post(f"/s/{token}/bankid/start", data={"csrf_token": csrf(page), "device": "same", "purposes": ["web"]})
    html = client.get(f"/s/{token}/bankid").get_data(as_text=True)
    assert re.search(r'href="bankid:///\?autostarttoken=[0-9a-f-]{36}&amp;redirect=null"', html)
    assert "qr-image" not in html
    assert client.get(f"/s/{token}/bankid/qr.svg").status_code == 404


def test_choosing_no_purpose_is_a_clear_error_and_starts_nothing(client: Any, world: World) -> None:
    token = world.adult()
    page = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    resp = client.post(f"/s/{token}/bankid/start?lang=en", data={"csrf_token": csrf(page), "device": "other"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'role="alert"' in html and "Choose at least one purpose to consent to." in html
    assert not re.search(r'name="purposes" value="\w+" checked', html)  # the choice is kept: none
    assert client.get(f"/s/{token}/bankid/status").status_code == 404
    as_json = client.post(f"/s/{token}/bankid/start", json={"device": "other", "purposes": []})
    assert as_json.status_code == 422 and as_json.mimetype == "application/problem+json"
    assert "purposes" in as_json.get_json()["errors"]
    unknown = client.post(f"/s/{token}/bankid/start", json={"device": "other", "purposes": ["web", "tv"]})
    assert unknown.status_code == 422 and "purposes" in unknown.get_json()["errors"]
    bad_device = client.post(f"/s/{token}/bankid/start", json={"device": "fax"})
    assert bad_device.status_code == 422 and "device" in bad_device.get_json()["errors"]
    malformed = client.post(f"/s/{token}/bankid/start", data="{", content_type="application/json")
    assert malformed.status_code == 400 and malformed.mimetype == "application/problem+json"


def test_form_posts_need_the_csrf_token_json_posts_do_not(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    form = client.post(f"/s/{token}/bankid/start", data={"device": "other", "purposes": ["web"]})
    assert form.status_code == 400
    assert client.get(f"/s/{token}/bankid/status").status_code == 404  # nothing started
    declined = client.post(f"/s/{token}/decline", data={})
    assert declined.status_code == 400 and world.consent_of(token)["status"] == "pending"
    as_json = client.post(f"/s/{token}/bankid/start", json={"device": "other"})
    assert as_json.status_code == 200 and as_json.get_json() == {"status": "pending"}


# --- decline ------------------------------------------------------------------------------


def test_decline_takes_one_confirmation_and_refuses_the_consent(client: Any, world: World) -> None:
    token = world.adult()
    confirm = client.get(f"/s/{token}/decline?lang=en")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Decline the request?" in html
    assert f'action="/s/{token}/decline?lang=en"' in html
    resp = client.post(f"/s/{token}/decline?lang=en", data={"csrf_token": csrf(html)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/s/{token}?lang=en")
    after = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    assert "You declined." in after and 'name="device"' not in after
    assert world.consent_of(token)["status"] == "refused"
    again = client.post(f"/s/{token}/decline", json={})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"


def test_decline_as_json(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    start(client, token, "other")
    resp = client.post(f"/s/{token}/decline", json={})
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "declined", "signer_status": "declined", "object_status": "refused"}
    assert status(client, token)["hint_code"] == "cancelled"  # the live order went with it
    assert start(client, token, "other").status_code == 409


def test_one_guardian_declining_refuses_for_both(client: Any, world: World) -> None:
    req, (t1, t2) = world.family("all")
    client.post(f"/s/{t1}/decline", json={})
    assert world.consent(req["consent_id"])["status"] == "refused"
    html = client.get(f"/s/{t2}?lang=en").get_data(as_text=True)
    assert "A guardian has declined" in html and 'name="device"' not in html


# --- receipt, reuse and withdrawal ------------------------------------------------------------


def test_used_link_shows_the_receipt_and_withdrawal_then_usage_rights_say_withdrawn(
    client: Any, api: Any, world: World, clock: Clock
) -> None:
    person = world.person("Anna Andersson", ADULT_PN)
    assert api.put(f"/api/v1/assets/img-1/persons/{person}", json={}).status_code in (200, 201)
    req = world.ask(person)
    token = req["signers"][0]["signing_url"].rsplit("/", 1)[1]
    sign_by_qr(client, clock, token, purposes=["web"])

    def rights_now() -> dict[str, Any]:
        at = quote(clock.now.isoformat())
        return dict(api.get(f"/api/v1/assets/img-1/usage-rights?purpose=web&at={at}").get_json())

    rights = rights_now()
    assert rights["allowed"] is True and rights["reason"] == "consent_given", rights

    used = client.get(f"/s/{token}?lang=en")
    html = used.get_data(as_text=True)
    assert used.status_code == 200 and "Receipt" in html and 'name="device"' not in html
    # Signed in Swedish (the request's language): the evidence stays Swedish on an English page.
    assert "Samtycke till bilder" in html and "Webbplats" in html and "Consent to photos" not in html
    assert "Anna Andersson" in html and "BankID" in html
    assert "The sealed record (PDF) is being prepared" in html or f'href="/s/{token}/record.pdf"' in html
    assert f'href="/s/{token}/withdraw?lang=en"' in html
    assert start(client, token, "other").status_code == 409  # a used link signs no more

    confirm = client.get(f"/s/{token}/withdraw?lang=en").get_data(as_text=True)
    assert "Withdraw your consent?" in confirm and f'action="/s/{token}/withdraw?lang=en"' in confirm
    done = client.post(f"/s/{token}/withdraw?lang=en", data={"csrf_token": csrf(confirm)})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/s/{token}/receipt?lang=en")
    receipt = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Consent withdrawn" in receipt and f"/s/{token}/withdraw" not in receipt

    clock.advance(1)
    rights = rights_now()
    assert rights["allowed"] is False and rights["reason"] == "withdrawn"
    assert world.consent(req["consent_id"])["status"] == "withdrawn"
    again = client.post(f"/s/{token}/withdraw", json={})
    assert again.status_code == 409


def test_withdraw_as_json(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    assert client.post(f"/s/{token}/withdraw", json={}).status_code == 409  # nothing given yet
    sign_by_qr(client, clock, token)
    resp = client.post(f"/s/{token}/withdraw", json={})
    assert resp.status_code == 200 and resp.get_json()["status"] == "withdrawn"
    receipt = client.get(f"/s/{token}/receipt", headers={"Accept": "application/json"}).get_json()
    assert receipt["status"] == "withdrawn" and receipt["can_withdraw"] is False


def test_record_link_appears_once_the_record_is_sealed(app: Any, client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    sign_by_qr(client, clock, token)
    consent_id = world.consent_of(token)["id"]
    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        # Records are made after the commit by the records domain; drop any, then seal one by hand.
        s.execute(sa.delete(Record))
    receipt = client.get(f"/s/{token}/receipt", headers={"Accept": "application/json"}).get_json()
    assert receipt["record_available"] is False and receipt["record_url"] is None
    assert "The sealed record (PDF) is being prepared" in client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    assert client.get(f"/s/{token}/record.pdf").status_code == 404

    with transaction(app.extensions["samtycke.sessionmaker"]) as s:
        s.add(
            Record(
                tenant_id=world.api.tenant_id, kind="consent_given", consent_id=consent_id, audit_event_id="e",
                audit_event_hash="0" * 64, status="sealed", pdf=b"%PDF-1.7 sealed", sealed_at=clock.now,
            )
        )
    receipt = client.get(f"/s/{token}/receipt", headers={"Accept": "application/json"}).get_json()
    assert receipt["record_available"] is True and receipt["record_url"] == f"/s/{token}/record.pdf"
    assert f'href="/s/{token}/record.pdf"' in client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    pdf = client.get(f"/s/{token}/record.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data == b"%PDF-1.7 sealed"
    # Another link never reaches this record.
    assert client.get(f"/s/{world.adult(pn=None)}/record.pdf").status_code == 404


# --- expired, unknown, used links ----------------------------------------------------------------


def test_expired_link_is_a_translated_gone_page(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    clock.advance(days=31)
    resp = client.get(f"/s/{token}?lang=en")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 410 and resp.mimetype == "text/html"
    assert "This link is no longer valid" in html and "Traceback" not in html
    assert 'hreflang="sv"' in html  # the language switch is there too
    as_json = client.post(f"/s/{token}/bankid/start", json={"device": "other"})
    assert as_json.status_code == 410 and as_json.mimetype == "application/problem+json"


def test_signed_link_still_shows_its_receipt_after_the_link_period(
    client: Any, world: World, clock: Clock
) -> None:
    token = world.adult()
    sign_by_qr(client, clock, token)
    clock.advance(days=40)
    assert client.get(f"/s/{token}?lang=en").status_code == 200


def test_unknown_link_is_a_translated_not_found_page(client: Any) -> None:
    sv = client.get("/s/no-such-token", headers={"Accept-Language": "sv"})
    assert sv.status_code == 404 and '<html lang="sv">' in sv.get_data(as_text=True)
    for path in ("/s/no-such-token", "/s/no-such-token/receipt", "/s/x/decline"):
        resp = client.get(path + "?lang=en")
        assert resp.status_code == 404 and resp.mimetype == "text/html"
        assert "Link not found" in resp.get_data(as_text=True)
    posted = client.post("/s/no-such-token/bankid/start", json={"device": "same"})
    assert posted.status_code == 404 and posted.mimetype == "application/problem+json"


# --- on-site capture --------------------------------------------------------------------------------


def test_signing_link_qr_codes_for_on_site_capture(app: Any, client: Any, world: World) -> None:
    token = world.adult()
    png = client.get(f"/s/{token}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = Image.open(io.BytesIO(png.data))
    assert image.size[0] == image.size[1] >= 200
    assert png.data == qr_image.png(f"{app.config['BASE_URL']}/s/{token}")
    svg = client.get(f"/s/{token}/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get("/s/unknown/qr.png").status_code == 404


# --- rate limits ------------------------------------------------------------------------------------------


def test_order_starts_are_limited_per_link(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    for n in range(10):
        resp = client.post(
            f"/s/{token}/bankid/start", json={"device": "other"}, environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"}
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
    limited = client.post(
        f"/s/{token}/bankid/start", json={"device": "other"}, environ_base={"REMOTE_ADDR": "10.0.1.1"}
    )
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
    assert limited.get_json()["status"] == 429 and "Retry-After" in limited.headers
    html = client.get(f"/s/{token}/oidc/none?lang=en", environ_base={"REMOTE_ADDR": "10.0.1.2"})
    assert html.status_code == 429 and "Too many attempts" in html.get_data(as_text=True)


def test_order_starts_are_limited_per_client_address(client: Any, world: World, clock: Clock) -> None:
    per_address = int(client.application.config["SIGNING_START_ADDRESS_RATE_LIMIT"].split()[0])
    per_link = int(client.application.config["SIGNING_START_RATE_LIMIT"].split()[0])
    links = -(-per_address // per_link) + 1  # enough links that none reaches its own limit
    tokens = [world.adult(pn=None) for _ in range(links)]
    codes = [start(client, tokens[n % links], "other").status_code for n in range(per_address)]
    assert codes == [200] * per_address
    assert start(client, tokens[0], "other").status_code == 429  # each link is far below its own limit
    other_address = client.post(
        f"/s/{tokens[1]}/bankid/start", json={"device": "other"}, environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert other_address.status_code == 200


def test_odd_input_never_gives_a_server_error(client: Any, world: World, clock: Clock) -> None:
    token = world.adult()
    long_token = "x" * 5000
    attempts = [
        ("post", f"/s/{token}/bankid/start", {"json": ["device", "other"]}),
        ("post", f"/s/{token}/bankid/start", {"json": {"device": "other", "purposes": "web"}}),
        ("post", f"/s/{token}/bankid/start", {"json": {"device": "other", "purposes": [1, None]}}),
        ("post", f"/s/{token}/bankid/start", {"json": {"device": None}}),
        ("post", f"/s/{token}/bankid/start", {"json": {"device": "other", "extra": True}}),
        ("post", f"/s/{token}/bankid/start", {"data": b"\xff\xfe", "content_type": "application/json"}),
        ("post", f"/s/{long_token}/bankid/start", {"json": {"device": "other"}}),
        ("post", f"/s/{token}/decline", {"json": ["yes"]}),
        ("post", f"/s/{token}/withdraw", {"json": "text"}),
        ("post", f"/s/{token}/bankid/cancel", {"json": {}}),
        ("get", f"/s/{token}/oidc/none?purposes=,,,", {}),
        ("get", "/oidc/callback", {}),
        ("get", "/oidc/callback?state=&code=", {}),
        ("get", f"/s/{token}/bankid", {}),
        ("get", f"/s/{token}/bankid/qr.svg", {}),
        ("get", f"/s/{token}/record.pdf", {}),
        ("get", f"/s/{long_token}", {}),
        ("get", f"/s/{token}/receipt", {"headers": {"Accept": "application/json"}}),
        ("put", f"/s/{token}", {}),
        ("delete", f"/s/{token}/bankid/start", {}),
    ]
    for method, path, kwargs in attempts:
        resp = getattr(client, method)(path, **kwargs)
        assert resp.status_code < 500, (method, path, resp.status_code, resp.get_data(as_text=True)[:300])
        if resp.status_code >= 400 and (kwargs.get("json") is not None or "content_type" in kwargs):
            assert resp.mimetype == "application/problem+json", (path, resp.mimetype)
    assert world.consent_of(token)["status"] == "pending"


def test_deeply_nested_json_is_an_ordinary_400_and_changes_nothing(client: Any, world: World) -> None:
    token = world.adult()
    for body in (b"[" * 100_000, b'{"device": "other", "purposes": ' + b"[" * 70 + b"]" * 70 + b"}"):
        for action in ("bankid/start", "decline", "withdraw", "bankid/cancel"):
            resp = client.post(f"/s/{token}/{action}", data=body, content_type="application/json")
            assert resp.status_code == 400, (action, resp.status_code, resp.get_data(as_text=True)[:300])
            assert resp.mimetype == "application/problem+json"
            assert resp.get_json()["detail"] == "The request body is not valid JSON."
    assert world.consent_of(token)["status"] == "pending"
    assert client.get(f"/s/{token}/bankid/status").status_code == 404  # no order was started
