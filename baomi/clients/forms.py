from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from baomi.accounts.models import Department
from baomi.clients import uscc
from baomi.clients.models import ClientStatus, ServiceType
from baomi.clients.services import USCC_INVALID


class DateInput(forms.DateInput):
    input_type = "date"


class ClientForm(forms.Form):
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
