"""Checkouts in the REST API: the lease's metadata (never the secret), and what callers send."""

from rest_framework import serializers

from vault.models import Checkout
from vault.services.checkouts import (
    CHECKOUT_MIN_MINUTES,
    CHECKOUT_NOTE_MAX,
    CHECKOUT_REASON_MAX,
    CHECKOUT_TICKET_MAX,
)


class CheckoutSerializer(serializers.Serializer):
    """A checkout as the API shows it; people are named by their email."""

    id = serializers.UUIDField(read_only=True)
    client = serializers.UUIDField(source="client_id", read_only=True)
    client_name = serializers.CharField(source="client.name", read_only=True)
    credential = serializers.UUIDField(source="credential_id", read_only=True)
    credential_name = serializers.CharField(source="credential.name", read_only=True)
    status = serializers.ChoiceField(choices=Checkout.Status.choices, read_only=True)
    requested_by = serializers.EmailField(source="requested_by.email", read_only=True)
    ticket = serializers.CharField(read_only=True)
    reason = serializers.CharField(read_only=True)
    duration_minutes = serializers.IntegerField(read_only=True)
    requested_at = serializers.DateTimeField(read_only=True)
    decided_by = serializers.EmailField(source="decided_by.email", read_only=True, allow_null=True)
    decided_at = serializers.DateTimeField(read_only=True, allow_null=True)
    decision_note = serializers.CharField(read_only=True)
    starts_at = serializers.DateTimeField(read_only=True, allow_null=True)
    expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    ended_at = serializers.DateTimeField(read_only=True, allow_null=True)
    ended_by = serializers.EmailField(source="ended_by.email", read_only=True, allow_null=True)
    end_note = serializers.CharField(read_only=True)


class CheckoutFilterSerializer(serializers.Serializer):
    """Query parameters of the checkout list; each one only narrows it."""

    status = serializers.ChoiceField(choices=Checkout.Status.choices, required=False)
    credential = serializers.UUIDField(required=False, help_text="A credential's id.")


class CheckoutCreateSerializer(serializers.Serializer):
    credential_id = serializers.UUIDField(help_text="The high-privilege credential to check out.")
    ticket = serializers.CharField(
        max_length=CHECKOUT_TICKET_MAX,
        error_messages={
            "required": "Enter the ticket number this checkout is for.",
            "blank": "Enter the ticket number this checkout is for.",
        },
    )
    reason = serializers.CharField(
        max_length=CHECKOUT_REASON_MAX,
        error_messages={
            "required": "Say what you need this credential for.",
            "blank": "Say what you need this credential for.",
        },
    )
    duration_minutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=CHECKOUT_MIN_MINUTES,
        help_text="How long the lease lasts; empty for the client's default. The client's "
        "vault policy sets the longest.",
    )


class CheckoutApproveSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=CHECKOUT_NOTE_MAX, required=False, allow_blank=True)


class CheckoutDenySerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=CHECKOUT_NOTE_MAX,
        help_text="Why the request is denied; the technician is told.",
        error_messages={
            "required": "Say why the request is denied, so the technician knows.",
            "blank": "Say why the request is denied, so the technician knows.",
        },
    )
