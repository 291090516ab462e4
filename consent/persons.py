"""Persons and their guardians: create, find, change.

Personal numbers are stored encrypted (context: the tenant id), found through a
keyed blind index and shown masked. They never appear in errors or audit refs.
Erasure and the access export live in :mod:`consent.gdpr`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.bounds import storable_instant
from app.crypto import Keyring
from app.db import utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.json_input import loads
from consent import personal_numbers
from consent.ids import is_plain_id
from consent.models import Person, PersonGuardian

MAX_GUARDIANS = 4
ADULT_AGE = 18
# Fields a PATCH may carry; ``name`` is the only one that cannot be cleared.
UPDATABLE = ("name", "country", "personal_number", "birth_date", "email", "phone", "external_ref", "guardian_ids")


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def is_minor(birth_date: date | None, today: date | None = None, minor_age: int = ADULT_AGE) -> bool | None:
    """Younger than ``minor_age`` today; None when the birth date is unknown."""
    if birth_date is None:
        return None
    return age_on(birth_date, today or date.today()) < minor_age


def get_person(session: Session, tenant_id: str, person_id: str) -> Person:
    """A person of this tenant that has not been erased (an erased person is gone for the API)."""
    if not is_plain_id(person_id):
        raise NotFound("No person with that id.")
    person = session.scalar(
        sa.select(Person)
        .where(Person.id == person_id, Person.tenant_id == tenant_id, Person.erased_at.is_(None))
        # As stored now, even when loaded earlier in the request: writers decide on it under the tenant lock.
        .execution_options(populate_existing=True)
    )
    if person is None:
        raise NotFound(f"No person with id {person_id}.")
    return person


def guardian_ids_of(person: Person) -> list[str]:
    return [guardian.id for guardian in person.guardians]


# --- personal numbers ---------------------------------------------------------

COUNTRY_NAMES = {"SE": "Swedish", "NO": "Norwegian", "DK": "Danish", "FI": "Finnish"}


@dataclass(frozen=True)
class NumberRules:
    """Which country's rules a number follows, and whether test numbers (Norwegian synthetic,
    Finnish temporary) pass: the caller says so from its configuration, never in production."""

    country: str = personal_numbers.DEFAULT_COUNTRY
    test_numbers: bool = False


def check_country(country: str) -> str:
    if country not in personal_numbers.COUNTRIES:
        raise Unprocessable(
            "country is not a supported country.",
            errors={"country": ["Must be one of: " + ", ".join(personal_numbers.COUNTRIES) + "."]},
        )
    return country


def normalised_pn(value: str, rules: NumberRules) -> str:
    """The stored form of ``value`` under its country's rules, or a 422 naming the field and the rule
    (never the number)."""
    check_country(rules.country)
    try:
        return personal_numbers.normalise(value, country=rules.country, test_numbers=rules.test_numbers)
    except personal_numbers.InvalidPersonalNumber as exc:
        kind = f"{COUNTRY_NAMES[rules.country]} {personal_numbers.word(rules.country)}"
        raise Unprocessable(
            f"personal_number is not a valid {kind}: {exc}.",
            errors={"personal_number": [f"Not a valid {kind}: {exc}."]},
        ) from None


def pn_index(keyring: Keyring, tenant_id: str, country: str, pn: str) -> str:
    """The blind index of a number within its country. Swedish numbers keep the index they had before
    persons had a country; the others carry their country, so equal digits of two countries differ."""
    value = pn if country == personal_numbers.DEFAULT_COUNTRY else f"{country}:{pn}"
    return keyring.blind_index(tenant_id, value)


def _set_personal_number(session: Session, keyring: Keyring, person: Person, pn: str | None) -> None:
    """Store an already normalised number of ``person.country`` (None clears it)."""
    if pn is None:
        person.pn_encrypted = person.pn_index = person.pn_masked = None
        return
    index = pn_index(keyring, person.tenant_id, person.country, pn)
    taken = session.scalar(
        sa.select(Person.id).where(
            Person.tenant_id == person.tenant_id, Person.pn_index == index, Person.id != person.id
        )
    )
    if taken:
        raise Conflict(
            "Another person in this tenant already has this personal number.",
            errors={"personal_number": ["Already registered for another person."]},
        )
    person.pn_encrypted = keyring.encrypt(pn, context=person.tenant_id)
    person.pn_index = index
    person.pn_masked = personal_numbers.mask(pn, person.country)


def _birth_date_for(pn: str | None, country: str, given: date | None) -> date | None:
    """The birth date a person gets: from the (normalised) personal number, which a given date must
    agree with."""
    if pn is None:
        return given
    derived = personal_numbers.birth_date_of(pn, country)
    if given is not None and given != derived:
        raise Unprocessable(
            "birth_date contradicts the birth date in personal_number.",
            errors={"birth_date": ["Does not match the personal number."]},
        )
    return derived


def _check_birth_date(value: date | None) -> None:
    if value is not None and (value > date.today() or value.year < personal_numbers.OLDEST_YEAR):
        raise Unprocessable(
            "birth_date is not a plausible birth date.",
            errors={"birth_date": ["Must not be in the future or before 1800."]},
        )


def _set_name(person: Person, name: str) -> None:
    person.name = name
    person.name_folded = name.casefold()


# --- guardians ------------------------------------------------------------------

def _check_guardians(session: Session, tenant_id: str, person_id: str | None, guardian_ids: list[str]) -> None:
    if len(guardian_ids) > MAX_GUARDIANS:
        raise Unprocessable(
            f"A person has at most {MAX_GUARDIANS} guardians.",
            errors={"guardian_ids": [f"At most {MAX_GUARDIANS} guardians."]},
        )
    if len(set(guardian_ids)) != len(guardian_ids):
        raise Unprocessable("guardian_ids lists a person twice.", errors={"guardian_ids": ["Duplicate ids."]})
    if person_id is not None and person_id in guardian_ids:
        raise Unprocessable(
            "A person cannot be their own guardian.", errors={"guardian_ids": ["Must not contain the person."]}
        )
    if not guardian_ids:
        return
    candidates = [gid for gid in guardian_ids if is_plain_id(gid)]
    found = set(
        session.scalars(
            sa.select(Person.id).where(
                Person.tenant_id == tenant_id, Person.id.in_(candidates), Person.erased_at.is_(None)
            )
        )
    )
    unknown = [gid for gid in guardian_ids if gid not in found]
    if unknown:
        raise Unprocessable(
            f"No person in this tenant with id {', '.join(unknown[:5])}.",
            errors={"guardian_ids": ["Unknown person ids: " + ", ".join(unknown[:5])]},
        )
    if person_id is not None:
        # One level of cycle: the person must not already be a guardian of their new guardian.
        circular = session.scalar(
            sa.select(PersonGuardian.person_id).where(
                PersonGuardian.tenant_id == tenant_id,
                PersonGuardian.guardian_id == person_id,
                PersonGuardian.person_id.in_(guardian_ids),
            )
        )
        if circular:
            raise Unprocessable(
                f"Person {circular} is this person's ward and cannot also be their guardian.",
                errors={"guardian_ids": [f"{circular} is a ward of this person."]},
            )


def _replace_guardians(session: Session, person: Person, guardian_ids: list[str]) -> None:
    session.execute(sa.delete(PersonGuardian).where(PersonGuardian.person_id == person.id))
    for position, guardian_id in enumerate(guardian_ids):
        session.add(
            PersonGuardian(
                tenant_id=person.tenant_id, person_id=person.id, guardian_id=guardian_id, position=position
            )
        )
    session.flush()
    session.expire(person, ["guardians"])


# --- create / update ------------------------------------------------------------

def create_person(
    session: Session,
    keyring: Keyring,
    tenant_id: str,
    actor: str,
    *,
    name: str,
    country: str = personal_numbers.DEFAULT_COUNTRY,
    personal_number: str | None = None,
    birth_date: date | None = None,
    email: str | None = None,
    phone: str | None = None,
    external_ref: str | None = None,
    guardian_ids: list[str] | None = None,
    test_numbers: bool = False,
) -> Person:
    guardian_ids = list(guardian_ids or [])
    _check_birth_date(birth_date)
    rules = NumberRules(check_country(country), test_numbers)
    pn = normalised_pn(personal_number, rules) if personal_number is not None else None
    birth = _birth_date_for(pn, country, birth_date)
    audit.lock_tenant(session, tenant_id)
    _check_guardians(session, tenant_id, None, guardian_ids)
    now = utcnow()
    person = Person(
        tenant_id=tenant_id, country=country, birth_date=birth, email=email, phone=phone, external_ref=external_ref,
        created_at=now, updated_at=now,
    )
    _set_name(person, name)
    session.add(person)
    session.flush()
    _set_personal_number(session, keyring, person, pn)
    _replace_guardians(session, person, guardian_ids)
    audit.append(session, tenant_id, "person.created", actor, {"person_id": person.id})
    return person


def update_person(
    session: Session, keyring: Keyring, tenant_id: str, person_id: str, actor: str, changes: dict[str, Any],
    *, test_numbers: bool = False,
) -> Person:
    """Apply a partial change; ``None`` clears an optional field, ``guardian_ids`` replaces the set.
    A new ``country`` needs a number of that country along (or none stored)."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise Unprocessable(f"Cannot change {', '.join(sorted(unknown))}.")
    audit.lock_tenant(session, tenant_id)
    person = get_person(session, tenant_id, person_id)
    changed: list[str] = []

    if "name" in changes:
        if changes["name"] is None:
            raise Unprocessable("name cannot be cleared.", errors={"name": ["Field may not be null."]})
        if changes["name"] != person.name:
            _set_name(person, changes["name"])
            changed.append("name")

    if "birth_date" in changes:
        _check_birth_date(changes["birth_date"])
    pn_given = "personal_number" in changes
    new_pn = changes.get("personal_number")
    before_country = person.country
    country = changes.get("country") or person.country
    if country != person.country:
        check_country(country)
        if person.pn_encrypted is not None and not pn_given:
            raise Unprocessable(
                "country changes what personal_number means: give the number of the new country too.",
                errors={"personal_number": ["Required when country changes and a number is stored."]},
            )
    if pn_given and new_pn is not None:
        new_pn = normalised_pn(new_pn, NumberRules(country, test_numbers))
        if country != person.country or pn_index(keyring, tenant_id, country, new_pn) != person.pn_index:
            person.country = country
            _set_personal_number(session, keyring, person, new_pn)
            changed.append("personal_number")
        birth = _birth_date_for(new_pn, country, changes.get("birth_date"))
        if birth != person.birth_date:
            person.birth_date = birth
            changed.append("birth_date")
    else:
        if pn_given and person.pn_index is not None:
            _set_personal_number(session, keyring, person, None)
            changed.append("personal_number")
        person.country = country
        if "birth_date" in changes:
            birth = changes["birth_date"]
            if person.pn_encrypted is not None:
                # The stored number still fixes the date: it can be restated, not changed or cleared.
                if birth is None:
                    raise Unprocessable(
                        "birth_date comes from personal_number and cannot be cleared on its own.",
                        errors={"birth_date": ["Clear personal_number too, or leave birth_date out."]},
                    )
                stored = keyring.decrypt(person.pn_encrypted, context=tenant_id)
                birth = _birth_date_for(stored, person.country, birth)
            if birth != person.birth_date:
                person.birth_date = birth
                changed.append("birth_date")

    if country != before_country:
        changed.append("country")
    for field in ("email", "phone", "external_ref"):
        if field in changes and changes[field] != getattr(person, field):
            setattr(person, field, changes[field])
            changed.append(field)

    if "guardian_ids" in changes:
        wanted = list(changes["guardian_ids"] or [])
        if wanted != guardian_ids_of(person):
            _check_guardians(session, tenant_id, person.id, wanted)
            _replace_guardians(session, person, wanted)
            changed.append("guardian_ids")

    if changed:
        person.updated_at = utcnow()
        session.flush()
        audit.append(
            session, tenant_id, "person.updated", actor, {"person_id": person.id, "fields": sorted(changed)}
        )
    return person


