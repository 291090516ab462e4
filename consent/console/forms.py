"""Forms of the consent domain's console pages (Flask-WTF), on the console's :class:`ConsoleForm`.

Forms check only what a person can fix in the form; the consent services keep the
business rules, and their field errors are copied onto these fields
(:func:`app.staff.forms.apply_service_errors`).
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from app.staff.forms import ConsoleForm, MultiCheckboxField, SearchForm
from app.text import EMAIL_PATTERN
from consent.contacts import ROLES as CONTACT_ROLES
from consent.personal_numbers.words import country_choices

_PHONE = r"^\+?[0-9][0-9 \-]{4,30}$"
_EMAIL_MESSAGE = _l("Enter an e-mail address like name@example.se.")
_PHONE_MESSAGE = _l("Enter a phone number with digits, like +46 70 123 45 67.")


# --- persons ------------------------------------------------------------------

class PersonSearchForm(SearchForm):
    q = StringField(_l("Name, external reference or personal number"), validators=[Optional(), Length(max=200)])
    country = SelectField(_l("Country of the personal number"), validators=[Optional()], validate_choice=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = [("", _l("Any country")), *country_choices()]


class PersonCreateForm(ConsoleForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the person's name.")), Length(max=200)])
    country = SelectField(_l("Country of the personal number"), default="SE")
    personal_number = StringField(
        _l("Personal number (optional)"),
        description=_l("Swedish personnummer, Norwegian fødselsnummer, Danish CPR-nummer or Finnish "
                       "henkilötunnus, of the country chosen above."),
        validators=[Optional(), Length(max=20)],
    )
    birth_date = DateField(_l("Date of birth (optional)"), validators=[Optional()])
    email = EmailField(_l("E-mail (optional)"), validators=[
        Optional(), Length(max=320), Regexp(EMAIL_PATTERN, message=_EMAIL_MESSAGE)])
    phone = StringField(_l("Phone (optional)"), validators=[
        Optional(), Regexp(_PHONE, message=_PHONE_MESSAGE)])
    external_ref = StringField(_l("External reference (optional)"), validators=[Optional(), Length(max=200)])
    guardians = TextAreaField(
        _l("Guardians (optional)"),
        description=_l("One per line: the guardian's personal number or external reference. "
                       "Register the guardians first."),
        validators=[Optional(), Length(max=2000)],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()


class LinkAssetForm(ConsoleForm):
    asset_id = StringField(_l("Asset id"), validators=[DataRequired(_l("Enter the asset id.")), Length(max=200)])


# --- consents -----------------------------------------------------------------

class ConsentFilterForm(SearchForm):
    status = SelectField(_l("State"), validators=[Optional()])
    purpose = SelectField(_l("Purpose"), validators=[Optional()])
    template = SelectField(_l("Template"), validators=[Optional()])
    expires = SelectField(_l("Expires"), validators=[Optional()])


class RevokeForm(ConsoleForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Give a reason for revoking.")),
                                                     Length(max=2000)])
    # Revoking cannot be undone: the post must carry this explicit confirmation.
    confirm = BooleanField(
        _l("I understand that revoking ends the consent now and cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm the revocation."))],
    )


class WithdrawForm(ConsoleForm):
    reason = TextAreaField(_l("What the person said (optional)"), validators=[Optional(), Length(max=2000)])
    # Withdrawing cannot be undone: the post must carry this explicit confirmation.
    confirm = BooleanField(
        _l("The person, or a guardian for a child, has asked to withdraw this consent."),
        validators=[DataRequired(_l("Tick the box to confirm the withdrawal."))],
    )


# --- consent requests ---------------------------------------------------------

def _asset_lines(value: str | None) -> list[str]:
    return [line.strip() for line in re.split(r"[\r\n,]+", value or "") if line.strip()]


class RequestForm(ConsoleForm):
    person_id = HiddenField(validators=[DataRequired()])
    template = HiddenField(validators=[DataRequired()])
    purposes = MultiCheckboxField(_l("Purposes"), validators=[InputRequired(_l("Choose at least one purpose."))])
    assets = MultiCheckboxField(_l("The person's linked assets"), validators=[Optional()])
    other_assets = TextAreaField(
        _l("Other asset ids (optional)"),
        description=_l("One per line. Leave every asset unticked and this empty to cover all the "
                       "person's assets, now and later."),
        validators=[Optional(), Length(max=200_000)],
    )
    locale = RadioField(_l("Language of the consent text"), validators=[InputRequired()])
    valid_until = DateField(_l("Valid until (optional)"),
                            description=_l("Leave empty to use the template's validity period."),
                            validators=[Optional()])

    def asset_ids(self) -> list[str] | None:
        chosen = list(dict.fromkeys([*(self.assets.data or []), *_asset_lines(self.other_assets.data)]))
        return chosen or None


# --- addenda and contacts -----------------------------------------------------

class AddendumRevokeForm(ConsoleForm):
    confirm = BooleanField(
        _l("I understand that revoking ends the approval now and cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm the revocation."))],
    )


class AddendumForm(ConsoleForm):
    kind = RadioField(_l("Addendum"), validators=[InputRequired(_l("Choose the addendum."))])
    locale = RadioField(_l("Language of the text"), validators=[InputRequired()])
    signer_name = StringField(_l("Signer's name"), validators=[DataRequired(_l("Enter the signer's name.")),
                                                               Length(max=200)])
    signer_email = EmailField(_l("Signer's e-mail (optional)"), validators=[
        Optional(), Length(max=320), Regexp(EMAIL_PATTERN, message=_EMAIL_MESSAGE)])
    signer_personal_number = StringField(
        _l("Signer's personal number (optional)"),
        description=_l("When given, only that person can sign with BankID."),
        validators=[Optional(), Length(max=20)],
    )


_REQUIRED = _l("Fill in every contact field.")


def _name() -> StringField:
    return StringField(_l("Name"), validators=[DataRequired(_REQUIRED), Length(max=200)])


def _email() -> EmailField:
    return EmailField(_l("E-mail"), validators=[DataRequired(_REQUIRED), Length(max=320),
                                               Regexp(EMAIL_PATTERN, message=_EMAIL_MESSAGE)])


def _phone() -> StringField:
    return StringField(_l("Phone"), validators=[DataRequired(_REQUIRED), Regexp(_PHONE, message=_PHONE_MESSAGE)])


class ContactsForm(ConsoleForm):
    dpo_name, dpo_email, dpo_phone = _name(), _email(), _phone()
    incident_name, incident_email, incident_phone = _name(), _email(), _phone()
    operations_name, operations_email, operations_phone = _name(), _email(), _phone()

    def as_payload(self) -> dict[str, dict[str, str]]:
        return {
            role: {field: (self[f"{role}_{field}"].data or "").strip() for field in ("name", "email", "phone")}
            for role in CONTACT_ROLES
        }


# --- GDPR, assets, audit ------------------------------------------------------

class EraseForm(ConsoleForm):
    confirm = BooleanField(
        _l("I have checked that this is the right person and that the erasure request is valid."),
        validators=[DataRequired(_l("Tick the box to confirm the erasure."))],
    )


class AssetLookupForm(SearchForm):
    asset_id = StringField(_l("Asset id"), validators=[DataRequired(_l("Enter the asset id.")), Length(max=200)])




class AssetEditForm(ConsoleForm):
    """Persons expected and, per purpose, a legal basis other than consent (fields added per purpose
    by :func:`asset_edit_form`)."""

    persons_expected = IntegerField(
        _l("Persons in the asset (optional)"),
        description=_l("How many people are in the picture. While fewer are linked, no purpose is allowed."),
        validators=[Optional(), NumberRange(min=0, max=10_000, message=_l("Enter a number from 0 to 10000."))],
    )


def asset_edit_form(purposes: list[tuple[str, str]], bases: list[tuple[str, str]], **kwargs: Any) -> AssetEditForm:
    """The edit form with one legal-basis choice per purpose (``purposes``: key and label;
    ``bases``: value and label, the empty value meaning consent decides)."""

    class Form(AssetEditForm):
        pass

    for key, label in purposes:
        setattr(Form, f"basis__{key}", SelectField(label, choices=bases, validators=[Optional()]))
    return Form(**kwargs)


class ObjectionWithdrawForm(ConsoleForm):
    # The legal basis applies to the person again: the post must carry this explicit confirmation.
    confirm = BooleanField(
        _l("The person has taken back their objection."),
        validators=[DataRequired(_l("Tick the box to confirm the withdrawal."))],
    )
