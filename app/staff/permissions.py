"""Who may do what in the staff console: the permission matrix, as data, and its one check.

The matrix is the single source: views call :func:`authorize` before they call a
service (so a hand-made POST is refused, not just a hidden button), templates ask
:func:`allowed` only to decide what to show, and ``docs/permissions.md`` is this
table written out. Refusals answer 403 whatever the object; a permitted role gets
404 for another tenant's object, as for an id that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext, lazy_gettext

from app.errors import Forbidden

ROLES = ("viewer", "editor", "dpo")


@dataclass(frozen=True)
class Permission:
    action: str
    roles: frozenset[str]
    what: str  # English; the README table


def _p(action: str, roles: str, what: str) -> Permission:
    return Permission(action, frozenset(roles.split()), what)


PERMISSIONS: tuple[Permission, ...] = (
    _p("console.read", "viewer editor dpo",
       "Dashboard; persons, consents and consent requests (without their signing links); asset look-up; "
       "addenda and contacts (read); a person's or consent's own audit trail"),
    _p("records.download", "viewer editor dpo", "Download the sealed PDF record of a consent or an addendum"),
    _p("requests.send", "editor dpo", "Send a consent request; see signing links and QR codes"),
    _p("persons.manage", "editor dpo", "Register persons, link and unlink assets"),
    _p("assets.manage", "editor dpo", "Edit an asset's persons expected and legal bases"),
    _p("objections.withdraw", "editor dpo", "Withdraw an objection (Art. 21) the person took back through staff"),
    _p("consents.withdraw", "editor dpo", "Record a withdrawal the data subject asked for through staff"),
    _p("addenda.send", "editor dpo", "Send a DPA addendum for signing"),
    _p("consents.revoke", "dpo", "Revoke a consent (the controller ends it)"),
    _p("addenda.revoke", "dpo", "Revoke a DPA addendum"),
    _p("persons.export", "dpo", "Export everything held on a person as JSON (GDPR Art. 15 and 20)"),
    _p("persons.erase", "dpo", "Erase a person (GDPR Art. 17)"),
    _p("contacts.edit", "dpo", "Edit the tenant contacts (DPO, incident, operations)"),
    _p("audit.read", "dpo", "Read the tenant's whole audit log and its chain verification"),
    _p("jobs.retry", "dpo", "Queue the tenant's failed PDF records and webhook deliveries once more"),
)

MATRIX: dict[str, frozenset[str]] = {p.action: p.roles for p in PERMISSIONS}

ROLE_LABELS = {
    "viewer": lazy_gettext("Viewer"),
    "editor": lazy_gettext("Editor"),
    "dpo": lazy_gettext("Data protection officer"),
}


def allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` may perform ``action``. Unknown actions are refused (fail closed)."""
    roles = MATRIX.get(action)
    if roles is None:
        raise KeyError(f"unknown console action {action!r}")
    return role in roles


def authorize(role: str | None, action: str) -> None:
    """Raise 403 unless ``role`` may perform ``action``."""
    if not allowed(role, action):
        raise Forbidden(gettext("Your role does not allow this action."))


def as_markdown() -> str:
    """The matrix as a Markdown table (docs/permissions.md is generated from this)."""
    lines = [
        "| action | what it allows | viewer | editor | dpo |",
        "| --- | --- | :-: | :-: | :-: |",
    ]
    for p in PERMISSIONS:
        marks = " | ".join("✔" if role in p.roles else "—" for role in ROLES)
        lines.append(f"| `{p.action}` | {p.what} | {marks} |")
    return "\n".join(lines)
