"""Consent domain models: persons, guardians, assets, asset links, objections, purposes, templates,
requests, consents, signers and signatures, DPA addenda, tenant contacts.

Every table carries ``tenant_id``; every query filters on it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.crypto import EncryptedJSON
from app.db import Base, guarded_by_status, new_id, utcnow

TENANT_FK = "tenants.id"


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "pn_index"),
        sa.Index("ix_persons_tenant_external_ref", "tenant_id", "external_ref"),
        sa.Index("ix_persons_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    # Personal data; all of it is cleared on erasure, the row stays as a tombstone
    # so that links of an erased person keep answering "no".
    name: Mapped[str | None] = mapped_column(sa.String(200))
    # Case-folded name for substring search alike on every backend (SQLite's lower() is ASCII-only).
    name_folded: Mapped[str | None] = mapped_column(sa.String(400), default=None)
    # The country whose national identity number pn_* hold (consent.personal_numbers.COUNTRIES).
    country: Mapped[str] = mapped_column(sa.String(2), default="SE", server_default="SE")
    pn_encrypted: Mapped[str | None] = mapped_column(sa.Text, default=None)
    pn_index: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    pn_masked: Mapped[str | None] = mapped_column(sa.String(20), default=None)
    birth_date: Mapped[date | None] = mapped_column(sa.Date, default=None)
    email: Mapped[str | None] = mapped_column(sa.String(320), default=None)
    phone: Mapped[str | None] = mapped_column(sa.String(40), default=None)
    external_ref: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(default=None)

    guardians: Mapped[list[Person]] = relationship(
        "Person",
        secondary="person_guardians",
        primaryjoin="Person.id == PersonGuardian.person_id",
        secondaryjoin="Person.id == PersonGuardian.guardian_id",
        order_by="PersonGuardian.position",
        viewonly=True,
    )


class PersonGuardian(Base):
    __tablename__ = "person_guardians"

    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    guardian_id: Mapped[str] = mapped_column(
        sa.ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(sa.Integer, default=0)


class AssetLink(Base):
    __tablename__ = "asset_links"
    __table_args__ = (sa.Index("ix_asset_links_tenant_person", "tenant_id", "person_id"),)

    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    asset_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    region: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Asset(Base):
    """An asset the DAM told us about: registered with PUT /assets/{id}, or implicitly by a link.

    A row here is what makes an asset "known": an id with no row answers ``unknown_asset``.
    """

    __tablename__ = "assets"

    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    asset_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    title: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    thumbnail_url: Mapped[str | None] = mapped_column(sa.String(2000), default=None)
    # The DAM says nobody is in the picture (a landscape); informative, shown in the console.
    no_persons: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # How many people are in the picture; fewer linked answers persons_unidentified.
    persons_expected: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    # [{"basis": "public_task", "purposes": ["web"]}]: GDPR Art. 6 bases other than consent.
    legal_bases: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Objection(Base):
    """An Art. 21 objection of a person to a purpose processed under a legal basis other than consent."""

    __tablename__ = "objections"
    __table_args__ = (sa.Index("ix_objections_tenant_person", "tenant_id", "person_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(sa.String(64))
    created_by: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_by: Mapped[str | None] = mapped_column(sa.String(120), default=None)


class Purpose(Base):
    __tablename__ = "purposes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentTemplate(Base):
    __tablename__ = "consent_templates"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key", "version"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[dict[str, Any]] = mapped_column()
    body: Mapped[dict[str, Any]] = mapped_column()
    # SHA-256 of the exact text shown, per locale: the title and body as signed.
    text_sha256: Mapped[dict[str, Any]] = mapped_column()
    purposes: Mapped[list[Any]] = mapped_column()
    validity_days: Mapped[int] = mapped_column(sa.Integer)
    minor_age: Mapped[int] = mapped_column(sa.Integer, default=18)
    guardians_required: Mapped[str] = mapped_column(sa.String(8), default="all")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (sa.Index("ix_consents_tenant_person", "tenant_id", "person_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(sa.ForeignKey("consent_templates.id"))
    template_key: Mapped[str] = mapped_column(sa.String(64))
    template_version: Mapped[int] = mapped_column(sa.Integer)
    # The language of the consent text (the one signed, once every signature is in one language).
    locale: Mapped[str] = mapped_column(sa.String(5))
    # The language the request named; None: the subject's page uses the person's own preference.
    requested_locale: Mapped[str | None] = mapped_column(sa.String(5), default=None)
    text_sha256: Mapped[str] = mapped_column(sa.String(64))
    # Purposes offered in the request; ``purposes`` narrows to what was chosen when given.
    requested_purposes: Mapped[list[Any]] = mapped_column()
    purposes: Mapped[list[Any]] = mapped_column()
    asset_ids: Mapped[list[Any] | None] = mapped_column(default=None)  # None = all assets of the person
    guardians_required: Mapped[str | None] = mapped_column(sa.String(8), default=None)  # None = adult signs
    # Validity: ``requested_valid_until`` overrides ``validity_days`` counted from the signing day.
    validity_days: Mapped[int] = mapped_column(sa.Integer)
    requested_valid_until: Mapped[datetime | None] = mapped_column(default=None)
    valid_from: Mapped[datetime | None] = mapped_column(default=None)
    valid_until: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    __mapper_args__ = guarded_by_status(status)
    given_at: Mapped[datetime | None] = mapped_column(default=None)
    refused_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    withdraw_reason: Mapped[str | None] = mapped_column(sa.Text, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoke_reason: Mapped[str | None] = mapped_column(sa.Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    signers: Mapped[list[Signer]] = relationship(
        "Signer", primaryjoin="Consent.id == Signer.consent_id", order_by="Signer.position", viewonly=True
    )
    signatures: Mapped[list[Signature]] = relationship(
        "Signature", primaryjoin="Consent.id == Signature.consent_id", order_by="Signature.signed_at",
        viewonly=True,
    )


class ConsentRequest(Base):
    __tablename__ = "consent_requests"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id", ondelete="CASCADE"))
    consent_id: Mapped[str] = mapped_column(sa.ForeignKey("consents.id", ondelete="CASCADE"), unique=True)
    created_by: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Signer(Base):
    """One person's key to sign: a link whose token is stored only as a hash."""

    __tablename__ = "signers"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"), index=True)
    consent_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("consents.id", ondelete="CASCADE"), index=True, default=None
    )
    addendum_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("addenda.id", ondelete="CASCADE"), index=True, default=None
    )
    role: Mapped[str] = mapped_column(sa.String(16))  # subject | guardian | representative
    person_id: Mapped[str | None] = mapped_column(sa.ForeignKey("persons.id", ondelete="CASCADE"), default=None)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")  # pending | signed | declined
    __mapper_args__ = guarded_by_status(status)
    signed_at: Mapped[datetime | None] = mapped_column(default=None)
    declined_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Signature(Base):
    """Evidence of one signature. ``signer_id`` is unique: a signer signs once, even
    when two status polls race to record it."""

    __tablename__ = "signatures"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"), index=True)
    signer_id: Mapped[str] = mapped_column(sa.ForeignKey("signers.id", ondelete="CASCADE"), unique=True)
    consent_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("consents.id", ondelete="CASCADE"), index=True, default=None
    )
    addendum_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("addenda.id", ondelete="CASCADE"), index=True, default=None
    )
    method: Mapped[str] = mapped_column(sa.String(16))  # bankid | oidc
    role: Mapped[str] = mapped_column(sa.String(16))
    signer_name: Mapped[str | None] = mapped_column(sa.String(200))
    pn_encrypted: Mapped[str | None] = mapped_column(sa.Text, default=None)
    pn_masked: Mapped[str | None] = mapped_column(sa.String(20), default=None)
    purposes: Mapped[list[Any]] = mapped_column()
    # The language of the text signed: the receipt shows the evidence in it, whatever the viewer's.
    locale: Mapped[str] = mapped_column(sa.String(5))
    visible_text: Mapped[str] = mapped_column(sa.Text)
    visible_sha256: Mapped[str] = mapped_column(sa.String(64))
    # Holds personal numbers (BankID user block, signature XML, OIDC claims): encrypted at rest.
    evidence: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    signed_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Addendum(Base):
    __tablename__ = "addenda"
    __table_args__ = (sa.Index("ix_addenda_tenant_kind", "tenant_id", "kind"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    locale: Mapped[str] = mapped_column(sa.String(5), default="sv")
    text_sha256: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")  # pending | signed | refused | revoked
    __mapper_args__ = guarded_by_status(status)
    signer_name: Mapped[str | None] = mapped_column(sa.String(200))
    signer_email: Mapped[str | None] = mapped_column(sa.String(320), default=None)
    signer_pn_encrypted: Mapped[str | None] = mapped_column(sa.Text, default=None)
    signer_pn_masked: Mapped[str | None] = mapped_column(sa.String(20), default=None)
    created_by: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_at: Mapped[datetime | None] = mapped_column(default=None)
    refused_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(120), default=None)


class TenantContact(Base):
    __tablename__ = "tenant_contacts"

    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # dpo | incident | operations
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(320))
    phone: Mapped[str] = mapped_column(sa.String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
