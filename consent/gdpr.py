"""Data-subject rights: erasure (GDPR Art. 17) and access/portability export (Art. 15/20).

Erasure removes personal data but keeps the person row as a tombstone, its asset
links and its consents, so that an asset showing an erased person keeps answering
"no" (reason ``erased``). The audit chain holds only ids and hashes, so it stays
intact and verifiable.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.audit import AuditEvent
from app.crypto import Keyring
from app.db import utcnow
from consent.models import AssetLink, Consent, Person, PersonGuardian, Signature, Signer
from consent.persons import get_person, is_minor

ERASED_EVIDENCE = {"erased": True}


def erase_person(session: Session, tenant_id: str, person_id: str, actor: str) -> None:
    """Erase a person's personal data; 404 when unknown or already erased."""
    audit.lock_tenant(session, tenant_id)
    person = get_person(session, tenant_id, person_id)
    now = utcnow()
    consent_ids = sa.select(Consent.id).where(Consent.tenant_id == tenant_id, Consent.person_id == person.id)
    own_signer_ids = sa.select(Signer.id).where(Signer.tenant_id == tenant_id, Signer.person_id == person.id)

    # Signatures on the person's own consents and those the person gave as a guardian.
    session.execute(
        sa.update(Signature)
        .where(
            Signature.tenant_id == tenant_id,
            sa.or_(Signature.consent_id.in_(consent_ids), Signature.signer_id.in_(own_signer_ids)),
        )
        .values(signer_name=None, pn_encrypted=None, pn_masked=None, evidence=ERASED_EVIDENCE, visible_text="")
        .execution_options(synchronize_session=False)
    )
    # Open signing links about or for the person stop working: nothing new is collected.
    session.execute(
        sa.update(Signer)
        .where(
            Signer.tenant_id == tenant_id,
            Signer.status == "pending",
            Signer.expires_at > now,
            sa.or_(Signer.person_id == person.id, Signer.consent_id.in_(consent_ids)),
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.delete(PersonGuardian)
        .where(
            PersonGuardian.tenant_id == tenant_id,
            sa.or_(PersonGuardian.person_id == person.id, PersonGuardian.guardian_id == person.id),
        )
        .execution_options(synchronize_session=False)
    )
    person.name = None
    person.name_folded = None
    person.pn_encrypted = person.pn_index = person.pn_masked = None
    person.email = person.phone = person.external_ref = None
    person.birth_date = None
    person.erased_at = now
    person.updated_at = now
    session.flush()
    # Other persons' cached guardian lists may have named this one.
    session.expire_all()
    audit.append(session, tenant_id, "person.erased", actor, {"person_id": person_id})


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _person_refs(session: Session, tenant_id: str, ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = session.execute(
        sa.select(Person.id, Person.name).where(Person.tenant_id == tenant_id, Person.id.in_(ids))
    )
    names = {pid: name for pid, name in rows}
    return [{"id": pid, "name": names.get(pid)} for pid in ids]


def _signature(sig: Signature) -> dict[str, Any]:
    return {
        "id": sig.id,
        "consent_id": sig.consent_id,
        "method": sig.method,
        "role": sig.role,
        "signer_name": sig.signer_name,
        "signer_personal_number_masked": sig.pn_masked,
        "purposes": list(sig.purposes or []),
        "signed_at": _iso(sig.signed_at),
    }


def export_person(
    session: Session, keyring: Keyring, tenant_id: str, person_id: str, actor: str
) -> dict[str, Any]:
    """Everything held on one person, as plain JSON-ready values (Art. 15/20).

    The export itself is audited: who took a copy of whose data is worth knowing.
    """
    audit.lock_tenant(session, tenant_id)
    person = get_person(session, tenant_id, person_id)
    audit.append(session, tenant_id, "person.exported", actor, {"person_id": person.id})
    guardian_ids = list(
        session.scalars(
            sa.select(PersonGuardian.guardian_id)
            .where(PersonGuardian.tenant_id == tenant_id, PersonGuardian.person_id == person.id)
            .order_by(PersonGuardian.position)
        )
    )
    ward_ids = list(
        session.scalars(
            sa.select(PersonGuardian.person_id)
            .where(PersonGuardian.tenant_id == tenant_id, PersonGuardian.guardian_id == person.id)
            .order_by(PersonGuardian.person_id)
        )
    )
    links = session.scalars(
        sa.select(AssetLink)
        .where(AssetLink.tenant_id == tenant_id, AssetLink.person_id == person.id)
        .order_by(AssetLink.created_at, AssetLink.asset_id)
    ).all()
    consents = session.scalars(
        sa.select(Consent)
        .where(Consent.tenant_id == tenant_id, Consent.person_id == person.id)
        .order_by(Consent.created_at, Consent.id)
    ).all()
    consent_ids = [c.id for c in consents]
    signatures_by_consent: dict[str, list[dict[str, Any]]] = {cid: [] for cid in consent_ids}
    if consent_ids:
        for sig in session.scalars(
            sa.select(Signature)
            .where(Signature.tenant_id == tenant_id, Signature.consent_id.in_(consent_ids))
            .order_by(Signature.signed_at)
        ):
            signatures_by_consent[sig.consent_id or ""].append(_signature(sig))
    signer_ids = list(
        session.scalars(sa.select(Signer.id).where(Signer.tenant_id == tenant_id, Signer.person_id == person.id))
    )
    given_as_signer = (
        session.scalars(
            sa.select(Signature)
            .where(Signature.tenant_id == tenant_id, Signature.signer_id.in_(signer_ids))
            .order_by(Signature.signed_at)
        ).all()
        if signer_ids
        else []
    )

    personal_number = (
        keyring.decrypt(person.pn_encrypted, context=tenant_id) if person.pn_encrypted else None
    )
    return {
        "exported_at": utcnow().isoformat(),
        "person": {
            "id": person.id,
            "name": person.name,
            "personal_number": personal_number,
            "personal_number_masked": person.pn_masked,
            "birth_date": person.birth_date.isoformat() if isinstance(person.birth_date, date) else None,
            "is_minor": is_minor(person.birth_date),
            "email": person.email,
            "phone": person.phone,
            "external_ref": person.external_ref,
            "created_at": _iso(person.created_at),
            "updated_at": _iso(person.updated_at),
        },
        "guardians": _person_refs(session, tenant_id, guardian_ids),
        "wards": _person_refs(session, tenant_id, ward_ids),
        "asset_links": [
            {"asset_id": link.asset_id, "region": link.region, "created_at": _iso(link.created_at)} for link in links
        ],
        "consents": [
            {
                "id": c.id,
                "status": c.status,
                "purposes": list(c.purposes or []),
                "requested_purposes": list(c.requested_purposes or []),
                "asset_ids": c.asset_ids,
                "locale": c.locale,
                "template": {"key": c.template_key, "version": c.template_version, "text_sha256": c.text_sha256},
                "created_at": _iso(c.created_at),
                "valid_from": _iso(c.valid_from),
                "valid_until": _iso(c.valid_until),
                "given_at": _iso(c.given_at),
                "refused_at": _iso(c.refused_at),
                "withdrawn_at": _iso(c.withdrawn_at),
                "withdraw_reason": c.withdraw_reason,
                "revoked_at": _iso(c.revoked_at),
                "revoke_reason": c.revoke_reason,
                "signatures": signatures_by_consent[c.id],
            }
            for c in consents
        ],
        # Signatures the person gave for someone else (as a guardian).
        "signatures_given": [_signature(sig) for sig in given_as_signer],
        "audit_events": [
            {"seq": e.seq, "at": _iso(e.at), "type": e.type, "actor": e.actor, "refs": e.refs}
            for e in _events_about(session, tenant_id, person.id, consent_ids, signer_ids)
        ],
    }


def _events_about(
    session: Session, tenant_id: str, person_id: str, consent_ids: list[str], signer_ids: list[str]
) -> list[AuditEvent]:
    """Audit events naming the person, their consents or their signing links (filtered in SQL)."""
    conditions = [AuditEvent.refs["person_id"].as_string() == person_id]
    if consent_ids:
        conditions.append(AuditEvent.refs["consent_id"].as_string().in_(consent_ids))
    if signer_ids:
        conditions.append(AuditEvent.refs["signer_id"].as_string().in_(signer_ids))
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id, sa.or_(*conditions))
            .order_by(AuditEvent.seq)
        )
    )
