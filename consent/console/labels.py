"""The consent domain's words on console pages: its states, usage-rights reasons, asset statuses, legal
bases, signer roles, contact roles."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from app.staff import formatting

# States of consents, addenda and signers (the records domain names its own).
STATUS_LABELS = {
    "pending": _l("Pending"),
    "given": _l("Given"),
    "refused": _l("Refused"),
    "withdrawn": _l("Withdrawn"),
    "revoked": _l("Revoked"),
    "expired": _l("Expired"),
    "signed": _l("Signed"),
    "declined": _l("Declined"),
}

REASON_LABELS = {
    "unknown_asset": _l("The asset is unknown"),
    "persons_unidentified": _l("Not every person in the asset is identified"),
    "no_linked_persons": _l("No persons are linked to the asset"),
    "legal_basis": _l("Allowed under the asset's legal basis"),
    "objected": _l("The person objected"),
    "erased": _l("The person has been erased"),
    "consent_given": _l("Consent given"),
    "withdrawn": _l("Consent withdrawn"),
    "revoked": _l("Consent revoked"),
    "expired": _l("Consent expired"),
    "not_yet_valid": _l("Consent not yet valid"),
    "purpose_not_covered": _l("The purpose is not covered"),
    "asset_not_covered": _l("The asset is not covered"),
    "signature_missing": _l("A signature is missing"),
    "refused": _l("Consent refused"),
    "no_consent": _l("No consent"),
}

# An asset's status for one purpose (consent.rights.STATUSES).
ASSET_STATUS_LABELS = {
    "unknown": _l("Unknown asset"),
    "no_persons": _l("No persons"),
    "persons_unidentified": _l("Persons unidentified"),
    "no_consent": _l("No consent"),
    "pending": _l("Consent pending"),
    "partial": _l("Partial consent"),
    "full": _l("Full cover"),
}

# GDPR Art. 6 legal bases other than consent (consent.assets.LEGAL_BASES).
LEGAL_BASIS_LABELS = {
    "contract": _l("Contract"),
    "legal_obligation": _l("Legal obligation"),
    "vital_interests": _l("Vital interests"),
    "public_task": _l("Public task"),
    "legitimate_interests": _l("Legitimate interests"),
}

SIGNER_ROLE_LABELS = {
    "subject": _l("The person"),
    "guardian": _l("Guardian"),
    "representative": _l("Representative"),
}

CONTACT_LABELS = {
    "dpo": _l("Data protection officer"),
    "incident": _l("Incident contact"),
    "operations": _l("Operations contact"),
}


def init_app(app: Flask) -> None:
    formatting.add_status_labels(app, STATUS_LABELS)
    app.jinja_env.globals.update(
        console_reason=lambda r: REASON_LABELS.get(r, r),
        console_role=lambda r: SIGNER_ROLE_LABELS.get(r, r),
        console_asset_status=lambda s: ASSET_STATUS_LABELS.get(s, s),
        console_basis=lambda b: LEGAL_BASIS_LABELS.get(b, b),
        console_contact_label=lambda r: CONTACT_LABELS.get(r, r),
    )
