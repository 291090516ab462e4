"""Data-subject rights: erasure (GDPR Art. 17) and access/portability export (Art. 15/20).

Erasure removes personal data but keeps the person row as a tombstone, its asset
links and its consents, so that an asset showing an erased person keeps answering
"no" (reason ``erased``). The audit chain holds only ids and hashes, so it stays
intact and verifiable.

The export and the erasure are each other's mirror: both start from one
:class:`PersonScope`, and every other domain that keeps a copy of the person's
data in its own tables (signing attempts, the BankID simulator, sealed records)
answers both signals below, adding its part to the export and scrubbing the same
part on erasure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.audit_queries import StoredEvent, ref_text, stored_events
from app.crypto import Keyring
from app.db import utcnow
from consent import consents as consent_service
from consent import evidence
from consent.models import AssetLink, Consent, Objection, Person, PersonGuardian, Signature, Signer
from consent.persons import get_person, is_minor
from consent.signals import erasing, exporting

ERASED_EVIDENCE = {"erased": True}


def _l(text: str) -> str:
    """Marks a text for the catalogues; it is stored in English and translated where it is shown."""
    return text


# Stored as the revocation reason of a consent that an erased guardian had signed.
ERASED_SIGNER_REASON = _l(
    "A guardian who signed this consent has been erased (GDPR Art. 17); their signature can no longer be relied on."
)

@dataclass(frozen=True)
class PersonScope:
    """What belongs to one person's data, resolved once for both the export and the erasure."""

    tenant_id: str
    person_id: str
    # Decrypted, in memory only: BankID (and its simulator) keeps orders by number, not by our ids.
    personal_number: str | None
    consent_ids: tuple[str, ...]  # consents about the person
    own_signer_ids: tuple[str, ...]  # the person's own signing links (as the subject or a guardian)
    # Every link whose attempts hold the person's data: their own, and every link of a consent about them.
    signer_ids: tuple[str, ...]
    # Consents about someone else that the person signed (as a guardian).
    signed_for: tuple[str, ...]


def scope_of(session: Session, keyring: Keyring | None, person: Person) -> PersonScope:
    """The person's scope; without a keyring the personal number stays unread (a preview needs none)."""
    tenant_id = person.tenant_id
    consent_ids = tuple(
        session.scalars(
            sa.select(Consent.id)
            .where(Consent.tenant_id == tenant_id, Consent.person_id == person.id)
            .order_by(Consent.created_at, Consent.id)
        )
    )
    own = tuple(
        session.scalars(
            sa.select(Signer.id).where(Signer.tenant_id == tenant_id, Signer.person_id == person.id).order_by(Signer.id)
        )
    )
    about = sa.select(Consent.id).where(Consent.tenant_id == tenant_id, Consent.person_id == person.id)
    signer_ids = tuple(
        session.scalars(
            sa.select(Signer.id)
            .where(Signer.tenant_id == tenant_id, sa.or_(Signer.person_id == person.id, Signer.consent_id.in_(about)))
            .order_by(Signer.id)
        )
    )
    signed_for = tuple(
        session.scalars(
            sa.select(Signature.consent_id)
            .join(Consent, Consent.id == Signature.consent_id)
            .where(
                Signature.tenant_id == tenant_id,
                Signature.signer_id.in_(own),
                Consent.person_id != person.id,
            )
            .order_by(Signature.consent_id)
            .distinct()
        )
    ) if own else ()
    number = keyring.decrypt(person.pn_encrypted, context=tenant_id) if keyring and person.pn_encrypted else None
    return PersonScope(
        tenant_id=tenant_id, person_id=person.id, personal_number=number, consent_ids=consent_ids,
        own_signer_ids=own, signer_ids=signer_ids, signed_for=tuple(c for c in signed_for if c),
    )


def erase_person(session: Session, keyring: Keyring, tenant_id: str, person_id: str, actor: str) -> None:
    """Erase a person's personal data; 404 when unknown or already erased."""
    audit.lock_tenant(session, tenant_id)
    person = get_person(session, tenant_id, person_id)
    scope = scope_of(session, keyring, person)
    now = utcnow()
    consent_ids = list(scope.consent_ids)
    own_signer_ids = list(scope.own_signer_ids)

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
    # The links stay as the tombstone that keeps the assets at "no"; where the person is in the picture goes.
    session.execute(
        sa.update(AssetLink)
        .where(AssetLink.tenant_id == tenant_id, AssetLink.person_id == person.id)
        .values(region=None)
        .execution_options(synchronize_session=False)
    )
    # Objections go with the person; the erased person's links answer "erased" whatever the basis.
    session.execute(
        sa.delete(Objection)
        .where(Objection.tenant_id == tenant_id, Objection.person_id == person.id)
        .execution_options(synchronize_session=False)
    )
    # Free-text reasons may name the person.
    session.execute(
        sa.update(Consent)
        .where(Consent.tenant_id == tenant_id, Consent.person_id == person.id)
        .values(withdraw_reason=None, revoke_reason=None)
        .execution_options(synchronize_session=False)
    )
    erasing.send(session, scope=scope, now=now)
    _end_consents_signed_for_others(session, scope, actor, now)
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


