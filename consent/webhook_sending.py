"""Sending webhook deliveries: claim a due row, POST it signed, record the outcome.

Runs outside any request transaction: on a Celery worker (``consent.tasks``), whose
message is sent after the commit (so the committing request never waits on a
receiver) and re-sent by the periodic sweep for rows nobody picked up; and from
``samtycke webhooks deliver`` for whatever is due. A claim moves the row's
``next_attempt_at`` forward by a lease, so two senders never post the same
attempt and a sender that died mid-flight is retried once the lease ends.
Failures back off 1 min, 5 min, 30 min, 2 h, 12 h; one more failure is final.

In production the receiver's host is resolved once, every address must be
public, and the connection goes to exactly that address (SSRF and DNS-rebinding
guard); elsewhere any address is allowed (tests use a local receiver).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import sqlalchemy as sa
from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, sessionmaker

from app import jobs
from app.crypto import Keyring, keyring_of
from app.db import transaction, utcnow
from consent.webhook_models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, ... failed attempt; one more failure after the last is final.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
TIMEOUT_SECONDS = 5.0
# A claimed delivery is not due again for this long, so a sender that died mid-flight is retried.
LEASE = timedelta(minutes=2)
SENDER_THREADS = 4
DELIVER_TASK = "consent.deliver_webhook"
USER_AGENT = "Samtycke-Webhooks/1"


# --- URLs and addresses -------------------------------------------------------


# NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# The IANA special-purpose address registries' entries that are not globally reachable (as of
# 2025), and site-local fec0::/10 (deprecated by RFC 3879, still routed by old stacks).
# ``is_global`` knows most of them, but which depends on the Python release (3.11 before
# 3.11.10 takes fec0::/10, 192.0.0.8 or 3fff::/20 for global): this list makes the rule the
# same on every Python the service runs on. Embedded IPv4 forms (mapped, 6to4, Teredo, NAT64)
# are judged by the IPv4 address inside them instead (:func:`_embedded_ipv4`).
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        # IETF protocol assignments, whole (the two anycast exceptions are no webhook receivers)
        "192.0.0.0/24",
        "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::/8",  # unspecified, loopback, IPv4-compatible and the rest of the reserved block
        "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64",
        "2001::/23",  # IETF protocol assignments, whole (Teredo is judged by what it embeds)
        "2001:db8::/32", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to when it is a translation or tunnel form:
    IPv4-mapped, 6to4 (2002::/16), Teredo (2001::/32: server and de-obfuscated client) and
    NAT64 (64:ff9b::/96). Traffic to such an address ends up at the IPv4 address inside."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Unallocated space (IPv6 outside 2000::/3, IPv4 240/4) is "global" to the standard library.
    return (
        ip.is_global
        and not ip.is_reserved
        and not any(ip.version == net.version and ip in net for net in _NOT_GLOBAL)
    )


def is_public_address(address: str) -> bool:
    """May a webhook in production reach this IP address? Only a globally reachable one:
    ``ipaddress``'s ``is_global`` and not in any range of :data:`_NOT_GLOBAL` (loopback, private,
    link- and site-local, shared, documentation, benchmarking, multicast, reserved, ...). An IPv6
    address that embeds an IPv4 address (mapped, 6to4, Teredo, NAT64) is judged by every IPv4
    address inside it. IPv4-compatible ``::a.b.c.d`` and the local-use NAT64 prefix
    ``64:ff9b:1::/48`` are always refused."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            return all(_is_public(v4) for v4 in embedded)
    return _is_public(ip)


def unbracketed_ipv6(netloc: str) -> bool:
    """Is the host of this URL authority an IPv6 literal written without brackets (``::1``,
    ``2001:db8::1:443``)? Such a host has no single reading: RFC 3986 requires ``[…]``."""
    host_port = netloc.rpartition("@")[2]
    return host_port.count(":") > 1 and not host_port.startswith("[")


