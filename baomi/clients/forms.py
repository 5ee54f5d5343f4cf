from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from baomi.accounts.models import Department
from baomi.clients import uscc
from baomi.clients.models import ClientStatus, ServiceType
from baomi.clients.services import USCC_INVALID
from baomi.vault import validate


class DateInput(forms.DateInput):
    input_type = "date"


class SealedInput(forms.TextInput):
    """A text input that never writes a value into the page.

    Sealed values reach the browser only through an allowed, recorded read (shown beside
    the input); a re-shown form after an error asks for them again instead of echoing
    what was typed."""

    def format_value(self, value: object) -> str | None:
        return None


class SealedTextarea(forms.Textarea):
    def format_value(self, value: object) -> str | None:
        return None


def checked(cleaner: Callable[[str], tuple[str, str | None]], value: str) -> str:
    """The normalized value from one of `services.*_clean`, or its localized problem as a
    form error."""
    text, problem = cleaner(value)
    if problem:
        raise forms.ValidationError(problem)
    return text


class SealedFieldsMixin(forms.Form):
    """Sealed fields with a "remove the stored value" box each. Blank keeps the stored
    value; a value replaces it; the box clears it."""

    SEALED: tuple[str, ...] = ()

    def sealed_changes(self) -> dict[str, str]:
        """Field → new plaintext ("" clears) for what the submit changes, nothing else."""
        out: dict[str, str] = {}
        for name in self.SEALED:
            value = self.cleaned_data.get(name) or ""
            if value:
                out[name] = value
            elif self.cleaned_data.get(f"clear_{name}"):
                out[name] = ""
        return out

    def sealed_typed(self) -> bool:
        """Whether the submit carried any sealed value (which the re-shown form drops)."""
        return any((self.data.get(name) or "").strip() for name in self.SEALED)

    def sealed_rows(self, shown: dict[str, str | None]) -> list[dict[str, object]]:
        """Template rows: the input, its remove box, and the stored value's state (None:
        stored and masked, "": nothing stored, text: revealed by an allowed read)."""
        return [
            {
                "field": self[name],
                "clear": self[f"clear_{name}"],
                "value": shown.get(name, ""),
                "stored": shown.get(name, "") != "",
            }
            for name in self.SEALED
        ]


def clear_field() -> forms.BooleanField:
    """The "remove the stored value" box beside a sealed field."""
    return forms.BooleanField(label=_("Remove the stored value"), required=False)


def id_number_field(label: Any = None) -> forms.CharField:
    """A sealed ID-number input (checked by `validate.id_number_clean`)."""
    return forms.CharField(
        label=label or _("ID number"),
        max_length=40,
        required=False,
        widget=SealedInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


def mobile_field() -> forms.CharField:
    """A sealed mobile-number input (checked by `validate.mobile_clean`)."""
    return forms.CharField(
        label=_("Mobile"),
        max_length=40,
        required=False,
        widget=SealedInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )


class ClientForm(SealedFieldsMixin, forms.Form):
    name = forms.CharField(label=_("Enterprise name"), max_length=200)
    uscc = forms.CharField(
        label=_("Unified social credit code"),
        max_length=40,
        help_text=_("18 characters; the last one is a check character."),
    )
    legal_representative = forms.CharField(label=_("Legal representative"), max_length=100)
    status = forms.ChoiceField(label=_("Status"), choices=ClientStatus.choices)
    service_types = forms.ModelMultipleChoiceField(
        label=_("Services"),
        queryset=ServiceType.objects.all(),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    department = forms.ModelChoiceField(
        label=_("Responsible department"), queryset=Department.objects.all(), required=False
    )
    service_started_on = forms.DateField(
        label=_("Service started"), required=False, widget=DateInput
    )
    service_ended_on = forms.DateField(label=_("Service ended"), required=False, widget=DateInput)
    deregistered_on = forms.DateField(label=_("Deregistered on"), required=False, widget=DateInput)
    # Sealed by the vault door under the client's key.
    legal_rep_id_number = id_number_field(_("Legal representative's ID number"))
    bank_account = forms.CharField(
        label=_("Bank account"),
        max_length=64,
        required=False,
        widget=SealedInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    address = forms.CharField(
        label=_("Address"), max_length=300, required=False, widget=SealedInput
    )
    notes = forms.CharField(
        label=_("Notes"),
        max_length=5000,
        required=False,
        widget=SealedTextarea(attrs={"rows": 3}),
    )
    clear_legal_rep_id_number = clear_field()
    clear_bank_account = clear_field()
    clear_address = clear_field()
    clear_notes = clear_field()

    # Display order; the same names as services.SEALED_CLIENT_FIELDS.
    SEALED = ("legal_rep_id_number", "bank_account", "address", "notes")

    def clean_legal_rep_id_number(self) -> str:
        return checked(validate.id_number_clean, self.cleaned_data["legal_rep_id_number"])

    def clean_bank_account(self) -> str:
        return checked(validate.bank_account_clean, self.cleaned_data["bank_account"])

    def clean_uscc(self) -> str:
        # Checked here too so that one submit shows every problem at once.
        code = uscc.normalize(self.cleaned_data["uscc"])
        if not uscc.is_valid(code):
            raise forms.ValidationError(USCC_INVALID)
        return code

    # Service field names differ from form names in one place; map them back.
    FIELD_MAP = {"department_id": "department"}

    def add_service_errors(self, fields: dict[str, list[str]]) -> None:
        for name, msgs in fields.items():
            target = self.FIELD_MAP.get(name, name)
            for msg in msgs:
                self.add_error(target if target in self.fields else None, msg)


class SealedEmailInput(SealedInput):
    input_type = "email"


class ContactForm(SealedFieldsMixin, forms.Form):
    """A client's contact person; mobile, e-mail, ID number, address and notes are sealed
    by the vault door under the client's key."""

    name = forms.CharField(label=_("Name"), max_length=100)
    title = forms.CharField(label=_("Title"), max_length=100, required=False)
    is_primary = forms.BooleanField(label=_("Primary contact"), required=False)
    mobile = mobile_field()
    email = forms.EmailField(
        label=_("E-mail"), max_length=254, required=False, widget=SealedEmailInput
    )
    id_number = id_number_field()
    address = forms.CharField(
        label=_("Address"), max_length=300, required=False, widget=SealedInput
    )
    notes = forms.CharField(
        label=_("Notes"), max_length=5000, required=False, widget=SealedTextarea(attrs={"rows": 3})
    )
    clear_mobile = clear_field()
    clear_email = clear_field()
    clear_id_number = clear_field()
    clear_address = clear_field()
    clear_notes = clear_field()

    # Display order; the same names as services.CONTACT_SEALED_FIELDS.
    SEALED = ("mobile", "email", "id_number", "address", "notes")

    def clean_mobile(self) -> str:
        return checked(validate.mobile_clean, self.cleaned_data["mobile"])

    def clean_id_number(self) -> str:
        return checked(validate.id_number_clean, self.cleaned_data["id_number"])

    def add_service_errors(self, fields: dict[str, list[str]]) -> None:
        for name, msgs in fields.items():
            for msg in msgs:
                self.add_error(name if name in self.fields else None, msg)
