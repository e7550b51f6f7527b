"""Rotation forms: input validation only (the services check bounds and rights)."""

from django import forms

from rotation.models import RotationReason
from vault.generator import (
    PASSPHRASE_MAX_WORDS,
    PASSPHRASE_MIN_WORDS,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
)

# Reasons a person gives; the others come from the schedule and the vault's marks.
REQUESTABLE_REASONS = [
    (RotationReason.MANUAL, RotationReason.MANUAL.label),
    (RotationReason.SUSPECTED_COMPROMISE, RotationReason.SUSPECTED_COMPROMISE.label),
    (RotationReason.EXPOSED, RotationReason.EXPOSED.label),
    (RotationReason.INHERITED, RotationReason.INHERITED.label),
    (RotationReason.STAFF_CHANGE, RotationReason.STAFF_CHANGE.label),
]


class RotationCompleteForm(forms.Form):
    """The new secret, typed or generated. The secret field is never echoed back."""

    new_secret = forms.CharField(
        label="New secret",
        required=False,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
        ),
        help_text="The password you set on the system. Or tick Generate below.",
    )
    generate = forms.BooleanField(label="Generate a new secret", required=False)
    kind = forms.ChoiceField(
        label="Kind",
        choices=[("password", "Password"), ("passphrase", "Passphrase")],
        initial="password",
        required=False,
        widget=forms.RadioSelect,
    )
    length = forms.IntegerField(
        label="Password length",
        min_value=PASSWORD_MIN_LENGTH,
        max_value=PASSWORD_MAX_LENGTH,
        initial=24,
        required=False,
    )
    symbols = forms.BooleanField(label="Include symbols", required=False, initial=True)
    words = forms.IntegerField(
        label="Passphrase words",
        min_value=PASSPHRASE_MIN_WORDS,
        max_value=PASSPHRASE_MAX_WORDS,
        initial=5,
        required=False,
    )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("generate") and not cleaned.get("new_secret"):
            self.add_error(
                "new_secret", "Enter the new secret, or tick Generate to let Keyhold make one."
            )
        if cleaned.get("generate") and cleaned.get("new_secret"):
            self.add_error("new_secret", "Either type the new secret or tick Generate, not both.")
        return cleaned


class RotationCancelForm(forms.Form):
    reason = forms.CharField(
        label="Why is this rotation not needed?",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RotationRequestForm(forms.Form):
    reason = forms.ChoiceField(label="Reason", choices=REQUESTABLE_REASONS)
    detail = forms.CharField(label="Detail (optional)", max_length=500, required=False)


class RotationPolicyForm(forms.Form):
    high_privilege_days = forms.IntegerField(
        label="High-privilege credentials: every (days)",
        help_text="Domain, firewall, cloud tenant and local admins. Default 90.",
    )
    service_days = forms.IntegerField(
        label="Service accounts and API keys: every (days)", help_text="Default 365."
    )
    standard_days = forms.IntegerField(
        label="Standard user credentials: every (days)",
        required=False,
        help_text="The client's own password policy; leave empty for no schedule.",
    )
    rotate_high_privilege_on_staff_change = forms.BooleanField(
        label="Rotate high-privilege credentials at once after a staff change",
        required=False,
    )


class CredentialIntervalForm(forms.Form):
    """A credential's own interval: shorter than the client's for its tier, or none."""

    credential = forms.ModelChoiceField(label="Credential", queryset=None)
    days = forms.IntegerField(
        label="Its own interval (days)",
        required=False,
        help_text="Empty: follow the client's interval.",
    )

    def __init__(self, *args, credentials, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["credential"].queryset = credentials
