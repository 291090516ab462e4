"""DPA addenda: built-in texts the customer's representative signs like a consent.

The texts live in ``consent/addenda_texts/{kind}.{locale}.md``; the first line is
the title (``# ...``), the rest the body. The hash covers exactly what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.crypto import Keyring, sha256_hex
from app.db import new_id
from app.errors import Conflict, Unprocessable
from app.i18n import DEFAULT_LOCALE, LOCALES
from consent import personal_numbers, requests
from consent.models import Addendum, Signer
from consent.queries import get_scoped
from consent.templates import text_hash

KINDS = ("transcription-transfer",)
TEXT_VERSION = 1
_TEXTS = Path(__file__).parent / "addenda_texts"


@dataclass(frozen=True)
class AddendumText:
    title: str
    body: str

    @property
    def sha256(self) -> str:
        return text_hash(self.title, self.body)


@lru_cache(maxsize=16)
def text(kind: str, locale: str) -> AddendumText:
    raw = (_TEXTS / f"{kind}.{locale}.md").read_text(encoding="utf-8")
    first, _, rest = raw.partition("\n")
    return AddendumText(title=first.removeprefix("# ").strip(), body=rest.strip())


@dataclass(frozen=True)
class AddendumInput:
    kind: str
    signer_name: str
    signer_email: str | None = None
    signer_personal_number: str | None = None
    locale: str = DEFAULT_LOCALE


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(message, errors={field: [message]})


def create(
    session: Session, keyring: Keyring, tenant_id: str, actor: str, data: AddendumInput, *,
    now: datetime, link_days: int,
) -> tuple[Addendum, Signer]:
    if data.kind not in KINDS:
        raise _invalid("kind", f"Unknown addendum kind '{data.kind}'; known: {', '.join(KINDS)}.")
    if data.locale not in LOCALES:
        raise _invalid("locale", f"Locale must be one of {', '.join(LOCALES)}.")
    pn = None
    if data.signer_personal_number:
        try:
            pn = personal_numbers.normalise(data.signer_personal_number, now.date())
        except personal_numbers.InvalidPersonalNumber as exc:
            raise Unprocessable(
                "The signer's personal number is not valid.", errors={"signer": {"personal_number": [str(exc)]}}
            ) from None
    audit.lock_tenant(session, tenant_id)
    addendum = Addendum(
        tenant_id=tenant_id,
        kind=data.kind,
        version=TEXT_VERSION,
        locale=data.locale,
        text_sha256=text(data.kind, data.locale).sha256,
        status="pending",
        signer_name=data.signer_name,
        signer_email=data.signer_email,
        signer_pn_encrypted=keyring.encrypt(pn, context=tenant_id) if pn else None,
        signer_pn_masked=personal_numbers.mask(pn) if pn else None,
        created_by=actor,
        created_at=now,
    )
    session.add(addendum)
    session.flush()
    signer_id = new_id()
    signer = Signer(
        id=signer_id, tenant_id=tenant_id, addendum_id=addendum.id, role="representative", position=0,
        token_hash=sha256_hex(keyring.link_token(signer_id)), expires_at=now + timedelta(days=link_days),
        status="pending", created_at=now,
    )
    session.add(signer)
    session.flush()
    audit.append(
        session, tenant_id, "addendum.requested", actor,
        {"addendum_id": addendum.id, "signer_id": signer.id, "text_sha256": addendum.text_sha256},
    )
    return addendum, signer


def get(session: Session, tenant_id: str, addendum_id: str) -> Addendum:
    return get_scoped(session, Addendum, tenant_id, addendum_id, "addendum")


def signer_of(session: Session, addendum_id: str) -> Signer:
    return session.scalars(
        sa.select(Signer).where(Signer.addendum_id == addendum_id).order_by(Signer.position)
    ).one()


def signers_by_addendum(session: Session, addendum_ids: list[str]) -> dict[str, Signer]:
    if not addendum_ids:
        return {}
    rows = session.scalars(sa.select(Signer).where(Signer.addendum_id.in_(addendum_ids)))
    return {s.addendum_id: s for s in rows if s.addendum_id is not None}


def list_all(session: Session, tenant_id: str, kind: str | None = None) -> list[Addendum]:
    query = sa.select(Addendum).where(Addendum.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(Addendum.kind == kind)
    return list(session.scalars(query.order_by(Addendum.created_at.desc(), Addendum.id)))


def active(session: Session, tenant_id: str, kind: str) -> Addendum | None:
    """The latest signed, unrevoked addendum of this kind, if any."""
    if kind not in KINDS:
        raise _invalid("kind", f"Unknown addendum kind '{kind}'; known: {', '.join(KINDS)}.")
    return session.scalar(
        sa.select(Addendum)
        .where(Addendum.tenant_id == tenant_id, Addendum.kind == kind, Addendum.status == "signed")
        .order_by(Addendum.signed_at.desc())
        .limit(1)
    )


def revoke(session: Session, tenant_id: str, actor: str, addendum_id: str, *, now: datetime) -> Addendum:
    get(session, tenant_id, addendum_id)  # 404 first, before taking a lock
    audit.lock_tenant(session, tenant_id)
    addendum = session.scalars(
        sa.select(Addendum).where(Addendum.id == addendum_id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()
    if addendum.status not in ("pending", "signed"):
        raise Conflict(f"Only a pending or signed addendum can be revoked; this one is {addendum.status}.")
    addendum.status = "revoked"
    addendum.revoked_at = now
    addendum.revoked_by = actor
    requests.end_pending_links(session, now, addendum_id=addendum.id)
    session.flush()
    audit.append(session, tenant_id, "addendum.revoked", actor, {"addendum_id": addendum.id})
    return addendum
