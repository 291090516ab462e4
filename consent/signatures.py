"""The signing flow's entry into the consent domain.

The signing pages (signing/) call only these functions and :mod:`consent.signed_text`
(the text a signature is taken over). They take a Session and plain values, flush, and
never commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.crypto import Keyring, current_keyring, sha256_hex
from app.errors import Conflict, Forbidden, Gone, NotFound, Unprocessable
from app.i18n import LOCALES
from app.models import Tenant
from consent import addenda, personal_numbers
from consent.consents import sealed_record_ids, status_at
from consent.models import Addendum, Consent, ConsentTemplate, Person, Signature, Signer
from consent.templates import purpose_labels


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who signed, as the identity provider vouched for it."""

    method: str  # "bankid" | "oidc"
    personal_number: str | None  # normalised (consent.personal_numbers), when the provider gives one
    name: str
    given_name: str | None = None
    surname: str | None = None
    personal_number_country: str = "SE"  # whose number it is: BankID's are Swedish, a provider's its country's
    # Provider evidence kept verbatim: BankID signature, ocspResponse, device IP,
    # bankIdIssueDate; OIDC issuer, subject, id_token, claims, userSignature.
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PurposeOption:
    key: str
    label: str  # in the page's locale


@dataclass(frozen=True)
class SigningView:
    """Everything a signing page shows for one signer's link, as plain values."""

    signer_id: str
    tenant_id: str
    tenant_name: str
    kind: str  # "consent" | "addendum"
    role: str  # subject | guardian | representative
    signer_status: str  # pending | signed | declined
    object_id: str  # consent id or addendum id
    object_status: str  # pending | given | refused | withdrawn | revoked | expired | signed
    locale: str  # the language of the text shown (and signed)
    page_locale: str  # the language of the page around it
    title: str
    body_markdown: str
    text_sha256: str
    subject_name: str | None  # whom the consent is about (the child, for a guardian)
    signer_name: str | None
    required_personal_number: str | None  # the order must require it when known
    # Whose number the signer has (their person's country; an addendum's signer is Swedish): the
    # methods offered are those that prove such a number.
    signer_country: str
    purposes: list[PurposeOption]
    asset_count: int | None  # None = all assets of the person
    valid_until: datetime | None
    validity_days: int | None
    signed_at: datetime | None
    record_available: bool
    can_withdraw: bool
    expires_at: datetime


log = logging.getLogger(__name__)
_TOKEN_MAX = 128
# An addendum's signer gives a Swedish number (consent.addenda) and signs with BankID.
ADDENDUM_COUNTRY = "SE"


def _actor(signer_id: str) -> str:
    return f"subject:{signer_id}"


def signer_by_token(session: Session, token: str, *, now: datetime) -> Signer:
    """The signer a link token belongs to. Unknown → NotFound; a pending link past its
    expiry (or killed by a revocation or erasure) → Gone."""
    if not token or len(token) > _TOKEN_MAX:
        raise NotFound("No such signing link.")
    signer = session.scalar(sa.select(Signer).where(Signer.token_hash == sha256_hex(token)))
    if signer is None:
        raise NotFound("No such signing link.")
    if _erased_link(session, signer):
        # Signed links too: a receipt would show what the erased person signed, or for whom.
        raise Gone("This signing link no longer works: the person it concerns has been erased.")
    if signer.status == "pending" and signer.expires_at <= now:
        raise Gone("This signing link has expired.")
    return signer


def _erased_link(session: Session, signer: Signer) -> bool:
    """The link belongs to an erased person, or is about one."""
    person_ids = [signer.person_id]
    if signer.consent_id is not None:
        person_ids.append(session.scalar(sa.select(Consent.person_id).where(Consent.id == signer.consent_id)))
    erased = sa.select(Person.id).where(Person.id.in_([p for p in person_ids if p]), Person.erased_at.is_not(None))
    return session.scalar(erased.limit(1)) is not None


def _keyring(keyring: Keyring | None) -> Keyring:
    if keyring is not None:
        return keyring
    # The signing pages may call without one; fall back to the app's (HTTP layer only).
    return current_keyring()


def _person_pn(keyring: Keyring, person: Person | None) -> str | None:
    if person is None or person.erased_at is not None or not person.pn_encrypted:
        return None
    return keyring.decrypt(person.pn_encrypted, context=person.tenant_id)


def _addendum_pn(keyring: Keyring, addendum: Addendum) -> str | None:
    if not addendum.signer_pn_encrypted:
        return None
    return keyring.decrypt(addendum.signer_pn_encrypted, context=addendum.tenant_id)


def _live_name(person: Person | None) -> str | None:
    return None if person is None or person.erased_at is not None else person.name


def _signed_locale(session: Session, signer: Signer) -> str | None:
    if signer.status != "signed":
        return None
    return session.scalar(sa.select(Signature.locale).where(Signature.signer_id == signer.id))


