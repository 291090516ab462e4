"""The plain data of one record, gathered from the database for rendering (no ORM objects
leave here): the consent or addendum, its tenant, signers and purposes, and the evidence
as ``evidence.json`` carries it."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit import AuditEvent
from app.crypto import Keyring
from app.models import Tenant
from consent import evidence
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
        subject=SubjectInfo(
            name=person.name or "—", personal_number_masked=person.pn_masked, personal_number_country=person.country
        ),
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
