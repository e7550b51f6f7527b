"""Rotation tasks in the REST API: the task's metadata, and the new secret a caller sends.

The new secret is write-only: no response carries it, and the task shows version numbers only.
"""

from django.utils import timezone
from rest_framework import serializers

from rotation.models import RotationReason, RotationTask

NEW_SECRET_MAX = 4096


class RotationTaskReasonSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=RotationReason.choices, read_only=True)
    detail = serializers.CharField(read_only=True)
    added_at = serializers.DateTimeField(read_only=True)


class RotationTaskSerializer(serializers.Serializer):
    """A rotation task as the API shows it; people are named by their email."""

    id = serializers.UUIDField(read_only=True)
    client = serializers.UUIDField(source="client_id", read_only=True)
    client_name = serializers.CharField(source="client.name", read_only=True)
    credential = serializers.UUIDField(source="credential_id", read_only=True)
    credential_name = serializers.CharField(source="credential.name", read_only=True)
    status = serializers.ChoiceField(choices=RotationTask.Status.choices, read_only=True)
    due_at = serializers.DateTimeField(read_only=True)
    overdue = serializers.SerializerMethodField()
    owner = serializers.EmailField(source="owner.email", read_only=True, allow_null=True)
    reasons = RotationTaskReasonSerializer(many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    completed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    completed_by = serializers.EmailField(
        source="completed_by.email", read_only=True, allow_null=True
    )
    cancelled_at = serializers.DateTimeField(read_only=True, allow_null=True)
    cancelled_by = serializers.EmailField(
        source="cancelled_by.email", read_only=True, allow_null=True
    )
    cancel_reason = serializers.CharField(read_only=True)
    psa_ticket_id = serializers.CharField(read_only=True)

    def get_overdue(self, task: RotationTask) -> bool:
        """Open and past its due time."""
        return task.status == RotationTask.Status.OPEN and task.due_at < timezone.now()


class RotationTaskFilterSerializer(serializers.Serializer):
    """Query parameters of the task list; each one only narrows it."""

    client = serializers.UUIDField(required=False, help_text="A client's id.")
    status = serializers.ChoiceField(choices=RotationTask.Status.choices, required=False)
    overdue = serializers.BooleanField(
        required=False,
        help_text="true: open tasks past their due time; false: every other task.",
    )
    due_before = serializers.DateTimeField(
        required=False, help_text="Tasks due before this time (ISO 8601)."
    )
    mine = serializers.BooleanField(required=False, help_text="true: only the tasks you own.")


class RotationTaskCompleteSerializer(serializers.Serializer):
    new_secret = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=NEW_SECRET_MAX,
        style={"input_type": "password"},
        help_text="The secret now set on the system. Never returned, logged or audited.",
        error_messages={
            "required": "Enter the new secret you set on the system.",
            "blank": "Enter the new secret you set on the system.",
        },
    )
