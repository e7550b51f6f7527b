"""The intake entry form: input types only (the intake services check the rules).

Every field is optional here because a draft may be incomplete; submit names what is
missing. The secret, notes and TOTP seed are never echoed back into the form.
"""

from django import forms

from accounts.models import Role, User
from intake.models import IntakeEntry, ReceivedVia
from intake.services.intakes import ACCESS_FIELDS, SECRET_MAX
from tenants.models import AccessLevel, System
from vault.models import Credential, CredentialType

CHOOSE = [("", "Choose…")]
MFA_CHOICES = [
    *CHOOSE,
    (Credential.MfaOnPath.YES, "Yes"),
    (Credential.MfaOnPath.NO, "No"),
    (Credential.MfaOnPath.UNKNOWN, "Unknown"),
]
_ACCESS_LABELS = {
    AccessLevel.VIEW: "Needs view access",
    AccessLevel.USE: "Needs use access",
    AccessLevel.PRIVILEGED: "Needs privileged access",
    AccessLevel.MANAGE: "Needs manage access",
}


def _access_choices(staff: list[User]) -> list:
    people = [
        (f"user:{user.pk}", f"{user.full_name or user.email} ({user.email})") for user in staff
    ]
    roles = [(f"role:{role}", f"Everyone with the {role} role") for role in Role.values]
    return [("Staff", people), ("Roles", roles)]


def entry_data(entry: IntakeEntry) -> dict:
    """A saved entry as form data (its sealed values left out)."""
    data = {
        "system_name": entry.system_name,
        "system_kind": entry.system_kind,
        "credential_type": entry.credential_type,
        "username": entry.username,
        "access_method": entry.access_method,
        "host": entry.host,
        "last_rotated_on": entry.last_rotated_on.isoformat() if entry.last_rotated_on else "",
        "rotation_unknown": entry.rotation_unknown,
        "received_via": entry.received_via,
        "mfa_on_path": entry.mfa_on_path,
    }
    for level, field in ACCESS_FIELDS.items():
        data[field] = [
            f"role:{item['role']}" if item.get("role") else f"user:{item['user_id']}"
            for item in entry.access
            if item["level"] == level
        ]
    return data


class IntakeEntryForm(forms.Form):
    system_name = forms.CharField(
        label="System name",
        required=False,
        max_length=200,
        help_text="One of the client's systems, or a new one (DC01, Microsoft 365, FW01).",
        widget=forms.TextInput(attrs={"list": "intake-systems", "autocomplete": "off"}),
    )
    system_kind = forms.ChoiceField(
        label="Kind of system",
        required=False,
        choices=CHOOSE + System.Kind.choices,
        help_text="Needed when the system is new.",
    )
    credential_type = forms.ChoiceField(
        label="Credential type", required=False, choices=CHOOSE + CredentialType.choices
    )
    username = forms.CharField(label="Username or account", required=False, max_length=254)
    access_method = forms.ChoiceField(
        label="Access method", required=False, choices=CHOOSE + Credential.AccessMethod.choices
    )
    host = forms.CharField(
        label="Host or URL",
        required=False,
        max_length=500,
        help_text="A host name, an address, or an http(s) link.",
    )
    access_view = forms.MultipleChoiceField(label=_ACCESS_LABELS[AccessLevel.VIEW], required=False)
    access_use = forms.MultipleChoiceField(label=_ACCESS_LABELS[AccessLevel.USE], required=False)
    access_privileged = forms.MultipleChoiceField(
        label=_ACCESS_LABELS[AccessLevel.PRIVILEGED], required=False
    )
    access_manage = forms.MultipleChoiceField(
        label=_ACCESS_LABELS[AccessLevel.MANAGE],
        required=False,
        help_text="Choose staff, or a role for everyone who holds it when access is granted. "
        "Access is only ever raised, never lowered.",
    )
    last_rotated_on = forms.DateField(
        label="Last rotated on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    rotation_unknown = forms.BooleanField(label="Last rotation date unknown", required=False)
    received_via = forms.ChoiceField(
        label="Received via",
        required=False,
        choices=CHOOSE + ReceivedVia.choices,
        help_text="Email and chat expose a credential: it is rotated at once after submit.",
    )
    mfa_on_path = forms.ChoiceField(
        label="MFA on this access path", required=False, choices=MFA_CHOICES
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sealed with the client's key like the secret.",
    )
    clear_notes = forms.BooleanField(label="Remove the saved notes", required=False)
    totp_seed = forms.CharField(
        label="TOTP seed",
        required=False,
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    clear_totp_seed = forms.BooleanField(label="Remove the saved TOTP seed", required=False)
    secret = forms.CharField(
        label="Secret",
        required=False,
        strip=False,
        max_length=SECRET_MAX,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
        ),
        help_text="Sealed with the client's key as soon as you save; never shown again.",
    )

    def __init__(self, *args, staff: list[User], entry: IntakeEntry | None = None, **kwargs):
        """`staff`: who may be named as needing access; `entry`: the entry being edited."""
        super().__init__(*args, **kwargs)
        choices = _access_choices(staff)
        for field in ACCESS_FIELDS.values():
            self.fields[field].choices = choices
            self.fields[field].widget.attrs["size"] = 4
        if entry is None:
            del self.fields["clear_notes"]
            del self.fields["clear_totp_seed"]
            return
        if entry.secret is not None:
            self.fields["secret"].help_text = "A secret is saved. Leave this blank to keep it."
        if entry.notes is not None:
            self.fields["notes"].help_text = "Notes are saved. Leave this blank to keep them."
        else:
            del self.fields["clear_notes"]
        if entry.totp_seed is not None:
            self.fields["totp_seed"].help_text = "A seed is saved. Leave this blank to keep it."
        else:
            del self.fields["clear_totp_seed"]

    def entry_fields(self) -> dict:
        """The cleaned values as keyword arguments of intake_entry_save."""
        data = self.cleaned_data
        access = []
        for level, field in ACCESS_FIELDS.items():
            for value in data[field]:
                kind, _, ident = value.partition(":")
                key = "role" if kind == "role" else "user_id"
                access.append({key: ident, "level": int(level)})
        return {
            "system_name": data["system_name"],
            "system_kind": data["system_kind"],
            "credential_type": data["credential_type"],
            "username": data["username"],
            "access_method": data["access_method"],
            "host": data["host"],
            "access": access,
            "last_rotated_on": data["last_rotated_on"],
            "rotation_unknown": data["rotation_unknown"],
            "received_via": data["received_via"],
            "mfa_on_path": data["mfa_on_path"],
            "secret": data["secret"],
            "notes": "" if data.get("clear_notes") else (data["notes"] or None),
            "totp_seed": "" if data.get("clear_totp_seed") else (data["totp_seed"] or None),
        }
