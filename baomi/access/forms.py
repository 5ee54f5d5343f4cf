"""Forms of the governance registry pages: partner organisations, the purpose list,
confidentiality agreements and training. They parse and check the shape of the input;
the services decide and record (and refuse duplicates, overlaps and bad scans), and
their field errors are put back on the form with `add_service_errors`.

Dates are whole days in the firm's time zone: a period "from D1 to D2" is
`[D1 00:00, D2 00:00)`, so "valid to" is the first day it no longer holds.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baomi.access.models import AgreementKind
from baomi.access.selectors import registry_agreement_kind
from baomi.accounts.models import Role, User

# An <input type=date> takes ISO dates only, whatever the active language's format.
DATE = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the current time zone (aware)."""
    return timezone.make_aware(datetime.combine(day, time.min))


class _ServiceErrors(forms.Form):
    # Service field names that differ from the form's.
    FIELD_MAP: dict[str, str] = {}

    def add_service_errors(self, fields: dict[str, list[Any]]) -> None:
        for name, msgs in fields.items():
            target = self.FIELD_MAP.get(name, name)
            for msg in msgs:
                self.add_error(target if target in self.fields else None, str(msg))


class _Period(_ServiceErrors):
    """`valid_from` / `valid_to` as dates; an inverted or empty period is refused here
    already (the service refuses it too, for the API)."""

    FIELD_MAP = {"valid_from": "valid_from", "valid_to": "valid_to"}
    valid_from = forms.DateField(label=_("Valid from"),
                                 widget=DATE)
    valid_to = forms.DateField(label=_("Valid to"),
                               widget=DATE,
                               help_text=_("The first day it no longer holds."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("valid_from"), data.get("valid_to")
        if start and end and end <= start:
            self.add_error("valid_to", _("The period ends before it starts."))
        return data

    def period(self) -> tuple[datetime, datetime]:
        return (day_start(self.cleaned_data["valid_from"]),
                day_start(self.cleaned_data["valid_to"]))


def _people() -> Any:
    return User.objects.filter(is_active=True).order_by("username")


class PersonChoice(forms.ModelChoiceField):  # type: ignore[type-arg]  # django-stubs generic
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj} ({obj.username}) · {obj.get_role_display()}"


class AgreementForm(_Period):
    """A signed agreement. The scan itself is read by the view (memory only, bounded)
    and checked by the service, which also refuses a type that does not serve the
    person's role (`agreement_kind_mismatch`, shown on the type). Once the person is
    known (the `person` entered or the page's `?person=`) the type offers only the one
    that fits; a client's portal user holds only the client agreement."""

    person = PersonChoice(label=_("Person"), queryset=User.objects.none())
    kind = forms.ChoiceField(label=_("Type"), choices=AgreementKind.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = _people()  # type: ignore[attr-defined]  # ModelChoiceField
        person = self._person()
        if person is not None:
            fitting = registry_agreement_kind(person.role)
            # Only what is offered: the posted value is still validated against every
            # type, so a mismatch reaches the service and gets its own error.
            self.fields["kind"].widget.choices = [
                (v, label) for v, label in AgreementKind.choices if v == fitting]
            if not self.is_bound:
                self.initial["kind"] = fitting

    def _person(self) -> User | None:
        raw = self.data.get("person") if self.is_bound else self.initial.get("person")
        try:
            pk = int(str(raw or ""))
        except ValueError:
            return None
        return User.objects.filter(pk=pk, is_active=True).first() if 0 < pk < 2**63 else None


class TrainingForm(_Period):
    person = PersonChoice(label=_("Person"), queryset=User.objects.none())
    course = forms.CharField(label=_("Course"), max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = _people().exclude(role=Role.CLIENT)  # type: ignore[attr-defined]  # ModelChoiceField


class RenewForm(_ServiceErrors):
    """Renewal: only the new end; it starts where the old one ends (or today)."""

    FIELD_MAP = {"valid_from": "valid_to"}
    valid_to = forms.DateField(label=_("New end (valid to)"),
                               widget=DATE)

    def __init__(self, *args: Any, starts: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.starts = starts

    def clean_valid_to(self) -> date:
        value: date = self.cleaned_data["valid_to"]
        if day_start(value) <= self.starts:
            raise forms.ValidationError(_("The new end must be after %(start)s.")
                                        % {"start": timezone.localtime(self.starts)
                                           .strftime("%Y-%m-%d %H:%M")})
        return value


class PartnerForm(_ServiceErrors):
    name = forms.CharField(label=_("Organisation name"), max_length=200)
    registration_no = forms.CharField(label=_("Registration number"), max_length=40,
                                      required=False)
    vetted_on = forms.DateField(label=_("Vetted on"), required=False,
                                widget=DATE)


class PurposeForm(_ServiceErrors):
    text = forms.CharField(label=_("Purpose"), max_length=100)