class UnsafeTarget(Exception):
    """The receiver's host resolves to an address webhooks must not reach."""


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]


def pin_public_target(url: str) -> Target:
    """Resolve the host once, refuse non-public addresses, and connect to exactly that address
    (Host header and TLS SNI keep the name), so DNS cannot rebind between check and connect."""
    parts = urlsplit(url)
    if unbracketed_ipv6(parts.netloc):
        raise UnsafeTarget("refused: an IPv6 address in a URL must be in brackets")
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        ascii_host = host.encode("idna").decode() if host else ""
    except (ValueError, UnicodeError):
        raise UnsafeTarget("refused: the URL's host or port is not valid") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"cannot resolve the host: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise UnsafeTarget("refused: the host resolves to a non-public address")
    ip = addresses[0]
    netloc = f"[{ip}]" if ":" in ip else ip
    if parts.port:
        netloc += f":{parts.port}"
    literal = _is_ip_literal(host)
    # An IPv6 literal goes into Host in brackets (RFC 9110), and no IP literal is sent as SNI (RFC 6066).
    shown = f"[{host}]" if literal and ":" in host else ascii_host
    host_header = shown + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": ascii_host} if parts.scheme == "https" and not literal else {}
    return Target(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), {"Host": host_header}, extensions)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


# --- sending --------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    """What sending needs, taken from the app so it runs in any thread without a Flask context."""

    sessions: sessionmaker[Session]
    keyring: Keyring
    production: bool

    @classmethod
    def from_app(cls, app: Flask) -> Sender:
        return cls(
            app.extensions["samtycke.sessionmaker"],
            keyring_of(app),
            app.config.get("ENV") == "production",
        )


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    status: str  # delivered | pending | failed | skipped (not due, or claimed elsewhere)
    status_code: int | None = None
    error: str | None = None


def signature_header(secret: str, body: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _post(url: str, body: str, headers: dict[str, str], *, production: bool) -> tuple[int | None, str | None]:
    """POST once; (status code, error or None). Never raises, never follows redirects,
    never reads the receiver's body."""
    try:
        target = pin_public_target(url) if production else Target(url, {}, {})
    except UnsafeTarget as exc:
        return None, str(exc)
    try:
        with (
            httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client,
            client.stream(
                "POST", target.url, content=body.encode(), headers={**headers, **target.headers},
                extensions=target.extensions,
            ) as response,
        ):
            code = response.status_code
    except httpx.TimeoutException:
        return None, f"timed out after {TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # refused, reset, bad TLS, invalid URL: all just a failed attempt
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= code < 300:
        return code, None
    return code, f"HTTP {code}"


def attempt(sender: Sender, delivery_id: str, *, now: datetime | None = None) -> Attempt:
    """Claim one due delivery, send it outside any transaction, record the outcome."""
    started = now or utcnow()
    with transaction(sender.sessions) as session:
        claimed = session.execute(
            sa.update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= started,
            )
            .values(next_attempt_at=started + LEASE)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return Attempt(delivery_id, "skipped")
        row = session.execute(
            sa.select(WebhookDelivery.payload, WebhookDelivery.event_type, Webhook.url, Webhook.secret_encrypted,
                      Webhook.tenant_id)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id == delivery_id)
        ).one()
    body, event_type, url, secret_encrypted, tenant_id = row
    try:
        secret: str | None = sender.keyring.decrypt(secret_encrypted, context=tenant_id)
    except Exception:  # a rotated data key: record it, do not crash the queue
        secret = None
    code: int | None = None
    error: str | None = "the signing secret cannot be decrypted"
    if secret is not None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Samtycke-Event": event_type,
            "Samtycke-Delivery": delivery_id,
            "Samtycke-Signature": signature_header(secret, body, int(time.time())),
        }
        code, error = _post(url, body, headers, production=sender.production)
    finished = now or utcnow()
    with transaction(sender.sessions) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:  # the webhook was deleted meanwhile
            return Attempt(delivery_id, "skipped", code, error)
        delivery.attempts += 1
        delivery.last_attempt_at = finished
        delivery.last_status_code = code
        delivery.last_error = error
        if error is None:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", finished, None
        elif delivery.attempts > len(BACKOFF):
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.next_attempt_at = finished + BACKOFF[delivery.attempts - 1]
        status = delivery.status
    log.info("webhook delivery %s: %s (%s)", delivery_id, status, error or code)
    return Attempt(delivery_id, status, code, error)


