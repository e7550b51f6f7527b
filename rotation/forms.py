"""Rotation forms: input validation only (the services check bounds and rights)."""

from django import forms

from rotation.models import RotationPolicy, RotationReason, RotationTarget
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
        initial=32,
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

    def __init__(self, *args, policy: RotationPolicy | None = None, **kwargs):
        """`policy`: the client's rotation policy, whose password rules are the defaults."""
        super().__init__(*args, **kwargs)
        if policy is not None:
            self.fields["length"].initial = policy.password_length
            self.fields["symbols"].initial = policy.password_symbols
            if policy.password_exclude:
                self.fields["generate"].help_text = (
                    "Leaves out the characters this client's systems refuse: "
                    f"{policy.password_exclude}"
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
    password_length = forms.IntegerField(
        label="New passwords: length",
        required=False,
        help_text="16 to 128 characters (empty: 32). Automated rotation and the Generate "
        "button use these.",
    )
    password_symbols = forms.BooleanField(
        label="New passwords: include symbols",
        required=False,
        help_text="Untick for systems that accept only letters and digits.",
    )
    password_exclude = forms.CharField(
        label="New passwords: leave out these characters",
        required=False,
        max_length=200,
        strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Characters this client's systems refuse, e.g. $ ; ` (spaces are ignored). "
        "Look-alikes such as 0, O, 1 and l are always left out.",
    )

    def clean_password_length(self) -> int:
        length = self.cleaned_data["password_length"]
        return (
            RotationPolicy._meta.get_field("password_length").default if length is None else length
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


PORT_MESSAGE = "The port is a number from 1 to 65535."


class PrivilegedCredentialField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.username})" if obj.username else obj.name


class RotationTargetForm(forms.Form):
    """Where and how a credential is rotated automatically; the service checks what each
    connector needs. `privileged_choices` comes from a selector scoped to the person."""

    connector = forms.ChoiceField(
        label="Kind of system",
        choices=RotationTarget.Connector.choices,
        error_messages={
            "required": "Choose the kind of system this credential is on.",
            "invalid_choice": "Choose one of the kinds of system in the list.",
        },
    )
    host = forms.CharField(
        label="Host name or IP address",
        max_length=253,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={
            "required": "Enter the host name or IP address of the system.",
            "max_length": "A host name is at most 253 characters.",
        },
    )
    port = forms.IntegerField(
        label="Port",
        required=False,
        help_text="Empty: the usual port (PostgreSQL 5432, MariaDB 3306, LDAP 389, LDAPS 636, "
        "SSH 22).",
        error_messages={"invalid": PORT_MESSAGE},
    )
    database = forms.CharField(
        label="Database (PostgreSQL)",
        required=False,
        max_length=63,
        help_text="The database the privileged account logs in to; empty: postgres.",
        error_messages={"max_length": "A database name is at most 63 characters."},
    )
    base_dn = forms.CharField(
        label="Base DN (LDAP, Active Directory)",
        required=False,
        max_length=500,
        help_text="Where accounts are looked up, e.g. ou=people,dc=example,dc=com.",
        error_messages={"max_length": "The base DN is at most 500 characters."},
    )
    tls_mode = forms.ChoiceField(
        label="Encryption (LDAP, Active Directory)",
        required=False,
        choices=[("", "The connector's default"), *RotationTarget.TlsMode.choices],
        error_messages={"invalid_choice": "Choose StartTLS, TLS, or the connector's default."},
    )
    host_key = forms.CharField(
        label="SSH host key (Linux over SSH)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="The server's public key, “ssh-ed25519 AAAA…”. Fetch it and compare the "
        "fingerprint with the server's before saving.",
        error_messages={"max_length": "A host key is at most 2000 characters."},
    )
    privileged_credential = PrivilegedCredentialField(
        label="Privileged credential",
        queryset=None,
        empty_label="Choose the account Keyhold acts with",
        help_text="Another credential of this client, allowed to change this account's "
        "password on the system.",
        error_messages={
            "required": "Choose the privileged credential Keyhold acts with.",
            "invalid_choice": "Choose one of this client's credentials.",
        },
    )
    rotate_automatically = forms.BooleanField(
        label="Rotate by itself as soon as a rotation task opens",
        required=False,
        initial=True,
    )

    def __init__(self, *args, privileged_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["privileged_credential"].queryset = privileged_choices


class HostKeyFetchForm(forms.Form):
    """The address to fetch an SSH server's host key from, typed in the target form."""

    host = forms.CharField(
        max_length=253,
        error_messages={"required": "Enter the host name or IP address first."},
    )
    port = forms.IntegerField(required=False, error_messages={"invalid": PORT_MESSAGE})
