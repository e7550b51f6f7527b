"""Intake submissions in the REST API: what a PSA tool or script sends, and the metadata it
gets back. Secrets, notes and TOTP seeds are write-only: no response ever carries them."""

from rest_framework import serializers

from accounts.models import Role
from intake.models import ReceivedVia
from intake.services.intakes import (
    NOTES_MAX,
    SECRET_MAX,
    SUBMISSION_ENTRIES_MAX,
    SYSTEM_NAME_MAX,
    TOTP_SEED_MAX,
    USERNAME_MAX,
)
from tenants.models import AccessLevel, System
from vault.hosts import HOST_MAX
from vault.models import Credential, CredentialType

LEVELS = {level.name.lower(): level for level in AccessLevel}
LEVEL_NAMES = {level: name for name, level in LEVELS.items()}
# Access levels by name, as every API resource shows them (the schema's AccessLevelEnum).
ACCESS_LEVEL_NAMES = list(LEVELS)


class IntakeAccessSerializer(serializers.Serializer):
    """A staff member (by id) or everyone with a role, at an access level to the client."""

    user_id = serializers.UUIDField(required=False, help_text="A staff member's id.")
    role = serializers.ChoiceField(
        choices=Role.choices, required=False, help_text="Everyone with this role."
    )
    level = serializers.ChoiceField(
        choices=ACCESS_LEVEL_NAMES, help_text="view, use, privileged or manage."
    )

    def validate(self, attrs: dict) -> dict:
        if ("user_id" in attrs) == ("role" in attrs):
            raise serializers.ValidationError("Name either a staff member (user_id) or a role.")
        return attrs


class IntakeEntryInSerializer(serializers.Serializer):
    """One system's credential. A system named like an existing one of the client is reused;
    a new one needs `system_kind`."""

    system_name = serializers.CharField(max_length=SYSTEM_NAME_MAX)
    system_kind = serializers.ChoiceField(
        choices=System.Kind.choices, required=False, help_text="Needed for a new system."
    )
    credential_type = serializers.ChoiceField(choices=CredentialType.choices)
    username = serializers.CharField(
        max_length=USERNAME_MAX,
        required=False,
        allow_blank=True,
        help_text="The account; only an API key may have none.",
    )
    access_method = serializers.ChoiceField(choices=Credential.AccessMethod.choices)
    host = serializers.CharField(
        max_length=HOST_MAX, required=False, allow_blank=True, help_text="Host name or URL."
    )
    secret = serializers.CharField(
        max_length=SECRET_MAX,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
    notes = serializers.CharField(
        max_length=NOTES_MAX,
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
    )
    totp_seed = serializers.CharField(
        max_length=TOTP_SEED_MAX, required=False, allow_blank=True, write_only=True
    )
    received_via = serializers.ChoiceField(
        choices=ReceivedVia.choices,
        help_text="The channel it reached the MSP by. Email and chat make the credential "
        "exposed with a rotation task due now; inherited makes it compromised.",
    )
    mfa_on_path = serializers.ChoiceField(choices=Credential.MfaOnPath.choices)
    last_rotated_on = serializers.DateField(
        required=False, allow_null=True, help_text="When the secret last changed, if known."
    )
    rotation_unknown = serializers.BooleanField(
        required=False, default=False, help_text="True when the last change is not known."
    )
    access = IntakeAccessSerializer(
        many=True, required=False, help_text="Who needs access to the client, and at what level."
    )

    def to_service(self, data: dict) -> dict:
        """The keyword arguments of intake_entry_save for one validated entry."""
        values = dict(data)
        values["access"] = [_access_to_service(item) for item in data.get("access", [])]
        return values


def _access_to_service(item: dict) -> dict:
    who = {"user_id": str(item["user_id"])} if "user_id" in item else {"role": item["role"]}
    return who | {"level": int(LEVELS[item["level"]])}


class IntakeSubmissionInSerializer(serializers.Serializer):
    client_id = serializers.UUIDField()
    entries = IntakeEntryInSerializer(many=True, max_length=SUBMISSION_ENTRIES_MAX)

    def to_service(self) -> dict:
        entry = IntakeEntryInSerializer()
        return {
            "client_id": self.validated_data["client_id"],
            "entries": [entry.to_service(data) for data in self.validated_data["entries"]],
        }


class IntakeSubmissionQuerySerializer(serializers.Serializer):
    client = serializers.UUIDField(required=False, help_text="Only this client's intakes.")


class IntakeClientSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()


class IntakeAccessOutSerializer(serializers.Serializer):
    user_id = serializers.UUIDField(required=False)
    role = serializers.CharField(required=False)
    level = serializers.CharField(help_text="view, use, privileged or manage.")

    def to_representation(self, item: dict) -> dict:
        who = {"role": item["role"]} if item.get("role") else {"user_id": item.get("user_id")}
        return who | {"level": LEVEL_NAMES.get(AccessLevel(item["level"]), "")}


class IntakeEntryOutSerializer(serializers.Serializer):
    """An entry as submitted: its metadata and what it became, never its sealed values."""

    id = serializers.UUIDField()
    system_name = serializers.CharField()
    system_kind = serializers.CharField(help_text="Empty when an existing system was named.")
    system_id = serializers.UUIDField(allow_null=True)
    credential_type = serializers.CharField()
    username = serializers.CharField()
    access_method = serializers.CharField()
    host = serializers.CharField()
    received_via = serializers.CharField()
    mfa_on_path = serializers.CharField()
    last_rotated_on = serializers.DateField(allow_null=True)
    rotation_unknown = serializers.BooleanField()
    access = IntakeAccessOutSerializer(many=True)
    credential_id = serializers.UUIDField(allow_null=True)
    credential_status = serializers.CharField(
        allow_null=True, help_text="active, exposed (email or chat) or compromised (inherited)."
    )


class IntakeSubmissionSerializer(serializers.Serializer):
    """A submitted intake's summary, as lists show it."""

    id = serializers.UUIDField()
    client = IntakeClientSerializer()
    status = serializers.CharField(help_text="Always submitted here.")
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField()
    submitted_by = serializers.EmailField(source="submitted_by.email", allow_null=True)
    entry_count = serializers.IntegerField()
    insecure_count = serializers.IntegerField(help_text="Entries received by email or chat.")


class IntakeSubmissionDetailSerializer(IntakeSubmissionSerializer):
    entries = IntakeEntryOutSerializer(many=True, source="entries.all")


def _problem_fields(errors, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(errors, dict):
        fields: dict[str, list[str]] = {}
        for key, value in errors.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            elif key == "non_field_errors":
                name = prefix or key
            else:
                name = f"{prefix}.{key}" if prefix else key
            fields.update(_problem_fields(value, name))
        return fields
    if isinstance(errors, list) and all(isinstance(item, str) for item in errors):
        return {prefix: [str(item) for item in errors]} if errors else {}
    if isinstance(errors, list):
        fields = {}
        for index, item in enumerate(errors):
            fields.update(_problem_fields(item, f"{prefix}[{index}]"))
        return fields
    return {prefix: [str(errors)]}


def problem_fields(errors) -> dict[str, list[str]]:
    """DRF's nested errors as flat field names: {"entries[2].username": ["…"]}."""
    return _problem_fields(errors)
