"""Audit events in the REST API: the event as recorded (it never holds a secret), and the
filters of the list."""

from rest_framework import serializers

from audit.catalogue import ACTIONS
from audit.models import ActorKind, Outcome


class AuditEventSerializer(serializers.Serializer):
    sequence = serializers.IntegerField(read_only=True)
    occurred_at = serializers.DateTimeField(read_only=True)
    actor_kind = serializers.ChoiceField(choices=ActorKind.choices, read_only=True)
    actor_label = serializers.CharField(read_only=True, help_text="The person's email, or a name.")
    actor_ref = serializers.CharField(
        read_only=True, help_text='"api_token:<id>" when an API token acted, or a job name.'
    )
    action = serializers.CharField(read_only=True)
    outcome = serializers.ChoiceField(choices=Outcome.choices, read_only=True)
    client = serializers.UUIDField(source="client_id", read_only=True, allow_null=True)
    client_label = serializers.CharField(read_only=True)
    target_type = serializers.CharField(read_only=True)
    target_id = serializers.CharField(read_only=True)
    target_label = serializers.CharField(read_only=True)
    ticket = serializers.CharField(read_only=True)
    reason = serializers.CharField(read_only=True)
    ip_address = serializers.IPAddressField(read_only=True, allow_null=True)
    user_agent = serializers.CharField(read_only=True)
    request_id = serializers.CharField(read_only=True)
    details = serializers.DictField(read_only=True)
    previous_hash = serializers.CharField(read_only=True)
    entry_hash = serializers.CharField(read_only=True)


class AuditEventFilterSerializer(serializers.Serializer):
    """Query parameters of the event list; each one only narrows it."""

    client = serializers.UUIDField(required=False, help_text="A client's id.")
    action = serializers.CharField(
        required=False, max_length=64, help_text="An action of the audit catalogue."
    )
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    actor = serializers.EmailField(required=False, help_text="The acting person's email.")
    target_type = serializers.CharField(required=False, max_length=64)
    target_id = serializers.CharField(required=False, max_length=64)
    since = serializers.DateTimeField(
        required=False, help_text="Events at or after this time (ISO 8601)."
    )
    until = serializers.DateTimeField(
        required=False, help_text="Events before this time (ISO 8601)."
    )

    def validate_action(self, value: str) -> str:
        if value not in ACTIONS:
            raise serializers.ValidationError(
                "Unknown action: choose one from the audit catalogue."
            )
        return value

    def validate(self, attrs: dict) -> dict:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and until <= since:
            raise serializers.ValidationError({"until": "The 'until' time must be after 'since'."})
        return attrs
