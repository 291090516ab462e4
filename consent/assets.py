"""The asset register: what the DAM told us about an asset besides who is in it.

An asset is known once it is registered (PUT /assets/{id}) or linked to a person; an id
the service has never seen answers "not allowed, unknown_asset". Its status per purpose
comes from the usage-rights answer itself (``consent.rights.status_of``), never from rules
of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import audit
from app.db import utcnow
from app.errors import NotFound, Unprocessable
from consent import rights
from consent.ids import check_asset_id
from consent.links import LinkedPerson, persons_in
from consent.models import Asset
from consent.purposes import list_purposes

LEGAL_BASES = ("contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests")
# What PUT may change; an absent field keeps its value.
FIELDS = ("title", "thumbnail_url", "no_persons", "persons_expected", "legal_bases")


def _valid_asset_id(asset_id: str) -> str:
    problem = check_asset_id(asset_id)
    if problem:
        raise Unprocessable(problem, errors={"asset_id": [problem]})
    return asset_id


def _check_legal_bases(session: Session, tenant_id: str, bases: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    known = {p.key for p in list_purposes(session, tenant_id)}
    seen: dict[str, str] = {}
    cleaned = []
    for entry in bases:
        basis, purposes = entry["basis"], list(dict.fromkeys(entry["purposes"]))
        if basis not in LEGAL_BASES:
            raise Unprocessable(f"Unknown legal basis '{basis}'.", errors={"legal_bases": [f"One of {LEGAL_BASES}."]})
        unknown = [p for p in purposes if p not in known]
        if unknown:
            raise Unprocessable(
                f"Unknown purpose(s): {', '.join(unknown)}.", errors={"legal_bases": {"unknown_purposes": unknown}}
            )
        twice = [p for p in purposes if p in seen]
        if twice:
            raise Unprocessable(
                f"A purpose has one legal basis; given twice: {', '.join(twice)}.",
                errors={"legal_bases": {"purposes_given_twice": twice}},
            )
        seen.update(dict.fromkeys(purposes, basis))
        cleaned.append({"basis": basis, "purposes": purposes})
    return cleaned


def put_asset(
    session: Session, tenant_id: str, asset_id: str, actor: str, values: Mapping[str, Any]
) -> tuple[Asset, bool]:
    """Register or update an asset; returns (asset, created). Only the fields given change."""
    _valid_asset_id(asset_id)
    values = {k: v for k, v in values.items() if k in FIELDS}
    audit.lock_tenant(session, tenant_id)
    if "legal_bases" in values:
        values["legal_bases"] = _check_legal_bases(session, tenant_id, values["legal_bases"] or [])
    asset = session.get(Asset, (tenant_id, asset_id))
    created = asset is None
    if asset is None:
        asset = Asset(tenant_id=tenant_id, asset_id=asset_id, no_persons=False, legal_bases=[], created_at=utcnow())
        session.add(asset)
    changed = sorted(k for k, v in values.items() if created or getattr(asset, k) != v)
    for key in changed:
        setattr(asset, key, values[key])
    if asset.no_persons and (asset.persons_expected or 0) > 0:
        raise Unprocessable(
            "An asset with no persons cannot expect persons.",
            errors={"persons_expected": ["Must be 0 or null when no_persons is true."]},
        )
    if created or changed:
        asset.updated_at = utcnow()
        session.flush()
        audit.append(
            session, tenant_id, "asset.registered" if created else "asset.updated", actor,
            {"asset_id": asset_id, "fields": changed},
        )
    return asset, created


def get_asset(session: Session, tenant_id: str, asset_id: str) -> Asset:
    """A known asset (registered or linked), or 404 when the service has never seen it."""
    if check_asset_id(asset_id) is None:
        asset = session.get(Asset, (tenant_id, asset_id))
        if asset is not None:
            return asset
    raise NotFound("This asset is unknown: it was never registered nor linked to a person.")


@dataclass(frozen=True)
class AssetView:
    """An asset with its linked persons and, per purpose, its usage-rights answer and status."""

    asset: Asset
    persons: list[LinkedPerson]
    answers: dict[str, dict[str, Any]]  # purpose key → the usage-rights answer
    at: datetime

    @property
    def status(self) -> dict[str, str]:
        return {purpose: rights.status_of(answer) for purpose, answer in self.answers.items()}

    def __getattr__(self, name: str) -> Any:
        # The asset's own fields read through (for schemas and templates).
        return getattr(self.asset, name)


def view_asset(session: Session, tenant_id: str, asset_id: str, at: datetime | None = None) -> AssetView:
    asset = get_asset(session, tenant_id, asset_id)
    at = at or utcnow()
    purposes = [p.key for p in list_purposes(session, tenant_id)]
    answers = rights.for_asset_purposes(session, tenant_id, asset_id, purposes, at)
    return AssetView(asset=asset, persons=persons_in(session, tenant_id, asset_id), answers=answers, at=at)