def signing_view(
    session: Session,
    signer: Signer,
    *,
    locale: str | None,
    now: datetime,
    keyring: Keyring | None = None,
    preferred: str | None = None,
) -> SigningView:
    """Everything the signing page shows for this signer's link.

    The page speaks ``locale`` (the person's choice on the link), else the language
    signed, else the one the request named, else ``preferred`` (the browser's). Once
    the signer has signed, the text is the one signed, in the language signed, whatever
    the page speaks: it is evidence. Before, the text is in the page's language when it
    exists in it, else in the language the request was made in.
    """
    keys = _keyring(keyring)
    tenant = session.get(Tenant, signer.tenant_id)
    tenant_name = tenant.name if tenant is not None else ""
    signed = _signed_locale(session, signer)
    if signer.addendum_id is not None:
        addendum = session.get(Addendum, signer.addendum_id)
        assert addendum is not None
        page = locale or signed or addendum.locale  # an addendum always names its language
        shown = signed or (page if page in LOCALES else addendum.locale)
        text = addenda.text(addendum.kind, shown)
        return SigningView(
            signer_id=signer.id, tenant_id=signer.tenant_id, tenant_name=tenant_name, kind="addendum",
            role=signer.role, signer_status=signer.status, object_id=addendum.id, object_status=addendum.status,
            locale=shown, page_locale=page, title=text.title, body_markdown=text.body, text_sha256=text.sha256,
            subject_name=None, signer_name=addendum.signer_name,
            required_personal_number=_addendum_pn(keys, addendum), signer_country=ADDENDUM_COUNTRY,
            purposes=[], asset_count=None,
            valid_until=None, validity_days=None, signed_at=signer.signed_at,
            record_available=bool(sealed_record_ids(session, signer.tenant_id, [addendum.id], "addendum_id")),
            can_withdraw=False, expires_at=signer.expires_at,
        )
    consent = session.get(Consent, signer.consent_id)
    assert consent is not None
    template = session.get(ConsentTemplate, consent.template_id)
    assert template is not None
    page = locale or signed or consent.requested_locale or preferred or consent.locale
    shown = signed or (page if page in template.title else consent.locale)
    subject = session.get(Person, consent.person_id)
    signer_person = session.get(Person, signer.person_id) if signer.person_id else None
    offered = list(consent.requested_purposes if consent.status == "pending" else consent.purposes)
    labels = purpose_labels(session, signer.tenant_id, offered, shown)
    current = status_at(consent, now)
    return SigningView(
        signer_id=signer.id, tenant_id=signer.tenant_id, tenant_name=tenant_name, kind="consent",
        role=signer.role, signer_status=signer.status, object_id=consent.id, object_status=current,
        locale=shown, page_locale=page, title=template.title[shown], body_markdown=template.body[shown],
        text_sha256=template.text_sha256[shown], subject_name=_live_name(subject),
        signer_name=_live_name(signer_person), required_personal_number=_person_pn(keys, signer_person),
        signer_country=signer_person.country if signer_person is not None else personal_numbers.DEFAULT_COUNTRY,
        purposes=[PurposeOption(key=k, label=labels[k]) for k in offered],
        asset_count=None if consent.asset_ids is None else len(consent.asset_ids),
        valid_until=consent.valid_until or consent.requested_valid_until,
        validity_days=consent.validity_days, signed_at=signer.signed_at,
        record_available=bool(sealed_record_ids(session, signer.tenant_id, [consent.id])),
        can_withdraw=current == "given", expires_at=signer.expires_at,
    )


# --- recording a signature -----------------------------------------------------

