"""Credentials in the REST API: metadata out (never the secret, notes or TOTP seed), what
callers send to add, change, archive or reveal one, and the reveal's answer."""

from rest_framework import serializers

from tenants.serializers import ClientRefSerializer, SystemRefSerializer
from vault.models import Credential, CredentialType, PrivilegeTier, RotationRequiredReason
from vault.services.credentials import NAME_MAX, TICKET_MAX, USED_BY_MAX

EDITABLE_STATUSES = [
    (Credential.Status.ACTIVE, "Active"),
    (Credential.Status.EXPOSED, "Exposed"),
    (Credential.Status.COMPROMISED, "Compromised"),
]
SECRET_MAX = 4096
NOTES_MAX = 20000
TOTP_SEED_MAX = 512
REASON_MAX = 500


class CredentialSerializer(serializers.Serializer):
    """A credential's metadata, as IT Glue's passwords list shows it: no secret."""

    id = serializers.UUIDField(read_only=True)
    client = ClientRefSerializer(read_only=True)
    system = SystemRefSerializer(read_only=True, allow_null=True)
    name = serializers.CharField(read_only=True)
    credential_type = serializers.ChoiceField(choices=CredentialType.choices, read_only=True)
    privilege_tier = serializers.ChoiceField(choices=PrivilegeTier.choices, read_only=True)
    username = serializers.CharField(read_only=True)
    access_method = serializers.ChoiceField(choices=Credential.AccessMethod.choices, read_only=True)
    host = serializers.CharField(read_only=True)
    tags = serializers.SerializerMethodField()
    has_totp = serializers.BooleanField(
        source="has_totp_seed", read_only=True, help_text="A TOTP seed is stored (never shown)."
    )
    is_shared = serializers.BooleanField(read_only=True)
    is_emergency = serializers.BooleanField(
        read_only=True,
        help_text="A sealed emergency credential: never listed, never revealed "
        "through the API (it is opened in the browser, with a reason that alerts the managers).",
    )
    seal_broken_at = serializers.DateTimeField(read_only=True, allow_null=True)
    mfa_on_path = serializers.ChoiceField(choices=Credential.MfaOnPath.choices, read_only=True)
    used_by = serializers.CharField(
        read_only=True, help_text="Where the secret is configured (services, tasks, scripts)."
    )
    source = serializers.ChoiceField(choices=Credential.Source.choices, read_only=True)
    status = serializers.ChoiceField(choices=Credential.Status.choices, read_only=True)
    rotation_interval_days = serializers.IntegerField(read_only=True, allow_null=True)
    last_rotated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    next_rotation_due_at = serializers.DateTimeField(
        source="next_rotation_due", read_only=True, allow_null=True
    )
    rotation_required_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Set when a checkout ended or a seal was broken, until the secret changes.",
    )
    rotation_required_reason = serializers.ChoiceField(
        choices=RotationRequiredReason.choices, read_only=True, allow_blank=True
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_tags(self, credential: Credential) -> list[str]:
        # No query per row: a list page has `tag_names` attached from one query
        # (credential_tag_names_attach), a single credential its tags prefetched.
        names = getattr(credential, "tag_names", None)
        if names is None:
            names = [tag.name for tag in credential.tags.all()]
        return names

    def _datetime_field(self) -> serializers.DateTimeField:
        """The declared datetime field's twin, told the current time zone once per
        credential: DRF looks the zone up for every value, 8 of its 15 µs, six values a
        credential (issue 9). Made anew whenever the zone differs."""
        zone = self.fields["created_at"].default_timezone()
        kept = self.__dict__.get("_datetime_field_in")
        if kept is None or kept[0] is not zone:
            kept = (zone, serializers.DateTimeField(read_only=True, default_timezone=zone))
            self._datetime_field_in = kept
        return kept[1]

    def to_representation(self, credential: Credential) -> dict:
        """The fields above, in their order, built directly.

        DRF's generic walk (a get_attribute and a to_representation call per field, and two
        nested serializers) was about half of the 1,000-credential API list (issue 9); this
        gives the same dict for a fraction of that. Datetimes go through a DRF field in the
        current time zone, so their format and zone stay DRF's.
        tests/vault/test_api_credentials.py holds it equal to the generic walk.
        """
        moment = self._datetime_field().to_representation
        system = credential.system

        def at(value):
            return None if value is None else moment(value)

        return {
            "id": str(credential.pk),
            "client": {"id": str(credential.client.pk), "name": credential.client.name},
            "system": None if system is None else {"id": str(system.pk), "name": system.name},
            "name": credential.name,
            "credential_type": str(credential.credential_type),
            "privilege_tier": str(credential.privilege_tier),
            "username": credential.username,
            "access_method": str(credential.access_method),
            "host": credential.host,
            "tags": self.get_tags(credential),
            "has_totp": bool(credential.has_totp_seed),
            "is_shared": bool(credential.is_shared),
            "is_emergency": bool(credential.is_emergency),
            "seal_broken_at": at(credential.seal_broken_at),
            "mfa_on_path": str(credential.mfa_on_path),
            "used_by": credential.used_by,
            "source": str(credential.source),
            "status": str(credential.status),
            "rotation_interval_days": credential.rotation_interval_days,
            "last_rotated_at": at(credential.last_rotated_at),
            "next_rotation_due_at": at(credential.next_rotation_due),
            "rotation_required_at": at(credential.rotation_required_at),
            "rotation_required_reason": str(credential.rotation_required_reason),
            "created_at": at(credential.created_at),
            "updated_at": at(credential.updated_at),
        }


class CredentialFilterSerializer(serializers.Serializer):
    """The query parameters of the credential list; each one only narrows it."""

    client = serializers.UUIDField(required=False, help_text="Only this client's credentials.")
    credential_type = serializers.ChoiceField(choices=CredentialType.choices, required=False)
    tier = serializers.ChoiceField(
        choices=PrivilegeTier.choices, required=False, help_text="The privilege tier."
    )
    status = serializers.ChoiceField(
        choices=Credential.Status.choices,
        required=False,
        help_text="Archived credentials are listed only when asked for with status=archived.",
    )
    rotation_due = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="true: the next rotation is due now or earlier; false: not due yet, or no "
        "rotation schedule.",
    )
    updated_since = serializers.DateTimeField(
        required=False,
        help_text="Changed at or after this ISO 8601 date and time, e.g. 2025-01-31T09:00:00Z.",
        error_messages={
            "invalid": "Give an ISO 8601 date and time, e.g. 2025-01-31T09:00:00Z.",
        },
    )
    search = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Part of the name, username, host, system name or a tag, as the search box.",
    )


