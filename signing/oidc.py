"""Signing through an OpenID Provider: authorization code flow with PKCE (S256),
``state`` and ``nonce``; the id_token verified against the provider's JWKS.

Providers come from configuration (``OIDC_PROVIDERS``) and are described by
their discovery document. Where a provider advertises the OIDC Sweden
signature extension (scope ``https://id.oidc.se/scope/sign``), the text to
sign goes along as ``https://id.oidc.se/param/signRequest`` and the returned
``https://id.oidc.se/claim/userSignature`` is kept as evidence; otherwise the
signed id_token of a fresh login (``prompt=login``) is the evidence.

authlib supplies the OAuth2 building blocks (grant URI, PKCE challenge,
tokens) and joserfc the JOSE verification; HTTP is plain httpx.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from consent.personal_numbers import COUNTRIES, DEFAULT_COUNTRY

SIGN_SCOPE = "https://id.oidc.se/scope/sign"
SIGN_REQUEST_PARAM = "https://id.oidc.se/param/signRequest"
USER_SIGNATURE_CLAIM = "https://id.oidc.se/claim/userSignature"
DEFAULT_PERSONAL_NUMBER_CLAIM = "https://id.oidc.se/claim/personalIdentityNumber"
DEFAULT_SCOPE = "openid profile"
# Asymmetric algorithms only: a symmetric id_token would be keyed with our own secret.
ALLOWED_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
METADATA_TTL = 3600.0
LEEWAY_SECONDS = 60
HTTP_TIMEOUT = 10.0


class OidcError(Exception):
    """The provider could not be used or its answer could not be trusted. ``code`` names why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Provider:
    """An OpenID Provider offered for signing. ``country`` says whose national identity number its
    ``personal_number_claim`` holds (Idura/Criipto ``socialno``, Signicat ``nin``, BankID Norge
    ``nnin``, OIDC Sweden's ``personalIdentityNumber``): the number is read and compared within that
    country, and the provider is offered to signers of that country only."""

    name: str
    label: str
    discovery_url: str
    client_id: str
    client_secret: str
    scope: str = DEFAULT_SCOPE
    personal_number_claim: str = DEFAULT_PERSONAL_NUMBER_CLAIM
    country: str = DEFAULT_COUNTRY
    # The label per language ("sv", "nb", "en"), where a method is known by other names.
    labels: tuple[tuple[str, str], ...] = ()

    def label_for(self, locale: str | None) -> str:
        return dict(self.labels).get(locale or "", self.label)

    @classmethod
    def from_config(cls, item: Mapping[str, Any]) -> Provider:
        missing = [k for k in ("name", "discovery_url", "client_id", "client_secret") if not item.get(k)]
        if missing:
            raise ValueError(f"OIDC provider without {', '.join(missing)}")
        scope = str(item.get("scope") or DEFAULT_SCOPE)
        if "openid" not in scope.split():
            scope = "openid " + scope
        country = str(item.get("country") or DEFAULT_COUNTRY)
        if country not in COUNTRIES:
            raise ValueError(f"OIDC provider {item['name']}: country must be one of {', '.join(COUNTRIES)}")
        raw_label = item.get("label") or item["name"]
        labels: dict[str, str] = {}
        if isinstance(raw_label, Mapping):
            labels = {str(k): str(v) for k, v in raw_label.items() if v}
            if not labels:
                raise ValueError(f"OIDC provider {item['name']}: label has no text")
            raw_label = labels.get("en") or next(iter(labels.values()))
        return cls(
            name=str(item["name"]),
            label=str(raw_label),
            discovery_url=str(item["discovery_url"]),
            client_id=str(item["client_id"]),
            client_secret=str(item["client_secret"]),
            scope=scope,
            personal_number_claim=str(item.get("personal_number_claim") or DEFAULT_PERSONAL_NUMBER_CLAIM),
            country=country,
            labels=tuple(sorted(labels.items())),
        )


def providers(config: Mapping[str, Any]) -> list[Provider]:
    return [Provider.from_config(item) for item in (config.get("OIDC_PROVIDERS") or [])]