def consents_to_end(session: Session, scope: PersonScope, now: datetime) -> list[str]:
    """The consents about someone else that erasing this person revokes: those they signed that are
    still pending or given.

    Pending, such a consent could only be completed on a nameless signature; given, the controller
    could no longer show who consented (Art. 7(1)). Either way it must not stay a "yes".
    """
    ended = []
    for consent_id in scope.signed_for:
        consent = consent_service.get(session, scope.tenant_id, consent_id)
        if consent_service.status_at(consent, now) in ("pending", "given"):
            ended.append(consent_id)
    return ended


def _end_consents_signed_for_others(session: Session, scope: PersonScope, actor: str, now: datetime) -> None:
    """Revoke them with a reason: audited and announced like any revocation; their open links die, and
    the remaining guardians are asked again with a new request."""
    for consent_id in consents_to_end(session, scope, now):
        consent_service.revoke(session, scope.tenant_id, actor, consent_id, reason=ERASED_SIGNER_REASON, now=now)


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


def _signature(sig: Signature, scope: PersonScope) -> dict[str, Any]:
    own = sig.signer_id in scope.own_signer_ids
    raw = sig.evidence or {}
    return {
        "id": sig.id,
        "consent_id": sig.consent_id,
        "method": sig.method,
        "role": sig.role,
        "signer_name": sig.signer_name,
        "signer_personal_number_masked": sig.pn_masked,
        "purposes": list(sig.purposes or []),
        "signed_at": _iso(sig.signed_at),
        "visible_text": sig.visible_text,
        "visible_text_sha256": sig.visible_sha256,
        # The raw BankID/OpenID evidence (full personal number included) is the person's own only when
        # they signed; its digest is the one sealed into the record, so the copy can be checked against it.
        "provider_evidence": raw if own and not evidence.is_erased(raw) else None,
        "provider_evidence_sha256": None if evidence.is_erased(raw) else evidence.digest(raw),
    }


def export_person(
    session: Session, keyring: Keyring, tenant_id: str, person_id: str, actor: str
) -> dict[str, Any]:
    """Everything held on one person, as plain JSON-ready values (Art. 15/20).

    The export itself is audited: who took a copy of whose data is worth knowing.
    """
    audit.lock_tenant(session, tenant_id)
    person = get_person(session, tenant_id, person_id)
    scope = scope_of(session, keyring, person)
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
    consent_ids = list(scope.consent_ids)
    signatures_by_consent: dict[str, list[dict[str, Any]]] = {cid: [] for cid in consent_ids}
    if consent_ids:
        for sig in session.scalars(
            sa.select(Signature)
            .where(Signature.tenant_id == tenant_id, Signature.consent_id.in_(consent_ids))
            .order_by(Signature.signed_at)
        ):
            signatures_by_consent[sig.consent_id or ""].append(_signature(sig, scope))
    signer_ids = list(scope.own_signer_ids)
    given_for_others = (
        session.scalars(
            sa.select(Signature)
            .where(Signature.tenant_id == tenant_id, Signature.consent_id.in_(scope.signed_for))
            .where(Signature.signer_id.in_(signer_ids))
            .order_by(Signature.signed_at)
        ).all()
        if scope.signed_for
        else []
    )

    export: dict[str, Any] = {
        "exported_at": utcnow().isoformat(),
        "person": {
            "id": person.id,
            "name": person.name,
            "country": person.country,
            "personal_number": scope.personal_number,
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
        "objections": [
            {"id": o.id, "purpose": o.purpose, "created_at": _iso(o.created_at), "withdrawn_at": _iso(o.withdrawn_at)}
            for o in session.scalars(
                sa.select(Objection)
                .where(Objection.tenant_id == tenant_id, Objection.person_id == person.id)
                .order_by(Objection.created_at, Objection.id)
            )
        ],
        # Signatures the person gave for someone else (as a guardian).
        "signatures_given": [_signature(sig, scope) for sig in given_for_others],
        "audit_events": [
            {"seq": e.seq, "at": _iso(e.at), "type": e.type, "actor": e.actor, "refs": e.refs,
             **({"corrupt": True, "stored": e.stored} if e.corrupt else {})}
            for e in _events_about(session, tenant_id, person.id, consent_ids, signer_ids)
        ],
    }
    # The other domains' parts: signing attempts, sealed records (the same parts erasure scrubs).
    for _receiver, sections in exporting.send(session, scope=scope):
        export.update(sections or {})
    return export


def _events_about(
    session: Session, tenant_id: str, person_id: str, consent_ids: list[str], signer_ids: list[str]
) -> list[StoredEvent]:
    """Audit events naming the person, their consents or their signing links (filtered in SQL,
    read as stored so that a row changed outside the service cannot fail the export)."""
    conditions = [ref_text(session, "person_id") == person_id]
    if consent_ids:
        conditions.append(ref_text(session, "consent_id").in_(consent_ids))
    if signer_ids:
        conditions.append(ref_text(session, "signer_id").in_(signer_ids))
    return stored_events(session, tenant_id, where=[sa.or_(*conditions)])
