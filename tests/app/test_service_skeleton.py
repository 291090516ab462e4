"""The service skeleton: health, OAuth2 token endpoint, errors, OpenAPI."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import ApiClient, ApiToken


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_healthz_checks_the_database(client: Any) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "db": "ok"}


def test_healthz_503_when_database_is_gone(make_app: Any, tmp_path: Any) -> None:
    app = make_app(DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["db"] == "unavailable"


def test_token_endpoint_issues_bearer_token_and_stores_only_hashes(app: Any, client: Any, make_api: Any) -> None:
    api = make_api("acme", scopes="persons:read rights:read")
    resp = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(api.client_id, api.secret)
    )
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "persons:read rights:read"
    with app.extensions["samtycke.sessionmaker"]() as s:
        stored = s.scalars(sa.select(ApiToken.token_hash)).all()
        assert body["access_token"] not in stored and len(stored) == 2
        secrets = s.scalars(sa.select(ApiClient.secret_hash)).all()
        assert api.secret not in secrets


def test_token_endpoint_narrows_scope_and_refuses_more(client: Any, make_api: Any) -> None:
    api = make_api("acme", scopes="persons:read rights:read")
    ok = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": "rights:read"},
        headers=basic(api.client_id, api.secret),
    )
    assert ok.status_code == 200 and ok.get_json()["scope"] == "rights:read"
    bad = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": "persons:write"},
        headers=basic(api.client_id, api.secret),
    )
    assert bad.status_code == 400
    assert bad.get_json()["error"] == "invalid_scope"
    assert bad.mimetype == "application/problem+json"


def test_token_endpoint_rejects_wrong_secret_and_form_credentials(client: Any, make_api: Any) -> None:
    api = make_api("acme")
    wrong = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(api.client_id, "nope"))
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "invalid_client"
    in_body = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": api.secret},
    )
    assert in_body.status_code == 401
    grant = client.post("/oauth/token", data={"grant_type": "password"}, headers=basic(api.client_id, api.secret))
    assert grant.status_code == 400
    assert grant.get_json()["status"] == 400


def test_routing_errors_are_problem_json(client: Any) -> None:
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(resp.get_json())
    resp = client.delete("/healthz")
    assert resp.status_code == 405
    assert resp.mimetype == "application/problem+json"


# Operations of CONTRACT.md the DAM calls; the document must describe each of them.
CONTRACT_OPERATIONS = {
    ("post", "/api/v1/purposes"), ("get", "/api/v1/purposes"), ("post", "/api/v1/persons"),
    ("get", "/api/v1/persons"), ("get", "/api/v1/persons/{person_id}"), ("patch", "/api/v1/persons/{person_id}"),
    ("delete", "/api/v1/persons/{person_id}"), ("get", "/api/v1/persons/{person_id}/export"),
    ("put", "/api/v1/assets/{asset_id}/persons/{person_id}"),
    ("delete", "/api/v1/assets/{asset_id}/persons/{person_id}"),
    ("get", "/api/v1/assets/{asset_id}/persons"), ("post", "/api/v1/asset-links"),
    ("post", "/api/v1/consent-templates"), ("post", "/api/v1/consent-requests"),
    ("get", "/api/v1/consent-requests/{request_id}"), ("get", "/api/v1/consents"),
    ("get", "/api/v1/consents/{consent_id}"), ("post", "/api/v1/consents/{consent_id}/withdraw"),
    ("post", "/api/v1/consents/{consent_id}/revoke"), ("get", "/api/v1/consents/{consent_id}/record.pdf"),
    ("get", "/api/v1/assets/{asset_id}/usage-rights"), ("post", "/api/v1/usage-rights/query"),
    ("post", "/api/v1/addenda"), ("get", "/api/v1/addenda/active"), ("post", "/api/v1/addenda/{addendum_id}/revoke"),
    ("get", "/api/v1/tenant/contacts"), ("put", "/api/v1/tenant/contacts"), ("get", "/api/v1/audit"),
    ("get", "/api/v1/audit/verify"), ("post", "/api/v1/records/verify"),
}


def test_openapi_document_describes_every_api_route(app: Any, client: Any) -> None:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "Samtycke"
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops
                 if method in ("get", "post", "put", "patch", "delete")}
    # Exactly the routes the app serves under /api/v1: none missing, none stale.
    served = {(method.lower(), re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    assert described == served
    assert described >= CONTRACT_OPERATIONS, sorted(CONTRACT_OPERATIONS - described)
    # Clients find how to get a token and which scope each operation needs.
    flows = doc["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    create_person = doc["paths"]["/api/v1/persons"]["post"]
    assert create_person["security"] == [{"oauth2": ["persons:write"]}]
    # Request bodies come from the schemas that validate them.
    ref = create_person["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "name" in schema["required"] and "personal_number" in schema["properties"]


def test_security_headers(client: Any) -> None:
    resp = client.get("/healthz")
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_unstorable_text_is_refused_everywhere(client: Any, make_api: Any) -> None:
    api = make_api("acme")
    before = api.get("/api/v1/persons").get_json()["items"]
    for body, field in (
        ({"name": "Anna\u0000"}, "name"),
        ({"name": "x", "external_ref": "\ud800"}, "external_ref"),
        ({"name": "x", "guardian_ids": ["ok", "\u0000"]}, "guardian_ids.1"),
    ):
        resp = api.post("/api/v1/persons", json=body)
        assert resp.status_code == 422, body
        assert resp.mimetype == "application/problem+json"
        assert list(resp.get_json()["errors"]) == [field]
    raw = b'{"name": "bad \\ud83d alone"}'
    assert api.post("/api/v1/persons", data=raw, content_type="application/json").status_code == 422
    assert api.get("/api/v1/persons/abc%00def").status_code == 404
    assert api.get("/api/v1/consents/abc%00def").status_code == 404
    resp = api.get("/api/v1/persons?q=a%00")
    assert resp.status_code == 422 and list(resp.get_json()["errors"]) == ["q"]
    assert api.get("/api/v1/persons").get_json()["items"] == before
    # A correctly paired surrogate (an emoji) is ordinary text.
    assert api.post("/api/v1/persons", json={"name": "Anna \U0001f600"}).status_code == 201


def test_after_commit_waits_for_the_outer_commit_not_a_savepoint(app: Any) -> None:
    from app.db import after_commit

    ran: list[str] = []
    with app.extensions["samtycke.sessionmaker"]() as session:
        session.execute(sa.text("SELECT 1"))
        with session.begin_nested():
            after_commit(session, lambda: ran.append("inner"))
        assert ran == []  # releasing the savepoint is not a commit
        session.commit()
        assert ran == ["inner"]
        after_commit(session, lambda: ran.append("rolled back"))
        session.execute(sa.text("SELECT 1"))
        session.rollback()
        session.commit()
    assert ran == ["inner"]


def test_validated_tokens_are_cached_briefly_and_only_when_configured(app: Any, make_api: Any) -> None:
    api = make_api("acme")
    assert api.get("/api/v1/purposes").status_code == 200
    with app.extensions["samtycke.sessionmaker"]() as s:
        s.execute(sa.delete(ApiToken))
        s.commit()
    # Within TOKEN_CACHE_SECONDS the process trusts what it validated a moment ago ...
    assert api.get("/api/v1/purposes").status_code == 200
    # ... and without the cache a vanished token is refused at once.
    app.config["TOKEN_CACHE_SECONDS"] = 0
    try:
        resp = api.get("/api/v1/purposes")
        assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    finally:
        app.config["TOKEN_CACHE_SECONDS"] = 10


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        # Two requests raced on a unique constraint; the commit hook answers 409.
        (sa.exc.IntegrityError("INSERT INTO persons ...", {}, Exception("duplicate key")), 409),
        # The database went away between the work and the commit; the hook answers 503.
        (sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection")), 503),
    ],
)
def test_an_answer_replaced_by_a_failed_commit_keeps_the_security_headers(
    app: Any, api: Any, monkeypatch: pytest.MonkeyPatch, failure: Exception, status: int
) -> None:
    def commit(self: Session) -> None:
        raise failure

    monkeypatch.setattr(Session, "commit", commit)
    resp = api.get("/api/v1/persons")
    assert resp.status_code == status and resp.mimetype == "application/problem+json"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Referrer-Policy"] == "no-referrer"
