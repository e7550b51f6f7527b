"""The append-only audit log and the sign-offs of the reviews built on it.

AuditEvent rows are never updated or deleted: database triggers reject it, and in
PostgreSQL the application's role holds only INSERT and SELECT on the table. Each event is
chained to the one before it by a keyed hash (audit/chain.py). An event names its client
for tenant scoping, but is read only by auditors and managers through audit/selectors.py.
Event details never hold a secret (audit.record refuses secret-looking keys).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS

_NO_SCOPE = uuid.UUID(int=0)


class ActorKind(models.TextChoices):
    USER = "user", "Staff member"
    TOKEN = "token", "API token"
    SYSTEM = "system", "System job"
    ANONYMOUS = "anonymous", "Link holder or anonymous"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    ERROR = "error", "Error"


class AuditEvent(models.Model):
    """One security-relevant action. `sequence` is gap-free and orders the hash chain."""

    sequence = models.PositiveBigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    # No database constraint: the event outlives the user row, and keeps the label.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254)
    actor_ref = models.CharField(
        max_length=64, blank=True, help_text="API token id or job name, when not a user."
    )
    action = models.CharField(max_length=64)
    client = models.ForeignKey(
        "tenants.Client",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    client_label = models.CharField(max_length=200, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    ticket = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    key_version = models.PositiveIntegerField()
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["action", "occurred_at"]),
            models.Index(fields=["client", "occurred_at"]),
            models.Index(fields=["actor_user", "occurred_at"]),
            models.Index(fields=["outcome", "occurred_at"]),
            # The monthly review streams a month's credential openings, looks back 90 days
            # for known addresses and counts problems: partial covering indexes answer them as
            # index-only scans on PostgreSQL (SQLite keeps them partial, without INCLUDE).
            # Measured at 5M events: 1,022 -> 254 ms, 309 -> 64 ms, 217 -> 7 ms (README).
            models.Index(
                fields=["occurred_at", "sequence"],
                include=[
                    "actor_user",
                    "client",
                    "ip_address",
                    "action",
                    "target_type",
                    "target_id",
                    "ticket",
                ],
                condition=models.Q(action__in=sorted(CREDENTIAL_ACCESS_ACTIONS), outcome="success"),
                name="audit_opening_time_idx",
            ),
            models.Index(
                fields=["occurred_at", "sequence"],
                include=["actor_user", "client", "action", "outcome"],
                condition=models.Q(outcome="denied") | models.Q(action="mfa.verification_failed"),
                name="audit_problem_time_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} by {self.actor_label}"


class AuditChainHead(models.Model):
    """The newest event's sequence and hash; its row lock orders every append."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="single_chain_head")]

    def __str__(self) -> str:
        return f"Audit chain head at #{self.sequence}"


class ReviewSignOff(models.Model):
    """A manager's signed monthly access review or quarterly hygiene audit; never changed."""

    class Kind(models.TextChoices):
        ACCESS_REVIEW = "access_review", "Monthly access review"
        HYGIENE_AUDIT = "hygiene_audit", "Quarterly hygiene audit"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    period_start = models.DateField(help_text="First day of the month or quarter reviewed.")
    client = models.ForeignKey(
        "tenants.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(default=timezone.now)
    notes = models.TextField(blank=True)
    findings = models.JSONField(
        default=list, help_text="The findings as signed, each with its disposition and note."
    )

    class Meta:
        ordering = ["-period_start", "-signed_at"]
        indexes = [models.Index(fields=["kind", "period_start"])]
        constraints = [
            # One sign-off per review and scope; an empty client or technician means "all".
            models.UniqueConstraint(
                F("kind"),
                F("period_start"),
                Coalesce(F("client"), Value(_NO_SCOPE), output_field=models.UUIDField()),
                Coalesce(F("technician"), Value(_NO_SCOPE), output_field=models.UUIDField()),
                name="one_sign_off_per_review_and_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.period_start:%Y-%m-%d}"


class SiemCursor(models.Model):
    """How far the SIEM feed got: the last event the SIEM acknowledged. One row.

    A forwarder leases the row (claimed under a row lock, held by time rather than by an open
    transaction) so that two workers never send the same events at once, and no transaction
    stays open while the SIEM is slow. Nothing here is secret.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.PositiveBigIntegerField(
        default=0, help_text="The last event the SIEM acknowledged; forwarding resumes after it."
    )
    leased_by = models.CharField(max_length=32, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="single_siem_cursor")]

    def __str__(self) -> str:
        return f"SIEM feed delivered up to #{self.sequence}"
