"""Records: queued in the transaction that changes a consent, produced after it commits.

A consent event (given, refused, withdrawn, revoked; addendum signed or revoked)
appends an audit event; the listener below adds a *pending* record row in that
same transaction, so a signature and its record-to-be are committed together.
Rendering and sealing run after the commit; a failure leaves the consent as it
is and the record ``failed`` with its reason, for ``samtycke records retry``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from app.audit import AuditEvent
from app.crypto import Keyring
from app.db import after_commit, transaction, utcnow
from app.models import Tenant
from consent import evidence
from consent.gdpr import PersonScope
from consent.models import Addendum, Consent, ConsentTemplate, Person, Purpose, Signature
from reports.context import (
    PurposeInfo,
    RecordContext,
    SignerInfo,
    SubjectInfo,
    TemplateInfo,
    TenantInfo,
)
from reports.errors import RecordError
from reports.models import Record

log = logging.getLogger(__name__)

EVENT_KINDS = {
    "consent.given": "consent_given",
    "consent.refused": "consent_refused",
    "consent.withdrawn": "consent_withdrawn",
    "consent.revoked": "consent_revoked",
    "addendum.signed": "addendum_signed",
    "addendum.revoked": "addendum_revoked",
}


# --- queueing ----------------------------------------------------------------


def on_audit_event(event: AuditEvent, *, session: Session) -> None:
    kind = EVENT_KINDS.get(event.type)
    if kind is None:
        return
    is_addendum = kind.startswith("addendum_")
    object_id = event.refs.get("addendum_id" if is_addendum else "consent_id")
    if not object_id:
        log.error("audit event %s carries no object id; no record queued", event.type)
        return
    record = Record(
        tenant_id=event.tenant_id,
        kind=kind,
        consent_id=None if is_addendum else object_id,
        addendum_id=object_id if is_addendum else None,
        audit_event_id=event.id,
        audit_event_hash=event.hash,
    )
    session.add(record)
    session.flush()
    _produce_after_commit(session, [record.id])


def _produce_after_commit(session: Session, record_ids: list[str]) -> None:
    if record_ids and has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        after_commit(session, lambda: [produce(app, record_id) for record_id in record_ids])


# --- a person's records: their part of the export and of the erasure (``consent.gdpr``) --------


def _records_naming(session: Session, scope: PersonScope) -> list[Record]:
    consent_ids = [*scope.consent_ids, *scope.signed_for]
    if not consent_ids:
        return []
    return list(
        session.scalars(
            sa.select(Record)
            .where(Record.tenant_id == scope.tenant_id, Record.consent_id.in_(consent_ids))
            .order_by(Record.created_at, Record.id)
        )
    )


def sealed_ids(session: Session, *, tenant_id: str, ids: list[str], column: str) -> set[str]:
    """Which of these consents (or addenda, ``column="addendum_id"``) have a sealed record
    (receiver of ``consent.signals.sealed_records``)."""
    target = Record.consent_id if column == "consent_id" else Record.addendum_id
    query = sa.select(target).where(
        Record.tenant_id == tenant_id, target.in_(ids), Record.status == "sealed"
    ).distinct()
    return {str(found) for found in session.scalars(query)}


def export_records(session: Session, *, scope: PersonScope) -> dict[str, Any]:
    """The records that name the person: of their consents, and of those they signed for someone else."""
    return {
        "records": [
            {
                "id": r.id, "kind": r.kind, "consent_id": r.consent_id, "status": r.status,
                "created_at": r.created_at.isoformat(), "sealed_at": r.sealed_at.isoformat() if r.sealed_at else None,
                "sha256": r.sha256,
            }
            for r in _records_naming(session, scope)
        ]
    }


def erase_records(session: Session, *, scope: PersonScope, now: datetime) -> None:
    """The records of the person's own consents go. Those of a consent the person signed for someone
    else stay the other person's record: they are made again from the erased signature, without the
    person's name, number or evidence."""
    own = set(scope.consent_ids)
    records = _records_naming(session, scope)
    for record in records:
        if record.consent_id in own:
            session.delete(record)
        else:
            record.pdf = record.sha256 = record.size = record.pades_level = record.sealed_at = None
            record.status = "pending"
            record.failure_reason = None
    session.flush()
    _produce_after_commit(session, [r.id for r in records if r.consent_id not in own])


# --- the plain data of one record -------------------------------------------


