"""Webhooks: telling the DAM that a consent was given, withdrawn, revoked, or has expired.

A transactional outbox. Every audited consent event reaches :func:`on_audit_event`
inside the transaction that changes the consent; it writes one ``pending``
delivery per subscribed webhook there, so an event and its announcement are
committed together (or not at all). Sending happens only after the commit
(:mod:`consent.webhook_sending`). ``consent.expired`` has no state change to
hang on, so :func:`notify_expired` (Celery beat, ``consent.tasks``) records it once per consent.

Bodies carry ids only, never names or personal numbers. Each request is signed
like Stripe's: ``Samtycke-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
Delivery is at least once: receivers deduplicate on ``Samtycke-Delivery``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.audit import AuditEvent
from app.crypto import Keyring
from app.db import new_id
from app.errors import Conflict, NotFound, Unprocessable
from consent import consents
from consent.ids import is_plain_id
from consent.models import Addendum, Consent
from consent.webhook_models import Webhook, WebhookDelivery, WebhookExpiryMark
from consent.webhook_sending import is_public_address, schedule_after_commit, unbracketed_ipv6

log = logging.getLogger(__name__)

EVENTS = (
    "consent.given",
    "consent.refused",
    "consent.withdrawn",
    "consent.revoked",
    "consent.expired",
    "person.erased",
    "addendum.signed",
    "addendum.revoked",
)
MAX_WEBHOOKS = 10
MAX_URL_LENGTH = 2000


# --- URLs -----------------------------------------------------------------------


def _is_local_name(host: str) -> bool:
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def check_url(url: str, *, production: bool) -> str:
    """The URL as given when it may receive webhooks; else 422 naming the rule it breaks."""

    def refuse(message: str) -> Unprocessable:
        return Unprocessable(message, errors={"url": [message]})

    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"At most {MAX_URL_LENGTH} characters.")
    parts = urlsplit(url)
    allowed = ("https",) if production else ("http", "https")
    if parts.scheme not in allowed:
        raise refuse("The URL must use https." if production else "The URL must use http or https.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise refuse("The URL must not contain credentials; authenticate by checking the signature.")
    if parts.fragment:
        raise refuse("The URL must not have a fragment.")
    if unbracketed_ipv6(parts.netloc):
        raise refuse("An IPv6 address in a URL must be in brackets, e.g. https://[2001:db8::1]/hooks.")
    host = parts.hostname
    if not host:
        raise refuse("The URL has no host.")
    try:
        parts.port  # noqa: B018 - raises for an out-of-range port
        host.encode("idna")
    except (ValueError, UnicodeError):
        raise refuse("The URL's host or port is not valid.") from None
    if production:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if _is_local_name(host) or (literal is not None and not is_public_address(str(literal))):
            raise refuse("The URL must point to a public address.")
    return url


# --- subscriptions ------------------------------------------------------------


def create_webhook(
    session: Session,
    keyring: Keyring,
    tenant_id: str,
    actor: str,
    *,
    url: str,
    events: Iterable[str],
    description: str | None = None,
    production: bool,
) -> tuple[Webhook, str]:
    """Subscribe an endpoint; returns the webhook and its signing secret (shown only now)."""
    url = check_url(url, production=production)
    requested = set(events)
    chosen = [e for e in EVENTS if e in requested]  # canonical order, no duplicates
    unknown = sorted(requested - set(EVENTS))
    if unknown or not chosen:
        message = f"Unknown events: {', '.join(unknown)}." if unknown else "Choose at least one event."
        raise Unprocessable(message, errors={"events": [message]})
    # The tenant lock also keeps two concurrent requests from both passing the limit.
    audit.lock_tenant(session, tenant_id)
    existing = session.scalar(sa.select(sa.func.count()).select_from(Webhook).where(Webhook.tenant_id == tenant_id))
    if (existing or 0) >= MAX_WEBHOOKS:
        raise Conflict(f"A tenant has at most {MAX_WEBHOOKS} webhooks; delete one first.")
    secret = "whsec_" + secrets.token_urlsafe(32)
    hook = Webhook(
        tenant_id=tenant_id,
        url=url,
        events=chosen,
        description=description,
        secret_encrypted=keyring.encrypt(secret, context=tenant_id),
        created_by=actor,
    )
    session.add(hook)
    session.flush()
    audit.append(session, tenant_id, "webhook.created", actor, {"webhook_id": hook.id})
    return hook, secret


def list_webhooks(session: Session, tenant_id: str) -> list[Webhook]:
    return list(
        session.scalars(
            sa.select(Webhook).where(Webhook.tenant_id == tenant_id).order_by(Webhook.created_at, Webhook.id)
        )
    )


def get_webhook(session: Session, tenant_id: str, webhook_id: str) -> Webhook:
    hook = None
    if is_plain_id(webhook_id):
        hook = session.scalar(sa.select(Webhook).where(Webhook.id == webhook_id, Webhook.tenant_id == tenant_id))
    if hook is None:
        raise NotFound(f"No webhook with id {webhook_id}.")
    return hook


def delete_webhook(session: Session, tenant_id: str, actor: str, webhook_id: str) -> None:
    """Unsubscribe; its deliveries, sent or not, go with it."""
    audit.lock_tenant(session, tenant_id)
    hook = get_webhook(session, tenant_id, webhook_id)
    session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id))
    session.delete(hook)
    session.flush()
    audit.append(session, tenant_id, "webhook.deleted", actor, {"webhook_id": webhook_id})


def list_deliveries(session: Session, tenant_id: str, webhook_id: str, *, limit: int = 50) -> list[WebhookDelivery]:
    hook = get_webhook(session, tenant_id, webhook_id)
    return list(
        session.scalars(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.webhook_id == hook.id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
        )
    )


def redeliver(
    session: Session, tenant_id: str, actor: str, webhook_id: str, delivery_id: str, *, now: datetime
) -> WebhookDelivery:
    """Queue one delivery again now (after the receiver was fixed): one more attempt."""
    audit.lock_tenant(session, tenant_id)
    hook = get_webhook(session, tenant_id, webhook_id)
    delivery = None
    if is_plain_id(delivery_id):
        delivery = session.scalar(
            sa.select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.webhook_id == hook.id,
                WebhookDelivery.tenant_id == tenant_id,
            )
        )
    if delivery is None:
        raise NotFound(f"No delivery with id {delivery_id} for this webhook.")
    delivery.status = "pending"
    delivery.next_attempt_at = now
    session.flush()
    audit.append(session, tenant_id, "webhook.redelivery", actor, {"webhook_id": hook.id, "delivery_id": delivery.id})
    schedule_after_commit(session, [delivery.id])
    return delivery


# --- the outbox -----------------------------------------------------------------

_STATUS = {
    "consent.given": "given",
    "consent.refused": "refused",
    "consent.withdrawn": "withdrawn",
    "consent.revoked": "revoked",
    "consent.expired": "expired",
    "person.erased": "erased",
    "addendum.signed": "signed",
    "addendum.revoked": "revoked",
}


def _event_data(session: Session, event: AuditEvent) -> dict[str, Any] | None:
    """Ids and statuses only: what the DAM needs to re-ask about usage rights."""
    status = _STATUS[event.type]
    if event.type == "person.erased":
        return {
            "consent_id": None, "person_id": event.refs.get("person_id"),
            "asset_ids": None, "purposes": None, "status": status,
        }
    if event.type.startswith("addendum."):
        addendum = session.get(Addendum, event.refs.get("addendum_id"))
        if addendum is None or addendum.tenant_id != event.tenant_id:
            return None
        return {"addendum_id": addendum.id, "kind": addendum.kind, "status": status}
    consent = session.get(Consent, event.refs.get("consent_id"))
    if consent is None or consent.tenant_id != event.tenant_id:
        return None
    return {
        "consent_id": consent.id,
        "person_id": consent.person_id,
        "asset_ids": list(consent.asset_ids) if consent.asset_ids is not None else None,
        "purposes": list(consent.purposes or []),
        "status": status,
    }


def on_audit_event(event: AuditEvent, *, session: Session) -> None:
    """Audit listener: one pending delivery per webhook subscribed to this event, in this transaction."""
    if event.type not in _STATUS:
        return
    hooks = [
        h for h in session.scalars(sa.select(Webhook).where(Webhook.tenant_id == event.tenant_id))
        if event.type in (h.events or [])
    ]
    if not hooks:
        return
    data = _event_data(session, event)
    if data is None:
        log.error("audit event %s (seq %s) names no object of its tenant; no webhook queued", event.type, event.seq)
        return
    ids: list[str] = []
    for hook in hooks:
        delivery_id = new_id()
        body = {
            "id": delivery_id,
            "type": event.type,
            "occurred_at": event.at.astimezone(UTC).isoformat(),
            "tenant_id": event.tenant_id,
            "data": data,
        }
        session.add(
            WebhookDelivery(
                id=delivery_id,
                tenant_id=event.tenant_id,
                webhook_id=hook.id,
                event_type=event.type,
                audit_event_id=event.id,
                payload=json.dumps(body, separators=(",", ":")),
                next_attempt_at=event.at,
            )
        )
        ids.append(delivery_id)
    session.flush()
    schedule_after_commit(session, ids)


# --- expiry ---------------------------------------------------------------------


def notify_expired(session: Session, actor: str, *, now: datetime, limit: int = 500) -> int:
    """Announce given consents whose validity has ended, each once: a mark row and a
    ``consent.expired`` audit event (which queues the webhooks) in this transaction."""
    marked = sa.select(WebhookExpiryMark.consent_id)
    rows = session.execute(
        sa.select(Consent.id, Consent.tenant_id, Consent.person_id, Consent.valid_until)
        .where(consents.expired_sql(now), Consent.id.not_in(marked))
        .order_by(Consent.tenant_id, Consent.valid_until, Consent.id)
        .limit(limit)
    ).all()
    by_tenant: dict[str, list[Any]] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant_id, []).append(row)
    count = 0
    for tenant_id, tenant_rows in by_tenant.items():
        # Serialise with a concurrent run (and the audit chain) on the tenant row, then look again;
        # tenants in ascending id order, as the rows are sorted.
        audit.lock_tenant(session, tenant_id)
        ids = [r.id for r in tenant_rows]
        already = set(
            session.scalars(sa.select(WebhookExpiryMark.consent_id).where(WebhookExpiryMark.consent_id.in_(ids)))
        )
        for row in tenant_rows:
            if row.id in already:
                continue
            session.add(WebhookExpiryMark(consent_id=row.id, tenant_id=tenant_id, valid_until=row.valid_until,
                                          marked_at=now))
            session.flush()
            refs = {"consent_id": row.id, "person_id": row.person_id}
            audit.append(session, tenant_id, "consent.expired", actor, refs)
            count += 1
    return count