class CredentialWriteSerializer(serializers.Serializer):
    """What a caller sends to add a credential (POST) or change some of its fields (PATCH).

    The secret, notes and TOTP seed may be written; they are sealed and never sent back.
    """

    client = serializers.UUIDField(
        help_text="The client the credential belongs to; it cannot move to another later."
    )
    system = serializers.UUIDField(
        required=False, allow_null=True, help_text="One of the client's systems, or null."
    )
    name = serializers.CharField(max_length=NAME_MAX)
    credential_type = serializers.ChoiceField(choices=CredentialType.choices)
    privilege_tier = serializers.ChoiceField(
        choices=PrivilegeTier.choices,
        required=False,
        help_text="At least this tier; the type sets the tier, and this can only raise it.",
    )
    username = serializers.CharField(max_length=254, required=False, allow_blank=True)
    access_method = serializers.ChoiceField(choices=Credential.AccessMethod.choices, required=False)
    host = serializers.CharField(max_length=500, required=False, allow_blank=True)
    secret = serializers.CharField(
        max_length=SECRET_MAX,
        trim_whitespace=False,
        help_text="Required when adding; on a change, a new secret keeps the old one as a "
        "version. Never sent back.",
    )
    notes = serializers.CharField(
        max_length=NOTES_MAX,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Sealed; never sent back. An empty string clears them.",
    )
    totp_seed = serializers.CharField(
        max_length=TOTP_SEED_MAX,
        required=False,
        allow_blank=True,
        help_text="Base32 or an otpauth:// URI; sealed, never sent back. Empty clears it.",
    )
    is_shared = serializers.BooleanField(required=False)
    is_emergency = serializers.BooleanField(required=False)
    mfa_on_path = serializers.ChoiceField(choices=Credential.MfaOnPath.choices, required=False)
    rotation_interval_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=50
    )
    used_by = serializers.CharField(max_length=USED_BY_MAX, required=False, allow_blank=True)
    status = serializers.ChoiceField(
        choices=EDITABLE_STATUSES,
        required=False,
        help_text="Archive with the archive action instead.",
    )
    reason = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="On a change: why, kept with it in the audit log. Not used when adding.",
    )


class CredentialArchiveSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=REASON_MAX,
        error_messages={
            "required": "Say why this credential is being archived.",
            "blank": "Say why this credential is being archived.",
        },
    )


class CredentialRevealSerializer(serializers.Serializer):
    ticket = serializers.CharField(
        max_length=TICKET_MAX,
        required=False,
        allow_blank=True,
        help_text="The ticket this reveal is for: required with an API token, and when the "
        "client's vault policy asks for one.",
    )
    reason = serializers.CharField(
        max_length=REASON_MAX,
        required=False,
        allow_blank=True,
        help_text="Why the secret is needed; kept with the reveal in the audit log.",
    )


class TotpCodeSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    seconds_left = serializers.IntegerField(read_only=True)


class CredentialRevealedSerializer(serializers.Serializer):
    """The one answer of the API that carries a secret; never cached."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    username = serializers.CharField(read_only=True)
    secret = serializers.CharField(read_only=True)
    totp = TotpCodeSerializer(
        read_only=True,
        allow_null=True,
        help_text="The current code when the credential has a TOTP seed (shown and audited).",
    )