def due_deliveries(session: Session, *, now: datetime, limit: int = 1000) -> list[str]:
    return list(
        session.scalars(
            sa.select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
    )


def deliver_due(sender: Sender, *, now: datetime | None = None, limit: int = 1000) -> list[Attempt]:
    """Send every pending delivery that is due, a few at a time (`samtycke webhooks deliver`)."""
    at = now or utcnow()
    with transaction(sender.sessions) as session:
        ids = due_deliveries(session, now=at, limit=limit)
    if not ids:
        return []

    def one(delivery_id: str) -> Attempt:
        try:
            return attempt(sender, delivery_id, now=now)
        except Exception as exc:  # e.g. the database went away; the row stays pending for the next run
            log.exception("webhook delivery %s could not be attempted", delivery_id)
            return Attempt(delivery_id, "pending", None, type(exc).__name__)

    with ThreadPoolExecutor(max_workers=min(SENDER_THREADS, len(ids)), thread_name_prefix="webhooks") as pool:
        return list(pool.map(one, ids))


def schedule_after_commit(session: Session, delivery_ids: list[str]) -> None:
    """Send each delivery from a worker once ``session`` has committed it (``app.jobs``)."""
    for delivery_id in delivery_ids:
        jobs.enqueue(session, DELIVER_TASK, delivery_id)


def due_for_sweep(session: Session, *, now: datetime, grace: timedelta, renudge: timedelta,
                  limit: int = 1000) -> list[str]:
    """Pending deliveries due for a while (their message was lost, or their back-off is over) that
    the sweep has not nudged lately."""
    return list(
        session.scalars(
            sa.select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now - grace,
                sa.or_(WebhookDelivery.nudged_at.is_(None), WebhookDelivery.nudged_at <= now - renudge),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
    )


def retry_failed(session: Session, *, tenant_id: str | None, now: datetime) -> list[str]:
    """Deliveries that failed for good, due again now: one more attempt each (console and CLI)."""
    where = [WebhookDelivery.tenant_id == tenant_id] if tenant_id else []
    ids = list(session.scalars(sa.select(WebhookDelivery.id).where(WebhookDelivery.status == "failed", *where)))
    if ids:
        session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == "failed")
            .values(status="pending", next_attempt_at=now, nudged_at=now)
            .execution_options(synchronize_session=False)
        )
        schedule_after_commit(session, ids)
    return ids


def queue_status(session: Session, *, tenant_id: str | None, now: datetime) -> list[jobs.QueueStatus]:
    """Receiver of ``app.signals.job_queues``: deliveries waiting to go out, and failed for good."""
    where = [WebhookDelivery.tenant_id == tenant_id] if tenant_id else []
    pending, oldest, retrying = session.execute(
        sa.select(
            sa.func.count(), sa.func.min(WebhookDelivery.created_at),
            sa.func.count(sa.case((WebhookDelivery.attempts > 0, 1))),
        ).where(WebhookDelivery.status == "pending", *where)
    ).one()
    failed = session.scalar(
        sa.select(sa.func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "failed", *where)
    )
    return [
        jobs.QueueStatus(
            kind="webhook_deliveries", label=_l("Webhook deliveries"), pending=int(pending),
            failed=int(failed or 0), retrying=int(retrying),
            oldest_pending_seconds=(now - oldest).total_seconds() if oldest is not None else None,
        )
    ]