def _locked(model: Any, object_id: str) -> sa.Select[Any]:
    # FOR NO KEY UPDATE: excludes other writers of the row, not inserts referencing it.
    return (
        sa.select(model).where(model.id == object_id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


@dataclass
class LockedLink:
    signer: Signer
    consent: Consent | None
    addendum: Addendum | None


def lock_signer(session: Session, signer_id: str) -> LockedLink:
    """Lock the tenant, then the consent (or addendum), then the signer, and read them afresh.

    The lock order of every writing transaction (``app.audit``): revocation,
    withdrawal, decline, recording a signature and the signing orders all take
    the tenant row first, so two of them never wait on each other in opposite
    order (a deadlock on PostgreSQL). Re-reading under the lock matters on SQLite,
    where the reads before the first write ran outside the transaction.
    """
    found = session.get(Signer, signer_id)  # its tenant and parent never change, so no lock to read them
    if found is None:
        raise NotFound("No such signer.")
    audit.lock_tenant(session, found.tenant_id)
    consent = addendum = None
    if found.consent_id is not None:
        consent = session.scalars(_locked(Consent, found.consent_id)).one()
    elif found.addendum_id is not None:
        addendum = session.scalars(_locked(Addendum, found.addendum_id)).one()
    signer = session.scalars(_locked(Signer, signer_id)).one()
    return LockedLink(signer, consent, addendum)


def require_pending(locked: LockedLink, at: datetime) -> None:
    """The link must still be unused and unexpired, and what it signs still open."""
    signer = locked.signer
    if signer.status != "pending":
        raise Conflict(f"This link has already been {signer.status}.", signer_status=signer.status)
    if signer.expires_at <= at:
        raise Gone("This signing link has expired.")
    if locked.consent is not None and locked.consent.status != "pending":
        raise Conflict(f"The consent is already {locked.consent.status}.", consent_status=locked.consent.status)
    if locked.addendum is not None and locked.addendum.status != "pending":
        raise Conflict(f"The addendum is already {locked.addendum.status}.", addendum_status=locked.addendum.status)


def _masked(pn: str | None, country: str = personal_numbers.DEFAULT_COUNTRY) -> str | None:
    try:
        return personal_numbers.mask(pn, country) if pn else None
    except personal_numbers.InvalidPersonalNumber:
        return None


def _complete(session: Session, consent: Consent) -> bool:
    # An erased signer's signature is wiped: it counts as missing, so a consent never becomes
    # given on a nameless signature (erasure also revokes such a consent, see ``consent.gdpr``).
    counted = sa.case((Person.erased_at.is_not(None), "erased"), else_=Signer.status)
    statuses = [
        (role, status)
        for role, status in session.execute(
            sa.select(Signer.role, counted)
            .outerjoin(Person, Person.id == Signer.person_id)
            .where(Signer.consent_id == consent.id)
        )
    ]
    if consent.guardians_required is None:
        return any(role == "subject" and status == "signed" for role, status in statuses)
    guardians = [status for role, status in statuses if role == "guardian"]
    if consent.guardians_required == "one":
        return "signed" in guardians
    return bool(guardians) and all(status == "signed" for status in guardians)


def record_signature(
    session: Session,
    keyring: Keyring,
    *,
    signer_id: str,
    identity: VerifiedIdentity,
    purposes: list[str],
    visible_text: str,
    at: datetime,
    locale: str | None = None,
) -> Signature:
    """Record one verified signature for a pending link, exactly once.

    ``locale`` is the language of the text signed (default: the request's).

    The tenant, the consent (or addendum) and the signer are locked and read
    afresh (:func:`lock_signer`), every status change is conditional on the status
    read (``app.db.guarded_by_status``) and the unique ``signatures.signer_id``
    backs that up inside a savepoint, so two concurrent status polls never record
    two signatures, nor a decline and a signature both win: the loser gets
    Conflict. When the last required signature is in, the consent becomes ``given``.
    """
    locked = lock_signer(session, signer_id)
    require_pending(locked, at)
    signer, consent, addendum = locked.signer, locked.consent, locked.addendum
    if consent is not None:
        # Afresh: an erasure may have committed since the page read them.
        signer_person = session.get(Person, signer.person_id, populate_existing=True) if signer.person_id else None
        subject = session.get(Person, consent.person_id, populate_existing=True)
        if subject is None or subject.erased_at is not None or (
            signer_person is not None and signer_person.erased_at is not None
        ):
            raise Gone("The person this consent concerns has been erased.")
        expected_pn = _person_pn(keyring, signer_person)
        expected_country = signer_person.country if signer_person is not None else personal_numbers.DEFAULT_COUNTRY
        chosen = list(dict.fromkeys(purposes))
        outside = [p for p in chosen if p not in consent.requested_purposes]
        if not chosen or outside:
            raise Unprocessable(
                "Choose at least one of the purposes requested.", errors={"purposes": ["Not a requested purpose."]}
            )
        signed_locale = locale or consent.locale
        template = session.get(ConsentTemplate, consent.template_id)
        if template is None or signed_locale not in template.text_sha256:
            raise Unprocessable(f"The text does not exist in {signed_locale!r}.", errors={"locale": ["Unknown."]})
    else:
        assert addendum is not None
        expected_pn = _addendum_pn(keyring, addendum)
        expected_country = ADDENDUM_COUNTRY
        chosen = []
        signed_locale = locale or addendum.locale
        if signed_locale not in LOCALES:
            raise Unprocessable(f"The text does not exist in {signed_locale!r}.", errors={"locale": ["Unknown."]})
    if expected_pn is not None and (
        identity.personal_number != expected_pn or identity.personal_number_country != expected_country
    ):
        raise Forbidden("The signature was made by another person than the one this link is for.")

    # The lock's write opened the transaction on SQLite, so the savepoint below
    # nests inside it instead of becoming it.
    signer.status = "signed"
    signer.signed_at = at
    session.flush()
    pn = identity.personal_number
    signature = Signature(
        tenant_id=signer.tenant_id,
        signer_id=signer.id,
        consent_id=signer.consent_id,
        addendum_id=signer.addendum_id,
        method=identity.method,
        role=signer.role,
        signer_name=identity.name,
        pn_encrypted=keyring.encrypt(pn, context=signer.tenant_id) if pn else None,
        pn_masked=_masked(pn, identity.personal_number_country),
        purposes=chosen,
        locale=signed_locale,
        visible_text=visible_text,
        visible_sha256=sha256_hex(visible_text),
        evidence=dict(identity.evidence),
        signed_at=at,
    )
    try:
        with session.begin_nested():
            session.add(signature)
            session.flush()
    except IntegrityError:
        raise Conflict("This link has already been signed.") from None
    refs = {"signature_id": signature.id, "signer_id": signer.id, "visible_sha256": signature.visible_sha256}
    tenant_id = signer.tenant_id
    if consent is not None:
        audit.append(session, tenant_id, "signature.recorded", _actor(signer.id), {**refs, "consent_id": consent.id})
        if _complete(session, consent):
            _give(session, consent, signer.id, at)
    else:
        assert addendum is not None
        audit.append(
            session, tenant_id, "signature.recorded", _actor(signer.id), {**refs, "addendum_id": addendum.id}
        )
        addendum.status = "signed"
        addendum.signed_at = at
        # The addendum records the text its signer read, which may be another language than the one sent.
        if signed_locale != addendum.locale:
            addendum.locale = signed_locale
            addendum.text_sha256 = addenda.text(addendum.kind, signed_locale).sha256
        session.flush()
        audit.append(
            session, tenant_id, "addendum.signed", _actor(signer.id),
            {"addendum_id": addendum.id, "signature_id": signature.id},
        )
    return signature


def _give(session: Session, consent: Consent, signer_id: str, at: datetime) -> None:
    signatures = list(
        session.execute(
            sa.select(Signature.id, Signature.purposes, Signature.locale).where(Signature.consent_id == consent.id)
        )
    )
    agreed = [p for p in consent.requested_purposes if all(p in chosen for _, chosen, _ in signatures)]
    # The consent records the text its signers read: when they all read one language, that
    # one, even if the request was made in another (the page lets each person choose).
    languages = {signed for _, _, signed in signatures}
    if len(languages) == 1 and consent.locale not in languages:
        (signed,) = languages
        template = session.get(ConsentTemplate, consent.template_id)
        assert template is not None
        consent.locale = signed
        consent.text_sha256 = template.text_sha256[signed]
    consent.status = "given"
    consent.given_at = at
    consent.valid_from = at
    consent.valid_until = consent.requested_valid_until or at + timedelta(days=consent.validity_days)
    consent.purposes = agreed
    session.flush()
    audit.append(
        session, consent.tenant_id, "consent.given", _actor(signer_id),
        {"consent_id": consent.id, "signature_ids": sorted(sig_id for sig_id, _, _ in signatures)},
    )


def decline(session: Session, *, signer_id: str, at: datetime) -> None:
    """The link holder says no: one guardian declining refuses the whole consent."""
    locked = lock_signer(session, signer_id)
    require_pending(locked, at)
    signer, consent, addendum = locked.signer, locked.consent, locked.addendum
    tenant_id = signer.tenant_id
    if consent is not None:
        signer.status = "declined"
        signer.declined_at = at
        consent.status = "refused"
        consent.refused_at = at
        session.flush()
        audit.append(
            session, tenant_id, "consent.refused", _actor(signer.id), {"consent_id": consent.id, "signer_id": signer.id}
        )
        return
    assert addendum is not None
    signer.status = "declined"
    signer.declined_at = at
    addendum.status = "refused"
    addendum.refused_at = at
    session.flush()
    audit.append(
        session, tenant_id, "addendum.refused", _actor(signer.id), {"addendum_id": addendum.id, "signer_id": signer.id}
    )


def withdraw_by_subject(session: Session, *, signer_id: str, at: datetime) -> Consent:
    """Art. 7(3): the link that gave the consent takes it back, with one button."""
    locked = lock_signer(session, signer_id)
    signer, consent = locked.signer, locked.consent
    if consent is None:
        raise Conflict("An addendum is revoked by the customer's staff, not through this link.")
    current = status_at(consent, at)
    if current != "given":
        raise Conflict(f"Only a given consent can be withdrawn; this one is {current}.", consent_status=current)
    consent.status = "withdrawn"
    consent.withdrawn_at = at
    session.flush()
    audit.append(
        session, consent.tenant_id, "consent.withdrawn", _actor(signer.id),
        {"consent_id": consent.id, "signer_id": signer.id},
    )
    return consent
