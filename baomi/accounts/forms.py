from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from baomi.accounts.models import NOT_STAFF_ROLES, Level, Role
from baomi.clients.forms import (
    SealedFieldsMixin,
    checked,
    clear_field,
    id_number_field,
    mobile_field,
)
from baomi.vault import validate


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class OtpForm(forms.Form):
    otp_token = forms.CharField(
        label=_("Verification code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text=_("The 6-digit code from your authenticator app, or a recovery code."),
    )


class StaffForm(SealedFieldsMixin, forms.Form):
    """A staff account: profile plus sealed personal data (mobile, ID number)."""

    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=_("Initial password"),
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    display_name = forms.CharField(label=_("Name"), max_length=100, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=254, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.ACCOUNTANT)
    department = forms.CharField(
        label=_("Department"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"list": "departments"}),
        help_text=_("An existing department, or a new name to create it."),
    )
    post = forms.CharField(label=_("Post"), max_length=100, required=False)
    clearance = forms.ChoiceField(
        label=_("Clearance"), choices=Level.choices, initial=Level.INTERNAL
    )
    # Sealed by the vault door under the firm key.
    mobile = mobile_field()
    id_number = id_number_field()
    clear_mobile = clear_field()
    clear_id_number = clear_field()

    SEALED = ("mobile", "id_number")

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            # The username is the sign-in name and the password the person's own.
            del self.fields["username"]
            del self.fields["password"]
            # Staff are not moved into the client or partner roles (`staff_change`):
            # only a person already in one is shown it.
            current = (kwargs.get("initial") or {}).get("role")
            role = cast(forms.ChoiceField, self.fields["role"])
            role.choices = [(value, label) for value, label in Role.choices
                            if value not in NOT_STAFF_ROLES or value == current]

    def clean_mobile(self) -> str:
        return checked(validate.mobile_clean, self.cleaned_data["mobile"])

    def clean_id_number(self) -> str:
        return checked(validate.id_number_clean, self.cleaned_data["id_number"])

    def add_service_errors(self, fields: dict[str, list[str]]) -> None:
        for name, msgs in fields.items():
            for msg in msgs:
                self.add_error(name if name in self.fields else None, msg)