def provider_named(config: Mapping[str, Any], name: str) -> Provider | None:
    return next((p for p in providers(config) if p.name == name), None)


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str
    sign_extension: bool


@dataclass(frozen=True)
class OidcIdentity:
    """What a verified id_token (plus userinfo, when needed) says about the signer."""

    issuer: str
    subject: str
    id_token: str
    claims: dict[str, Any]
    personal_number_raw: str | None
    name: str | None
    given_name: str | None
    family_name: str | None
    user_signature: str | None
    auth_time: int | None
    acr: str | None
    amr: list[Any] | None = field(default=None)


# --- discovery and keys (cached per process) ------------------------------------------

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def _get_json(http: httpx.Client, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = http.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise OidcError("provider_unreachable", f"{what}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise OidcError("provider_error", f"{what} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise OidcError("provider_error", f"{what} is not JSON") from exc
    if not isinstance(data, dict):
        raise OidcError("provider_error", f"{what} is not a JSON object")
    return data


def _cached(key: str, fetch: Any, *, refresh: bool = False) -> dict[str, Any]:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and not refresh and now - hit[0] < METADATA_TTL:
        return hit[1]
    value: dict[str, Any] = fetch()
    with _lock:
        _cache[key] = (now, value)
    return value


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def metadata(provider: Provider, http: httpx.Client) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        data = _get_json(http, provider.discovery_url, "discovery document")
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise OidcError("provider_error", f"discovery document without {key}")
        return data

    return _cached("meta:" + provider.discovery_url, fetch)


def _jwks(meta: dict[str, Any], http: httpx.Client, *, refresh: bool = False) -> KeySet:
    uri = meta["jwks_uri"]
    data = _cached("jwks:" + uri, lambda: _get_json(http, uri, "JWKS"), refresh=refresh)
    try:
        return KeySet.import_key_set(data)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise OidcError("provider_error", f"JWKS cannot be read: {type(exc).__name__}") from exc


def supports_signing(meta: Mapping[str, Any]) -> bool:
    scopes = meta.get("scopes_supported")
    return isinstance(scopes, list) and SIGN_SCOPE in scopes


# --- the authorization request ----------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def sign_request_jwt(provider: Provider, meta: Mapping[str, Any], text: str, locale: str, now: int) -> str:
    """The signRequest parameter as a JWT signed with the client secret (OIDC Core 10.1),
    as the extension requires for a parameter sent outside a request object."""
    mime_types = meta.get("https://id.oidc.se/disco/userMessageSupportedMimeTypes") or ["text/plain"]
    mime = "text/markdown" if "text/markdown" in mime_types else "text/plain"
    claims = {
        "iss": provider.client_id,
        "aud": meta["issuer"],
        "iat": now,
        "exp": now + 600,
        "tbs_data": _b64(text),
        "sign_message": {"message": {locale: _b64(text)}, "mime_type": mime},
    }
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(provider.client_secret.encode()))


def authorization_request(
    provider: Provider,
    http: httpx.Client,
    *,
    redirect_uri: str,
    sign_text: str,
    locale: str,
    required_personal_number: str | None,
) -> AuthorizationRequest:
    meta = metadata(provider, http)
    state = generate_token(43)
    nonce = generate_token(43)
    code_verifier = generate_token(64)
    signing = supports_signing(meta)
    scopes = provider.scope.split()
    extra: dict[str, Any] = {
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(code_verifier),
        "code_challenge_method": "S256",
        "ui_locales": locale,
        # A signature is an act of its own: never let an earlier session stand in for it.
        "prompt": "login consent" if signing else "login",
    }
    if signing:
        scopes.append(SIGN_SCOPE)
        extra[SIGN_REQUEST_PARAM] = sign_request_jwt(provider, meta, sign_text, locale, int(time.time()))
    if required_personal_number and meta.get("claims_parameter_supported"):
        # Ask the provider to refuse anyone else before the user even sees the text.
        extra["claims"] = json.dumps(
            {"id_token": {provider.personal_number_claim: {"essential": True, "value": required_personal_number}}}
        )
    url = prepare_grant_uri(
        meta["authorization_endpoint"],
        client_id=provider.client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=" ".join(dict.fromkeys(scopes)),
        state=state,
        **extra,
    )
    return AuthorizationRequest(url, state, nonce, code_verifier, signing)


# --- the callback: code → tokens → verified identity ----------------------------------------


def _token_request(
    provider: Provider, meta: Mapping[str, Any], http: httpx.Client, code: str, code_verifier: str, redirect_uri: str
) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    headers = {"Accept": "application/json"}
    if "client_secret_basic" in methods:
        # RFC 6749 2.3.1: the id and secret are form-encoded before they go into Basic.
        basic = f"{quote(provider.client_id, safe='')}:{quote(provider.client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    else:
        form.update(client_id=provider.client_id, client_secret=provider.client_secret)
    try:
        response = http.post(meta["token_endpoint"], data=form, headers=headers)
    except httpx.HTTPError as exc:
        raise OidcError("provider_unreachable", f"token endpoint: {type(exc).__name__}") from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        error = data.get("error") if isinstance(data, dict) else None
        raise OidcError("token_error", f"token endpoint answered HTTP {response.status_code} {error or ''}".strip())
    if not isinstance(data.get("id_token"), str):
        raise OidcError("token_error", "token answer without id_token")
    return data


def verify_id_token(
    provider: Provider, meta: Mapping[str, Any], http: httpx.Client, id_token: str, nonce: str
) -> dict[str, Any]:
    offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in offered if alg in ALLOWED_ALGS] or ["RS256"]
    try:
        try:
            token = jwt.decode(id_token, _jwks(dict(meta), http), algorithms=algorithms)
        except (JoseError, ValueError):
            # The provider may have rotated its keys since we cached them: fetch once more.
            token = jwt.decode(id_token, _jwks(dict(meta), http, refresh=True), algorithms=algorithms)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise OidcError("invalid_id_token", f"{type(exc).__name__}: {exc}") from exc
    claims = dict(token.claims)
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != provider.client_id:
        raise OidcError("invalid_id_token", "several audiences and azp is not this client")
    return claims


