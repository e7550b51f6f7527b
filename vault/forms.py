from django import forms

from vault import generator
from vault.models import TIER_BY_TYPE, Credential, CredentialType, PrivilegeTier
from vault.services import share_links as share_link_services

TIER_OVERRIDE_CHOICES = [
    ("", "As the type implies"),
    (PrivilegeTier.SERVICE, "At least service"),
    (PrivilegeTier.HIGH, "High privilege"),
]
EDITABLE_STATUS_CHOICES = [
    (Credential.Status.ACTIVE, "Active"),
    (Credential.Status.EXPOSED, "Exposed"),
    (Credential.Status.COMPROMISED, "Compromised"),
]


class HiddenValueTextarea(forms.Textarea):
    """A textarea that never writes a value back into the page (notes are sealed)."""

    def format_value(self, value):
        return None


class CredentialForm(forms.Form):
    """A credential's fields; the secret, notes and seed are never rendered back."""

    name = forms.CharField(max_length=200)
    credential_type = forms.ChoiceField(label="Type", choices=CredentialType.choices)
    requested_tier = forms.ChoiceField(
        label="Privilege tier",
        choices=TIER_OVERRIDE_CHOICES,
        required=False,
        help_text="The type sets the tier; you can only raise it.",
    )
    system = forms.ModelChoiceField(queryset=None, required=False, empty_label="No system")
    username = forms.CharField(label="Username or account", max_length=254, required=False)
    access_method = forms.ChoiceField(choices=Credential.AccessMethod.choices)
    host = forms.CharField(
        label="Host or URL",
        max_length=500,
        required=False,
        help_text="A host name, an address, or an http(s) link.",
    )
    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        required=False,
        strip=False,
        max_length=4096,
    )
    generate = forms.BooleanField(
        label="Generate a password when the secret is left empty", required=False
    )
    generate_length = forms.IntegerField(
        label="Generated length",
        min_value=generator.PASSWORD_MIN_LENGTH,
        max_value=generator.PASSWORD_MAX_LENGTH,
        initial=24,
        required=False,
    )
    generate_symbols = forms.BooleanField(
        label="Generated password includes symbols", required=False, initial=True
    )
    notes = forms.CharField(
        widget=HiddenValueTextarea(attrs={"rows": 3}), required=False, strip=False, max_length=20000
    )
    used_by = forms.CharField(
        label="Used by",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
        help_text="Where this secret is configured: services, scheduled tasks, app pools, "
        "scripts. Not secret; shown after every rotation so they get the new one.",
    )
    totp_seed = forms.CharField(
        label="TOTP seed",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        required=False,
        max_length=512,
    )
    is_shared = forms.BooleanField(label="Shared team credential", required=False)
    is_emergency = forms.BooleanField(
        label="Sealed emergency credential (break glass)",
        required=False,
        help_text="Kept out of lists and search; opened from the Emergency section with a "
        "reason, which alerts every manager.",
    )
    mfa_on_path = forms.ChoiceField(
        label="MFA on this access path",
        choices=Credential.MfaOnPath.choices,
        initial=Credential.MfaOnPath.UNKNOWN,
    )
    rotation_interval_days = forms.IntegerField(
        label="Rotate every (days)", min_value=1, max_value=3650, required=False
    )
    tags = forms.CharField(
        max_length=500, required=False, help_text="Separated by commas, e.g. m365, backup."
    )

    editing = False

    def __init__(self, *args, systems, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = systems

    def clean(self):
        cleaned = super().clean()
        if not self.editing and not cleaned.get("secret") and not cleaned.get("generate"):
            self.add_error("secret", "Enter the secret, or tick Generate.")
        return cleaned

    def chosen_secret(self) -> str:
        """The typed secret, a generated one if asked for, or "" (keep the current one)."""
        data = self.cleaned_data
        if data.get("secret"):
            return data["secret"]
        if data.get("generate"):
            return generator.password_generate(
                length=data.get("generate_length") or 24,
                symbols=bool(data.get("generate_symbols")),
            )
        return ""

    def tag_names(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]

    def metadata(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "credential_type": data["credential_type"],
            "requested_tier": data.get("requested_tier") or "",
            "system": data.get("system"),
            "username": data.get("username", ""),
            "access_method": data["access_method"],
            "host": data.get("host", ""),
            "is_shared": data.get("is_shared", False),
            "is_emergency": data.get("is_emergency", False),
            "mfa_on_path": data["mfa_on_path"],
            "rotation_interval_days": data.get("rotation_interval_days"),
            "used_by": data.get("used_by", ""),
            "tags": self.tag_names(),
        }


class CredentialEditForm(CredentialForm):
    status = forms.ChoiceField(choices=EDITABLE_STATUS_CHOICES)
    clear_notes = forms.BooleanField(label="Remove the notes", required=False)
    clear_totp_seed = forms.BooleanField(label="Remove the TOTP seed", required=False)
    reason = forms.CharField(label="Why (kept with the change)", max_length=200, required=False)

    editing = True

    def __init__(self, *args, credential: Credential, **kwargs):
        derived = TIER_BY_TYPE.get(credential.credential_type, PrivilegeTier.STANDARD)
        kwargs.setdefault(
            "initial",
            {
                "name": credential.name,
                "credential_type": credential.credential_type,
                "requested_tier": ""
                if credential.privilege_tier == derived
                else credential.privilege_tier,
                "system": credential.system_id,
                "username": credential.username,
                "access_method": credential.access_method,
                "host": credential.host,
                "is_shared": credential.is_shared,
                "is_emergency": credential.is_emergency,
                "mfa_on_path": credential.mfa_on_path,
                "rotation_interval_days": credential.rotation_interval_days,
                "used_by": credential.used_by,
                "tags": ", ".join(tag.name for tag in credential.tags.all()),
                "status": credential.status,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["secret"].help_text = "Leave empty to keep the current secret."
        self.fields["notes"].help_text = "Leave empty to keep the current notes."
        self.fields["totp_seed"].help_text = "Leave empty to keep the current seed."

    def sealed_changes(self) -> dict:
        """Only the sealed fields the person asked to change (None keeps a value)."""
        data = self.cleaned_data
        notes = data.get("notes") or None
        if data.get("clear_notes"):
            notes = ""
        seed = data.get("totp_seed") or None
        if data.get("clear_totp_seed"):
            seed = ""
        return {"secret": self.chosen_secret() or None, "notes": notes, "totp_seed": seed}


class ArchiveForm(forms.Form):
    reason = forms.CharField(label="Why archive it", max_length=500)


# --- Checkouts and client vault policy -------------------------------------------------------


class CheckoutRequestForm(forms.Form):
    ticket = forms.CharField(
        label="Ticket",
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    reason = forms.CharField(
        label="What is it for", max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    duration_minutes = forms.IntegerField(
        label="For how long (minutes)", min_value=5, max_value=7 * 24 * 60
    )

    def __init__(self, *args, policy, **kwargs):
        kwargs.setdefault("initial", {"duration_minutes": policy.checkout_default_minutes})
        super().__init__(*args, **kwargs)
        # The service refuses a longer time with the client's limit in its message.
        self.fields["duration_minutes"].widget.attrs["max"] = policy.checkout_max_minutes
        self.fields["duration_minutes"].help_text = f"Up to {policy.checkout_max_minutes} minutes."


class CheckoutNoteForm(forms.Form):
    note = forms.CharField(label="Note", max_length=500, required=False)


class VaultPolicyForm(forms.Form):
    reveal_ticket_required = forms.BooleanField(
        label="Every reveal and copy names a ticket", required=False
    )
    checkout_approval_required = forms.BooleanField(
        label="A manager approves each checkout before it starts", required=False
    )
    checkout_default_minutes = forms.IntegerField(
        label="Default checkout length (minutes)", min_value=5, max_value=7 * 24 * 60
    )
    checkout_max_minutes = forms.IntegerField(
        label="Longest checkout (minutes)",
        min_value=5,
        max_value=7 * 24 * 60,
        help_text="At most 10080 minutes (7 days).",
    )

    def clean(self):
        cleaned = super().clean()
        default = cleaned.get("checkout_default_minutes")
        longest = cleaned.get("checkout_max_minutes")
        if default is not None and longest is not None and default > longest:
            self.add_error(
                "checkout_default_minutes",
                f"The default ({default} minutes) cannot be longer than the longest "
                f"checkout ({longest} minutes).",
            )
        return cleaned


# --- One-time share links ---------------------------------------------------------------


class ShareLinkForm(forms.Form):
    """The share form of a credential's page; ids are prefixed so they are unique there."""

    recipient = forms.CharField(
        label="Recipient",
        max_length=share_link_services.RECIPIENT_MAX,
        help_text="The client contact's name or email, for your records and the audit log.",
    )
    expires_in_hours = forms.IntegerField(
        label="Expires after (hours)",
        min_value=1,
        max_value=share_link_services.EXPIRY_HOURS_MAX,
        initial=share_link_services.EXPIRY_HOURS_DEFAULT,
    )
    max_views = forms.IntegerField(
        label="Views allowed", min_value=1, max_value=share_link_services.VIEWS_MAX, initial=1
    )
    passphrase = forms.CharField(
        label="Passphrase (optional)",
        required=False,
        strip=False,
        max_length=share_link_services.PASSPHRASE_MAX,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Tell it to the contact by phone, not in the same email as the link.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "share_%s")
        super().__init__(*args, **kwargs)
