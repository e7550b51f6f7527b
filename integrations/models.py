"""Integrations: API tokens for PSA tools and MSP scripts.

Tenant: a token acts within its creator's reach, narrowed by its scopes and, when set, its
clients; it never reaches more than the person who created it could. Secrecy: only the
token's SHA-256 is stored, with a short prefix for display; the token is shown once.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApiScope(models.TextChoices):
    CLIENTS_READ = "clients:read", "Read clients and systems"
    CREDENTIALS_READ = "credentials:read", "Read credential metadata"
    CREDENTIALS_REVEAL = "credentials:reveal", "Reveal secrets"
    CREDENTIALS_WRITE = "credentials:write", "Create and change credentials"
    CHECKOUTS_WRITE = "checkouts:write", "Request, approve and check in checkouts"
    ROTATION_READ = "rotation:read", "Read rotation tasks"
    ROTATION_WRITE = "rotation:write", "Complete rotation tasks"
    AUDIT_READ = "audit:read", "Read audit events"
    INTAKE_WRITE = "intake:write", "Submit intake entries"


class ApiToken(models.Model):
    """One integration's credential for the REST API, created by an administrator."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="api_tokens"
    )
    created_at = models.DateTimeField(default=timezone.now)
    scopes = models.JSONField(default=list)
    # Empty: every client the creator may see.
    clients = models.ManyToManyField("tenants.Client", blank=True, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)
    # Empty: any address. Otherwise CIDR networks ("203.0.113.0/24", "2001:db8::/48").
    allowed_networks = models.JSONField(default=list, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["created_by"],
                condition=Q(revoked_at__isnull=True),
                name="integrations_live_token_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def client_ids(self) -> list[uuid.UUID]:
        """The clients the token is limited to; empty when it reaches all its creator's."""
        return list(self.clients.values_list("pk", flat=True))


class WebhookEventType(models.TextChoices):
    """What an outbound webhook reports, from audit actions (integrations.services.webhooks)."""

    CREDENTIAL_REVEALED = "credential.revealed", "Credential revealed"
    CHECKOUT_REQUESTED = "credential.checkout_requested", "Checkout requested"
    EMERGENCY_OPENED = "credential.emergency_opened", "Emergency credential opened"
    ROTATION_TASK_CREATED = "rotation.task_created", "Rotation task created"
    ROTATION_TASK_OVERDUE = "rotation.task_overdue", "Rotation task overdue"
    OFFBOARDING_CASE_OPENED = "offboarding.case_opened", "Offboarding case opened"
    # Sent only by "Send test event"; not a type one subscribes to.
    TEST = "webhook.test", "Test event"


class WebhookSubscription(models.Model):
    """An MSP's endpoint that Keyhold POSTs signed events to (issue 8, outbound webhooks).

    Tenant: a subscription reaches only the clients its owner (the administrator who last
    saved it) can see, narrowed to `clients` when set; events without a client go only to
    unlimited subscriptions, and nothing is sent while the owner is deactivated. Secrecy:
    the signing secret is sealed with vault.system_keys.system_seal, bound to this row, shown
    once when created or rotated, and never reaches a page again, a log or a task argument.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    event_types = models.JSONField(default=list)
    sealed_secret = models.BinaryField(editable=False)
    secret_rotated_at = models.DateTimeField(default=timezone.now)
    # Empty: every client the owner can see.
    clients = models.ManyToManyField("tenants.Client", blank=True, related_name="+")
    is_active = models.BooleanField(default=True)
    # Events up to this audit sequence happened before the subscription existed.
    starts_after = models.PositiveBigIntegerField(default=0)
    owner = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self) -> str:
        return self.name

    def get_event_type_labels(self) -> list[str]:
        return [WebhookEventType(value).label for value in self.event_types]


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one subscription, with the outcome of each attempt.

    Tenant: `client` is the event's client; the delivery log shows an administrator only the
    deliveries of clients they can see (and those without a client). Secrecy: the payload is
    metadata (names, ids, the ticket reference), never a secret, ticket text or reason.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    audit_sequence = models.PositiveBigIntegerField()
    event_type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    # No database constraint: the delivery keeps its client as the audit event does.
    client = models.ForeignKey(
        "tenants.Client",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # The latest attempts, oldest first: {"at", "status_code", "error", "ms"}.
    attempt_log = models.JSONField(default=list, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "audit_sequence"], name="integrations_delivery_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="integrations_delivery_due_idx",
            ),
            models.Index(
                fields=["subscription", "-created_at"], name="integrations_delivery_log_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.audit_sequence} to {self.subscription_id}"


class WebhookCursor(models.Model):
    """One row: the last audit sequence the webhook collector has read (the outbox's cursor).

    Tenant and secrecy: none, a number.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    sequence = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"webhook cursor at {self.sequence}"