def _signer_info(keyring: Keyring, sig: Signature) -> SignerInfo:
    ev = sig.evidence or {}
    device = ev.get("device") if isinstance(ev.get("device"), dict) else {}
    ip = (device or {}).get("ipAddress") or ev.get("end_user_ip")
    return SignerInfo(
        role=sig.role,
        method=sig.method,  # type: ignore[arg-type]
        name=sig.signer_name or "—",
        signed_at=sig.signed_at,
        personal_number_masked=sig.pn_masked,
        device_ip_hmac=keyring.address_hash(sig.tenant_id, ip) if isinstance(ip, str) and ip else None,
        issuer=ev.get("issuer"),
        oidc_subject=ev.get("subject"),
        bankid_issue_date=ev.get("bankIdIssueDate"),
    )


def _evidence(keyring: Keyring, signatures: list[Signature]) -> dict[str, Any]:
    """The signatures as ``evidence.json`` carries them: digests, the masked number and its keyed
    hash instead of the raw provider evidence, which names the full number (``consent.evidence``)."""
    entries = []
    for s in signatures:
        raw = s.evidence or {}
        number = keyring.decrypt(s.pn_encrypted, context=s.tenant_id) if s.pn_encrypted else None
        numbers = evidence.numbers_in(raw) | ({number} if number else set())
        entries.append(
            {
                "signature_id": s.id,
                "role": s.role,
                "method": s.method,
                "signed_at": s.signed_at.isoformat(),
                "purposes": list(s.purposes or []),
                "visible_text_sha256": s.visible_sha256,
                "personal_number_masked": s.pn_masked,
                "personal_number_hmac": keyring.evidence_hash(s.tenant_id, number) if number else None,
                "provider_evidence": evidence.sealed_form(
                    raw,
                    numbers=numbers,
                    keyed_hash=functools.partial(keyring.evidence_hash, s.tenant_id),
                    address_hash=functools.partial(keyring.address_hash, s.tenant_id),
                ),
                "provider_evidence_sha256": None if evidence.is_erased(raw) else evidence.digest(raw),
            }
        )
    return {"signatures": entries}


def build_context(session: Session, keyring: Keyring, record: Record, base_url: str) -> RecordContext:
    tenant = session.get(Tenant, record.tenant_id)
    assert tenant is not None
    verify_url = f"{base_url}/verify"
    event = session.get(AuditEvent, record.audit_event_id)
    status_at = event.at if event is not None else record.created_at
    if record.addendum_id:
        return _addendum_context(session, keyring, record, tenant, verify_url, status_at)
    consent = session.get(Consent, record.consent_id)
    if consent is None or consent.tenant_id != record.tenant_id:
        raise RecordError(f"consent {record.consent_id} is gone")
    person = session.get(Person, consent.person_id)
    template = session.get(ConsentTemplate, consent.template_id)
    assert template is not None and person is not None
    locale = consent.locale if consent.locale in template.body else next(iter(template.body))
    text = f"{template.title[locale]}\n\n{template.body[locale]}"
    signatures = list(
        session.scalars(
            sa.select(Signature)
            .where(Signature.tenant_id == consent.tenant_id, Signature.consent_id == consent.id)
            .order_by(Signature.signed_at)
        )
    )
    keys = list(consent.purposes or consent.requested_purposes or [])
    labels = {
        p.key: p.label
        for p in session.scalars(
            sa.select(Purpose).where(Purpose.tenant_id == consent.tenant_id, Purpose.key.in_(keys))
        )
    }
    visible = (
        hashlib.sha256("\n".join(s.visible_sha256 for s in signatures).encode()).hexdigest()
        if len(signatures) > 1
        else (signatures[0].visible_sha256 if signatures else consent.text_sha256)
    )
    reason = (
        consent.withdraw_reason
        if record.kind == "consent_withdrawn"
        else (consent.revoke_reason if record.kind == "consent_revoked" else None)
    )
    return RecordContext(
        kind=record.kind,  # type: ignore[arg-type]
        locale=locale,  # type: ignore[arg-type]
        record_id=record.id,
        tenant=TenantInfo(id=tenant.id, name=tenant.name),
        subject=SubjectInfo(name=person.name or "—", personal_number_masked=person.pn_masked),
        signers=[_signer_info(keyring, s) for s in signatures],
        text_markdown=text,
        template=TemplateInfo(
            key=consent.template_key, version=consent.template_version, text_sha256=consent.text_sha256
        ),
        visible_text_sha256=visible,
        purposes=[PurposeInfo(key=k, label=str((labels.get(k) or {}).get(locale) or k)) for k in keys],
        asset_ids=list(consent.asset_ids) if consent.asset_ids is not None else None,
        valid_from=consent.valid_from,
        valid_until=consent.valid_until,
        audit_event_hash=record.audit_event_hash,
        verify_url=verify_url,
        created_at=record.created_at.replace(microsecond=0),  # PDF Info dates have whole seconds
        consent_id=consent.id,
        status_at=None if record.kind == "consent_given" else status_at,
        reason=reason,
        evidence=_evidence(keyring, signatures),
    )