def _userinfo(meta: Mapping[str, Any], http: httpx.Client, access_token: str, subject: str) -> dict[str, Any]:
    endpoint = meta.get("userinfo_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return {}
    try:
        data = _get_json(http, endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"})
    except OidcError:
        return {}
    # OIDC Core 5.3.2: a userinfo answer about someone else must not be used.
    return data if data.get("sub") == subject else {}


def complete(
    provider: Provider,
    http: httpx.Client,
    *,
    code: str,
    code_verifier: str,
    nonce: str,
    redirect_uri: str,
) -> OidcIdentity:
    meta = metadata(provider, http)
    tokens = _token_request(provider, meta, http, code, code_verifier, redirect_uri)
    raw = tokens["id_token"]
    claims = verify_id_token(provider, meta, http, raw, nonce)
    pn_claim = provider.personal_number_claim
    merged = dict(claims)
    if claims.get(pn_claim) is None or claims.get("name") is None:
        access_token = tokens.get("access_token")
        if isinstance(access_token, str):
            for key, value in _userinfo(meta, http, access_token, str(claims["sub"])).items():
                merged.setdefault(key, value)

    def text(name: str) -> str | None:
        value = merged.get(name)
        return str(value) if isinstance(value, str | int) and str(value).strip() else None

    auth_time = claims.get("auth_time")
    amr = claims.get("amr")
    return OidcIdentity(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        id_token=raw,
        claims=merged,
        personal_number_raw=text(pn_claim),
        name=text("name"),
        given_name=text("given_name"),
        family_name=text("family_name"),
        # The signature extension delivers it in the id_token only (never from userinfo).
        user_signature=claims.get(USER_SIGNATURE_CLAIM) if isinstance(claims.get(USER_SIGNATURE_CLAIM), str) else None,
        auth_time=auth_time if isinstance(auth_time, int) else None,
        acr=claims.get("acr") if isinstance(claims.get("acr"), str) else None,
        amr=amr if isinstance(amr, list) else None,
    )


def http_client() -> httpx.Client:
    return httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
