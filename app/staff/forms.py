"""The console's form base and the sign-in forms (Flask-WTF). Posting forms carry a CSRF token;
search forms (GET) do not need one.

Forms check only what a person can fix in the form (a field left empty, a date
that is not a date); the business rules stay in the services, whose field errors
are copied onto these fields (:func:`apply_service_errors`). The domains' page
forms build on :class:`ConsoleForm`, :class:`SearchForm` and the fields here.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, RadioField, SelectMultipleField
from wtforms.validators import DataRequired, InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.text import has_control_characters


class ConsoleForm(FlaskForm):
    """Every console form: besides each field's own checks, no text may carry control characters
    (the services would refuse them, and a database may not even store them)."""

    def validate(self, extra_validators: Any = None) -> bool:
        ok = bool(super().validate(extra_validators))
        for field in self:
            if field.type in ("PasswordField", "CSRFTokenField"):
                continue
            values = field.data if isinstance(field.data, list) else [field.data]
            multiline = field.type == "TextAreaField"
            if any(isinstance(v, str) and has_control_characters(v, multiline=multiline) for v in values):
                field.errors = [*list(field.errors or []), str(_l("Remove the control characters from this field."))]
                ok = False
        return ok


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes (each one its own Tab stop, toggled with Space)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SearchForm(ConsoleForm):
    """Base for GET forms: nothing changes, so no CSRF token and no error summary unless asked."""

    class Meta:
        csrf = False


class ActionForm(ConsoleForm):
    """A button that changes something and needs nothing but the CSRF token (sign out, ...)."""


# --- sign-in ------------------------------------------------------------------

class LoginForm(ConsoleForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter your e-mail address.")), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")),
                                                         Length(max=1000)])
    next = HiddenField()


class TenantChoiceForm(ConsoleForm):
    tenant = RadioField(_l("Organisation"), validators=[InputRequired(_l("Choose an organisation."))])


def apply_service_errors(
    form: FlaskForm, errors: dict[str, Any] | None, mapping: dict[str, tuple[str, str]], fallback: str
) -> None:
    """Put a service's per-field complaints on the form's fields, in the console's language.

    ``mapping`` maps a service field to (form field, translated message). Anything the
    mapping does not place shows as ``fallback`` in the error summary.
    """
    placed = False
    for key in errors or {}:
        if key in mapping:
            field_name, message = mapping[key]
            field = form[field_name]
            field.errors = [*list(field.errors or []), message]
            placed = True
    if not placed:
        form.form_errors.append(fallback)