def _addendum_context(
    session: Session, keyring: Keyring, record: Record, tenant: Tenant, verify_url: str, status_at: datetime
) -> RecordContext:
    from consent import addenda

    addendum = session.get(Addendum, record.addendum_id)
    if addendum is None or addendum.tenant_id != record.tenant_id:
        raise RecordError(f"addendum {record.addendum_id} is gone")
    shown = addenda.text(addendum.kind, addendum.locale)
    text = f"{shown.title}\n\n{shown.body}"  # exactly what was hashed and signed
    signatures = list(
        session.scalars(
            sa.select(Signature)
            .where(Signature.tenant_id == addendum.tenant_id, Signature.addendum_id == addendum.id)
            .order_by(Signature.signed_at)
        )
    )
    return RecordContext(
        kind=record.kind,  # type: ignore[arg-type]
        locale=addendum.locale,  # type: ignore[arg-type]
        record_id=record.id,
        tenant=TenantInfo(id=tenant.id, name=tenant.name),
        subject=None,
        signers=[_signer_info(keyring, s) for s in signatures],
        text_markdown=text,
        template=TemplateInfo(key=addendum.kind, version=addendum.version, text_sha256=addendum.text_sha256),
        visible_text_sha256=signatures[0].visible_sha256 if signatures else addendum.text_sha256,
        purposes=[],
        asset_ids=None,
        valid_from=addendum.signed_at,
        valid_until=None,
        audit_event_hash=record.audit_event_hash,
        verify_url=verify_url,
        created_at=record.created_at.replace(microsecond=0),  # PDF Info dates have whole seconds
        addendum_id=addendum.id,
        status_at=None if record.kind == "addendum_signed" else status_at,
        evidence=_evidence(keyring, signatures),
    )


# --- producing ---------------------------------------------------------------


def sealer(app: Flask) -> Any:
    """One sealer per process (it caches the parsed key)."""
    cached = app.extensions.get("samtycke.sealer")
    if cached is None:
        from pathlib import Path

        from reports.pki import ensure_local_pki
        from reports.seal import Sealer

        if app.config.get("SEAL_PKCS12"):
            cached = Sealer.from_pkcs12(
                Path(app.config["SEAL_PKCS12"]), app.config.get("SEAL_PKCS12_PASSWORD"), app.config["TSA_URL"]
            )
        else:
            pki = ensure_local_pki(Path(app.instance_path) / "pki", app.config["BASE_URL"])
            cached = Sealer.from_local_pki(pki)
        app.extensions["samtycke.sealer"] = cached
    return cached


def trust_roots(app: Flask) -> list[Any]:
    cached = app.extensions.get("samtycke.trust_roots")
    if cached is None:
        from pathlib import Path

        from cryptography.hazmat.primitives.serialization import pkcs12

        if app.config.get("SEAL_PKCS12"):
            password = app.config.get("SEAL_PKCS12_PASSWORD")
            _key, cert, chain = pkcs12.load_key_and_certificates(
                Path(app.config["SEAL_PKCS12"]).read_bytes(), password.encode() if password else None
            )
            cached = list(chain or []) or [cert]
        else:
            from reports.pki import ensure_local_pki

            cached = ensure_local_pki(Path(app.instance_path) / "pki", app.config["BASE_URL"]).trust_roots
        app.extensions["samtycke.trust_roots"] = cached
    return list(cached)


def seal_certificate(app: Flask) -> Any:
    """The seal certificate: audit checkpoints count only when signed with its subject."""
    cached = app.extensions.get("samtycke.seal_certificate")
    if cached is None:
        from pathlib import Path

        from cryptography.hazmat.primitives.serialization import pkcs12

        if app.config.get("SEAL_PKCS12"):
            password = app.config.get("SEAL_PKCS12_PASSWORD")
            _key, cached, _chain = pkcs12.load_key_and_certificates(
                Path(app.config["SEAL_PKCS12"]).read_bytes(), password.encode() if password else None
            )
        else:
            from reports.pki import ensure_local_pki

            cached = ensure_local_pki(Path(app.instance_path) / "pki", app.config["BASE_URL"]).seal_cert
        app.extensions["samtycke.seal_certificate"] = cached
    return cached


@dataclass(frozen=True)
class ProduceResult:
    record_id: str
    status: str
    reason: str | None = None


