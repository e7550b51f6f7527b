"""Intake link forms: input validation only (the services check bounds, rights and state)."""

import re

from django import forms
from django.http import QueryDict

from intake.services import links as link_services
from vault.models import Credential, CredentialType

TYPE_CHOICES_OPTIONAL = [("", "Not sure"), *CredentialType.choices]
# The contact's inputs are named system-<requested system id>-<field>.
_VALUE_NAME = re.compile(
    r"^system-(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-"
    r"(?P<field>" + "|".join(link_services.VALUE_FIELDS) + r")$"
)
MFA_CHOICES = [
    (Credential.MfaOnPath.UNKNOWN, "I don't know"),
    (Credential.MfaOnPath.YES, "Yes, a second factor is asked for"),
    (Credential.MfaOnPath.NO, "No"),
]


class IntakeLinkForm(forms.Form):
    """Who the link is for and for how long; the systems come from RequestedSystemFormSet."""

    contact_name = forms.CharField(label="Contact name", max_length=link_services.CONTACT_NAME_MAX)
    contact_email = forms.EmailField(
        label="Contact email (optional)",
        required=False,
        help_text="For your records; Keyhold does not send the link. Send it yourself.",
    )
    message = forms.CharField(
        label="Message to the contact (optional)",
        max_length=link_services.MESSAGE_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown on the contact's page above the form.",
    )
    expires_in_hours = forms.IntegerField(
        label="Link valid for (hours)",
        min_value=1,
        max_value=link_services.EXPIRY_HOURS_MAX,
        initial=link_services.EXPIRY_HOURS_DEFAULT,
    )


class RequestedSystemForm(forms.Form):
    """One system whose credential the link asks for; a row without a name is left out."""

    system_name = forms.CharField(max_length=link_services.SYSTEM_NAME_MAX, required=False)
    credential_type = forms.ChoiceField(choices=TYPE_CHOICES_OPTIONAL, required=False)
    username_hint = forms.CharField(max_length=link_services.USERNAME_HINT_MAX, required=False)
    note = forms.CharField(max_length=link_services.NOTE_MAX, required=False)

    def __init__(self, *args, row: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system_name"].label = f"System {row} name"
        self.fields["credential_type"].label = f"System {row} credential type"
        self.fields["username_hint"].label = f"System {row} username hint"
        self.fields["note"].label = f"System {row} note"


class _RequestedSystemBaseFormSet(forms.BaseFormSet):
    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "row": (index or 0) + 1}

    def requested(self) -> list[dict]:
        """The rows with a system name, as intake_link_create takes them."""
        return [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data.get("system_name", "").strip()
        ]


RequestedSystemFormSet = forms.formset_factory(
    RequestedSystemForm,
    formset=_RequestedSystemBaseFormSet,
    extra=3,
    max_num=link_services.SYSTEMS_MAX,
    absolute_max=link_services.SYSTEMS_MAX,
    validate_max=True,
)
SYSTEMS_PREFIX = "systems"


def requested_systems_with_another_row(data: QueryDict) -> QueryDict:
    """The posted create form with one more empty system row (Add another system)."""
    data = data.copy()
    key = f"{SYSTEMS_PREFIX}-TOTAL_FORMS"
    try:
        rows = int(data.get(key, "0"))
    except ValueError:
        rows = 0
    data[key] = str(max(min(rows + 1, link_services.SYSTEMS_MAX), 1))
    return data


def intake_values_from_post(data: QueryDict) -> dict[str, dict[str, str]]:
    """The contact's values per requested system id, from inputs named system-<id>-<field>."""
    values: dict[str, dict[str, str]] = {}
    for name, value in data.items():
        match = _VALUE_NAME.match(name)
        if match:
            values.setdefault(match["id"], {})[match["field"]] = value
    return values


class StagedAcceptForm(forms.Form):
    """How a staged credential goes into the vault: its name, type, system and address."""

    name = forms.CharField(label="Name in the vault", max_length=200)
    credential_type = forms.ChoiceField(label="Credential type", choices=CredentialType.choices)
    system = forms.ChoiceField(label="System", required=False)
    host = forms.CharField(
        label="Host or URL",
        max_length=500,
        required=False,
        help_text="As the contact gave it; correct it if needed.",
    )

    def __init__(self, *args, systems: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = [("", "No system"), *systems]


class StagedRejectForm(forms.Form):
    reason = forms.CharField(
        label="Rejection reason",
        max_length=link_services.REJECT_REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