# --- search ---------------------------------------------------------------------

@dataclass(frozen=True)
class PersonPage:
    items: list[Person]
    next_cursor: str | None


def _encode_cursor(person: Person) -> str:
    raw = json.dumps([person.created_at.isoformat(), person.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, person_id = loads(raw)
        # A forged instant near year 1 or 9999 would overflow when the query converts it to UTC.
        at = storable_instant(datetime.fromisoformat(created))
        if at is None or not isinstance(person_id, str) or not is_plain_id(person_id):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error):
        raise Unprocessable(
            "cursor is not a cursor this API gave out.", errors={"cursor": ["Not a valid cursor."]}
        ) from None
    return at, person_id


def list_persons(
    session: Session,
    keyring: Keyring,
    tenant_id: str,
    *,
    q: str | None = None,
    external_ref: str | None = None,
    personal_number: str | None = None,
    country: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    test_numbers: bool = False,
) -> PersonPage:
    """Persons of the tenant, oldest first, keyset-paginated over (created_at, id); erased ones excluded.
    ``personal_number`` is read as a number of ``country`` (Swedish when none is given)."""
    query = (
        sa.select(Person)
        .where(Person.tenant_id == tenant_id, Person.erased_at.is_(None))
        .options(selectinload(Person.guardians))
        .order_by(Person.created_at, Person.id)
        .limit(limit + 1)
    )
    if q:
        query = query.where(Person.name_folded.contains(q.casefold(), autoescape=True))
    if external_ref is not None:
        query = query.where(Person.external_ref == external_ref)
    if country is not None:
        query = query.where(Person.country == check_country(country))
    if personal_number is not None:
        rules = NumberRules(country or personal_numbers.DEFAULT_COUNTRY, test_numbers)
        number = normalised_pn(personal_number, rules)
        query = query.where(Person.pn_index == pn_index(keyring, tenant_id, rules.country, number))
    if cursor:
        after_at, after_id = _decode_cursor(cursor)
        query = query.where(
            sa.or_(Person.created_at > after_at, sa.and_(Person.created_at == after_at, Person.id > after_id))
        )
    rows = list(session.scalars(query))
    more = len(rows) > limit
    items = rows[:limit]
    return PersonPage(items=items, next_cursor=_encode_cursor(items[-1]) if more and items else None)
