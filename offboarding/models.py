"""Offboarding: a technician's departure or a client's exit, as a case with its evidence.

Tenant: a technician case spans every client the person could reach; its credential rows
each belong to one client and are shown only to staff who may see that client. A client case
belongs to its client. Secrecy: nothing here holds a secret; the handover export's
passphrase is shown once and never stored.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OffboardingCase(models.Model):
    """One departure (`subject` set) or one client exit (`client` set), open until every
    rotation task is done or a manager accepts the remaining risk with a written reason."""

    class Kind(models.TextChoices):
        TECHNICIAN = "technician", "Technician departure"
        CLIENT = "client", "Client offboarding"

    class Status(models.TextChoices):
        DRAFT = "draft", "Waiting for confirmation"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    subject = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client = models.ForeignKey(
        "tenants.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The moment access was removed: the departure, or the client's revocation.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Set when a manager closed the case with tasks still open.
    risk_accepted_reason = models.CharField(max_length=1000, blank=True)
    # Client cases: when the client's keys are crypto-shredded (retention), and when they were.
    shred_after = models.DateTimeField(null=True, blank=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="technician") & Q(subject__isnull=False) & Q(client__isnull=True))
                | (Q(kind="client") & Q(client__isnull=False) & Q(subject__isnull=True)),
                name="offboarding_case_subject_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["subject"],
                condition=Q(kind="technician") & ~Q(status="closed"),
                name="offboarding_one_live_departure_per_person",
            ),
            models.UniqueConstraint(
                fields=["client"],
                condition=Q(kind="client") & ~Q(status="closed"),
                name="offboarding_one_live_exit_per_client",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(closed_at__isnull=False),
                name="offboarding_closed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-opened_at"], name="offboarding_status_idx"),
            models.Index(
                fields=["shred_after"],
                condition=Q(shredded_at__isnull=True, shred_after__isnull=False),
                name="offboarding_shred_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk}"


class CaseCredential(models.Model):
    """A credential at risk in a departure, and why: the person could reveal it (assignment
    history and levels) and/or did reveal, check out or open it (audit log)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(OffboardingCase, on_delete=models.CASCADE, related_name="credentials")
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey("vault.Credential", on_delete=models.PROTECT, related_name="+")
    could_reveal = models.BooleanField(default=False)
    revealed = models.BooleanField(default=False)
    last_revealed_at = models.DateTimeField(null=True, blank=True)
    # Client exits: handed over to the client instead of rotated.
    handed_over = models.BooleanField(default=False)
    task = models.ForeignKey(
        "rotation.RotationTask", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "credential"], name="offboarding_credential_once_per_case"
            ),
        ]
        indexes = [models.Index(fields=["case", "client"], name="offboarding_case_client_idx")]

    def __str__(self) -> str:
        return f"{self.credential_id} in case {self.case_id}"


class CaseEvidence(models.Model):
    """One step of a case, timestamped and never changed: the evidence log.

    Each row names the audit event that records the same step, so the log can be checked
    against the tamper-evident chain.
    """

    class Step(models.TextChoices):
        OPENED = "opened", "Case opened"
        LOGIN_DISABLED = "login_disabled", "Login disabled"
        SESSIONS_ENDED = "sessions_ended", "Sessions ended"
        API_TOKENS_REVOKED = "api_tokens_revoked", "API tokens revoked"
        CHECKOUTS_ENDED = "checkouts_ended", "Checkouts ended"
        ACCESS_REVOKED = "access_revoked", "Access revoked"
        CREDENTIALS_ASSESSED = "credentials_assessed", "Credentials at risk assessed"
        ROTATION_REQUESTED = "rotation_requested", "Rotation tasks opened"
        CREDENTIAL_ROTATED = "credential_rotated", "Credential rotated"
        CREDENTIAL_HANDED_OVER = "credential_handed_over", "Credential handed over"
        HANDOVER_EXPORTED = "handover_exported", "Handover export created"
        CLIENT_OFFBOARDED = "client_offboarded", "Client set to offboarded"
        RISK_ACCEPTED = "risk_accepted", "Remaining risk accepted"
        CLOSED = "closed", "Case closed"
        KEYS_SHREDDED = "keys_shredded", "Client keys crypto-shredded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(OffboardingCase, on_delete=models.PROTECT, related_name="evidence")
    step = models.CharField(max_length=32, choices=Step.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    by_label = models.CharField(max_length=254, blank=True)
    client = models.ForeignKey(
        "tenants.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    credential = models.ForeignKey(
        "vault.Credential", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    detail = models.CharField(max_length=1000, blank=True)
    # The step's place in Step (the order a case runs in): steps written in one
    # transaction share their time, and this keeps them in that order.
    position = models.PositiveSmallIntegerField(default=0)
    # No database constraint, like every reference to the append-only log: the log's own
    # guards (no UPDATE, DELETE or TRUNCATE) must be what stops a change, not this row.
    audit_event = models.ForeignKey(
        "audit.AuditEvent",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["at", "position", "id"]
        indexes = [models.Index(fields=["case", "at"], name="offboarding_evidence_case_idx")]

    def __str__(self) -> str:
        return f"{self.step} at {self.at:%Y-%m-%d %H:%M}"
