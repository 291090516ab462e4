"""Machine authentication: OAuth2 client credentials (authlib), bearer tokens.

Client secrets and access tokens are stored as SHA-256 hashes only; both are
high-entropy random strings, so a fast hash is the right tool (a password hash
would only slow every API call down).
"""

from __future__ import annotations

import functools
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Blueprint, Flask, Response, current_app, g, json
from sqlalchemy.orm import Session

from app import audit
from app.crypto import sha256_hex
from app.db import get_session, utcnow
from app.errors import PROBLEM_JSON, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from app.models import ApiClient, ApiToken, Tenant

SCOPES = [
    "persons:read", "persons:write", "consents:read", "consents:write", "rights:read",
    "addenda:read", "addenda:write", "audit:read", "webhooks:write",
]


# --- authlib adapters --------------------------------------------------------

class OAuthClient(ClientMixin):
    def __init__(self, row: ApiClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        granted = scope_to_list(self.row.scopes) or []
        if not scope:
            return " ".join(granted)
        requested = scope_to_list(scope) or []
        if not set(requested) <= set(granted):
            # Asking for more than the client holds is an error, not a silent narrowing.
            raise InvalidScopeError()
        return " ".join(s for s in granted if s in requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.row.secret_hash, sha256_hex(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class OAuthToken(TokenMixin):
    def __init__(self, row: ApiToken | _TokenSnapshot) -> None:
        self.row = row

    def check_client(self, client: Any) -> bool:
        return bool(client.row.id == self.row.client_pk)

    def get_scope(self) -> str:
        return self.row.scopes

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


class _Server(AuthorizationServer):
    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        return _oauth_problem(error)


def _oauth_problem(error: OAuth2Error) -> Response:
    status = error.status_code or 400
    body = dict(error.get_body())
    description = body.get("error_description") or {
        "invalid_client": "Client authentication failed.",
        "invalid_scope": "The requested scope is not granted to this client.",
        "unsupported_grant_type": "Only grant_type=client_credentials is supported.",
        "invalid_request": "The token request is malformed.",
        "invalid_token": "The access token is missing, unknown, expired or revoked.",
        "insufficient_scope": "The access token lacks the scope this endpoint needs.",
        "missing_authorization": "An access token is required.",
    }.get(str(body.get("error")), "The request was refused.")
    problem = {
        "type": f"/problems/oauth-{body.get('error', 'error')}".replace("_", "-"),
        "title": {401: "Unauthorized", 403: "Forbidden"}.get(status, "Bad request"),
        "status": status,
        "detail": description,
        **body,
    }
    problem.setdefault("error_description", description)
    response = Response(json.dumps(problem), status=status, mimetype=PROBLEM_JSON)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def _query_client(client_id: str) -> OAuthClient | None:
    row = get_session().scalar(
        sa.select(ApiClient).where(ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None))
    )
    return OAuthClient(row) if row else None


def _save_token(token: dict[str, Any], request: Any) -> None:
    client: OAuthClient = request.client
    issued = utcnow()
    get_session().add(
        ApiToken(
            tenant_id=client.row.tenant_id,
            client_pk=client.row.id,
            token_hash=sha256_hex(token["access_token"]),
            scopes=token.get("scope", ""),
            issued_at=issued,
            expires_at=issued + timedelta(seconds=int(token["expires_in"])),
        )
    )


@dataclass(frozen=True)
class _TokenSnapshot:
    """The fields of an ApiToken that authorising a request needs, detached from any session."""

    tenant_id: str
    client_pk: str
    scopes: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class _TokenCache:
    """Validated tokens per process for a few seconds: the DAM asks thousands of times a
    minute with one token, and the look-up was a third of a usage-rights request. A token
    revoked in the database (itself or through its client) keeps working here for at most
    ``ttl`` seconds: every process re-reads the database once an entry is older."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[str, tuple[float, _TokenSnapshot]] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str, ttl: float) -> _TokenSnapshot | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > ttl:
            return None
        return entry[1]

    def put(self, key: str, token: _TokenSnapshot) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # crude but bounded; entries are cheap to rebuild
            self._entries[key] = (time.monotonic(), token)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


token_cache = _TokenCache()


class _Validator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> OAuthToken | None:
        key = sha256_hex(token_string)
        ttl = float(current_app.config.get("TOKEN_CACHE_SECONDS", 0) or 0)
        cached = token_cache.get(key, ttl) if ttl > 0 else None
        if cached is not None:
            return OAuthToken(cached)
        # A revoked client's tokens die with it, whether or not each token row was revoked too.
        row = get_session().scalar(
            sa.select(ApiToken)
            .join(ApiClient, ApiClient.id == ApiToken.client_pk)
            .where(ApiToken.token_hash == key, ApiClient.revoked_at.is_(None))
        )
        if row is None:
            return None
        snapshot = _TokenSnapshot(
            row.tenant_id, row.client_pk, row.scopes, row.issued_at, row.expires_at, row.revoked_at
        )
        if ttl > 0 and row.revoked_at is None:
            token_cache.put(key, snapshot)
        return OAuthToken(snapshot)


protector = ResourceProtector()
protector.register_token_validator(_Validator())

blueprint = Blueprint("oauth", __name__)


@blueprint.post("/oauth/token")
def issue_token() -> Response:
    server: _Server = current_app.extensions["samtycke.oauth_server"]
    response: Response = server.create_token_response()
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", SCOPES)
    server = _Server()
    server.init_app(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(grants.ClientCredentialsGrant)
    app.extensions["samtycke.oauth_server"] = server
    app.register_blueprint(blueprint)


# --- the caller of an API request ---------------------------------------------

@dataclass(frozen=True)
class Caller:
    tenant_id: str
    actor: str  # "client:<client_id>", "user:<id>", "subject:<signer id>", "cli"
    scopes: frozenset[str]


def current_caller() -> Caller:
    caller: Caller | None = g.get("caller")
    if caller is None:
        raise Unauthorized("This endpoint needs an authenticated caller.")
    return caller


F = TypeVar("F", bound=Callable[..., Any])


def require_scope(*scopes: str) -> Callable[[F], F]:
    """Authenticate the bearer token and demand every scope; sets ``g.caller``."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                # authlib reads a list as "any of these" and one space-separated entry as "all of them".
                token: OAuthToken = protector.acquire_token([" ".join(scopes)] if scopes else None)
            except OAuth2Error as error:
                return _oauth_problem(error)
            g.caller = Caller(
                tenant_id=token.row.tenant_id,
                actor=f"client:{token.row.client_pk}",
                scopes=frozenset(scope_to_list(token.row.scopes) or []),
            )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


# --- services used by the CLI -------------------------------------------------

def create_tenant(session: Session, slug: str, name: str, actor: str = "cli") -> Tenant:
    if not slug or not slug.replace("-", "").isalnum() or slug != slug.lower() or len(slug) > 64:
        raise Unprocessable("A tenant slug is 1-64 lowercase letters, digits and hyphens.")
    if not name.strip():
        raise Unprocessable("A tenant needs a name.")
    if session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict(f"Tenant '{slug}' already exists.")
    tenant = Tenant(slug=slug, name=name.strip())
    session.add(tenant)
    session.flush()
    audit.append(session, tenant.id, "tenant.created", actor, {"tenant_id": tenant.id})
    return tenant


def tenant_by_slug(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"No tenant '{slug}'.")
    return tenant


def create_client(
    session: Session, tenant: Tenant, scopes: list[str], name: str = "", actor: str = "cli"
) -> tuple[ApiClient, str]:
    """Create an API client; returns it with its secret, which is shown once and stored hashed."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise Unprocessable(
            f"Unknown scopes: {' '.join(unknown)}. Known: {' '.join(SCOPES)}" if unknown else "Give at least one scope."
        )
    audit.lock_tenant(session, tenant.id)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        tenant_id=tenant.id,
        client_id=f"smt_{secrets.token_hex(12)}",
        secret_hash=sha256_hex(secret),
        name=name,
        scopes=" ".join(s for s in SCOPES if s in scopes),
    )
    session.add(client)
    session.flush()
    audit.append(session, tenant.id, "client.created", actor, {"client_id": client.id})
    return client, secret


def list_clients(session: Session, tenant: Tenant) -> list[ApiClient]:
    return list(session.scalars(
        sa.select(ApiClient).where(ApiClient.tenant_id == tenant.id).order_by(ApiClient.created_at, ApiClient.id)
    ))


def revoke_client(session: Session, client_id: str, actor: str = "cli") -> tuple[ApiClient, int]:
    """Revoke a client and every token it holds; returns it with the number of tokens revoked.

    New tokens are refused at once; tokens already trusted by a process's cache stop
    working within ``TOKEN_CACHE_SECONDS``. Revoking twice changes nothing more.
    """
    client = session.scalar(sa.select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None:
        raise NotFound(f"No API client '{client_id}'.")
    audit.lock_tenant(session, client.tenant_id)
    session.refresh(client)  # read again under the lock: a concurrent revocation may have won
    now = utcnow()
    first = client.revoked_at is None
    if first:
        client.revoked_at = now
    result = session.execute(
        sa.update(ApiToken)
        .where(ApiToken.client_pk == client.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    tokens = int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    if first or tokens:
        audit.append(session, client.tenant_id, "client.revoked", actor,
                     {"client_id": client.id, "tokens_revoked": tokens})
    return client, tokens


def forbid_unless(condition: bool, detail: str) -> None:
    if not condition:
        raise Forbidden(detail)