def produce(app: Flask, record_id: str) -> ProduceResult:
    """Render and seal one record in its own transactions; never raises for a render/seal failure."""
    from reports.render import render_pdf

    factory = app.extensions["samtycke.sessionmaker"]
    with app.app_context():
        with transaction(factory) as session:
            record = session.get(Record, record_id)
            if record is None or record.status == "sealed":
                return ProduceResult(record_id, record.status if record else "missing")
            try:
                ctx = build_context(session, app.extensions["samtycke.keyring"], record, app.config["BASE_URL"])
            except RecordError as exc:
                return _fail(factory, record_id, str(exc))
            except Exception as exc:  # a bug here must still leave the record visibly failed, not pending
                log.exception("record %s: building its data failed", record_id)
                return _fail(factory, record_id, f"{type(exc).__name__}: {exc}")
        try:
            the_sealer = sealer(app)
            pdf = render_pdf(ctx)
            reason = "Samtycke record" if not ctx.is_addendum else "Samtycke DPA addendum record"
            sealed = the_sealer.seal(pdf, reason=reason, location=ctx.tenant.name)
        except RecordError as exc:
            return _fail(factory, record_id, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug in rendering must not lose the queue entry either
            log.exception("record %s failed", record_id)
            return _fail(factory, record_id, f"{type(exc).__name__}: {exc}")
        with transaction(factory) as session:
            record = session.get(Record, record_id)
            if record is None:
                return ProduceResult(record_id, "missing")
            record.pdf = sealed
            record.sha256 = hashlib.sha256(sealed).hexdigest()
            record.size = len(sealed)
            record.pades_level = the_sealer.level
            record.status = "sealed"
            record.sealed_at = utcnow()
            record.failure_reason = None
            record.attempts += 1
            record.last_attempt_at = utcnow()
            tenant_id = record.tenant_id
        from reports.anchors import checkpoint_after_seal, remember_sealed

        remember_sealed(app, tenant_id, record_id, sealed, ctx.audit_event_hash)
        # A natural point to anchor the audit chain: the record just sealed holds its event's hash.
        checkpoint_after_seal(app, tenant_id)
    return ProduceResult(record_id, "sealed")


def _fail(factory: Any, record_id: str, reason: str) -> ProduceResult:
    log.warning("record %s failed: %s", record_id, reason)
    with transaction(factory) as session:
        record = session.get(Record, record_id)
        if record is not None:
            record.status = "failed"
            record.failure_reason = reason[:2000]
            record.attempts += 1
            record.last_attempt_at = utcnow()
    return ProduceResult(record_id, "failed", reason)


def retry(app: Flask, *, include_pending: bool = True, limit: int = 1000) -> list[ProduceResult]:
    statuses = ["failed", "pending"] if include_pending else ["failed"]
    with transaction(app.extensions["samtycke.sessionmaker"]) as session:
        ids = list(
            session.scalars(
                sa.select(Record.id).where(Record.status.in_(statuses)).order_by(Record.created_at).limit(limit)
            )
        )
    return [produce(app, record_id) for record_id in ids]


# --- reading -----------------------------------------------------------------


def latest_sealed(
    session: Session,
    tenant_id: str,
    *,
    consent_id: str | None = None,
    addendum_id: str | None = None,
    kind: str | None = None,
) -> Record | None:
    query = sa.select(Record).where(Record.tenant_id == tenant_id, Record.status == "sealed")
    if consent_id is not None:
        query = query.where(Record.consent_id == consent_id)
    if addendum_id is not None:
        query = query.where(Record.addendum_id == addendum_id)
    if kind is not None:
        query = query.where(Record.kind == kind)
    return session.scalar(query.order_by(Record.sealed_at.desc()).limit(1).options(sa.orm.undefer(Record.pdf)))


def records_of(
    session: Session, *, tenant_id: str, consent_ids: Sequence[str] = (), addendum_ids: Sequence[str] = ()
) -> list[Record]:
    """The records of these consents and addenda, oldest first: the answer to the consent pages'
    ``consent.console.records.records_listed`` (connected in ``create_app``)."""
    if not consent_ids and not addendum_ids:
        return []
    query = sa.select(Record).where(
        Record.tenant_id == tenant_id,
        sa.or_(Record.consent_id.in_(list(consent_ids)), Record.addendum_id.in_(list(addendum_ids))),
    )
    return list(session.scalars(query.order_by(Record.created_at)))


def failed_records(session: Session, tenant_id: str, limit: int = 100) -> list[Record]:
    return list(
        session.scalars(
            sa.select(Record)
            .where(Record.tenant_id == tenant_id, Record.status == "failed")
            .order_by(Record.created_at.desc())
            .limit(limit)
        )
    )
