"""Record verification over HTTP under attack: files that inflate beyond any record are refused
with an answer a user can read, and verification is rate limited per client address."""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

from flask import Flask

PAGE_FIELD = "record"


def _csrf(client: Any) -> str:
    page = client.get("/verify?lang=en").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _upload(client: Any, token: str, data: bytes) -> Any:
    return client.post(
        "/verify?lang=en", data={"csrf_token": token, PAGE_FIELD: (BytesIO(data), "record.pdf")},
        content_type="multipart/form-data",
    )


def test_the_api_refuses_a_decompression_bomb_with_a_problem(api: Any, evidence_bomb_pdf: bytes) -> None:
    resp = api.post("/api/v1/records/verify", data=evidence_bomb_pdf, content_type="application/pdf")
    assert resp.status_code == 413, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["type"] == "/problems/record-too-large" and body["status"] == 413
    assert "8 MiB" in body["detail"]


def test_the_page_refuses_a_decompression_bomb_in_words(client: Any, evidence_bomb_pdf: bytes) -> None:
    resp = _upload(client, _csrf(client), evidence_bomb_pdf)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 413 and resp.mimetype == "text/html"
    assert "far larger inside than any record" in body and 'role="alert"' in body
    assert "The record is intact" not in body


def test_verification_is_rate_limited_per_address_across_page_and_api(app: Flask, client: Any, api: Any) -> None:
    limit = int(app.config["VERIFY_RATE_LIMIT"].split()[0])
    token = _csrf(client)
    statuses = []
    for attempt in range(limit):
        if attempt % 2:
            statuses.append(_upload(client, token, b"not a pdf").status_code)
        else:
            statuses.append(
                api.post("/api/v1/records/verify", data=b"not a pdf", content_type="application/pdf").status_code
            )
    assert statuses == [200] * limit
    over_api = api.post("/api/v1/records/verify", data=b"not a pdf", content_type="application/pdf")
    assert over_api.status_code == 429 and over_api.mimetype == "application/problem+json"
    assert "Retry-After" in over_api.headers
    over_page = _upload(client, token, b"not a pdf")
    assert over_page.status_code == 429 and over_page.mimetype == "text/html"
    # Reading the page is not an attempt.
    assert client.get("/verify").status_code == 200
    # Another address has its own count.
    other = client.post(
        "/verify", data={"csrf_token": token, PAGE_FIELD: (BytesIO(b"x"), "r.pdf")},
        content_type="multipart/form-data", environ_base={"REMOTE_ADDR": "192.0.2.44"},
    )
    assert other.status_code == 200
