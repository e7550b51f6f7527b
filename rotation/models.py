"""Rotation: per-client policies, rotation tasks with their reasons, and PSA tickets.

Tenant: every row belongs to one client (a task through its credential, repeated here for
the indexes managers' overdue views filter on). Secrecy: nothing here holds a secret; a
task is completed with a new secret that the vault seals as the credential's new version.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class RotationPolicy(models.Model):
    """How often a client's credentials are rotated; a client without a row gets the defaults.

    Per-credential intervals (vault Credential.rotation_interval_days) may only be shorter
    than the client's interval for that tier: a compliance framework asks for more, never less.
    """

    client = models.OneToOneField(
        "tenants.Client", on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    high_privilege_days = models.PositiveIntegerField(default=90)
    service_days = models.PositiveIntegerField(default=365)
    # The client's own password policy for standard user credentials; None: no schedule.
    standard_days = models.PositiveIntegerField(null=True, blank=True, default=None)
    rotate_high_privilege_on_staff_change = models.BooleanField(default=True)
    # How automated rotation (and "generate" on a manual one) makes new passwords.
    password_length = models.PositiveIntegerField(default=32)
    password_symbols = models.BooleanField(default=True)
    # Characters a client's systems refuse (legacy apps, shells, connection strings).
    password_exclude = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "rotation policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(high_privilege_days__gte=1, service_days__gte=1)
                & (Q(standard_days__isnull=True) | Q(standard_days__gte=1)),
                name="rotation_policy_intervals_positive",
            ),
            models.CheckConstraint(
                condition=Q(password_length__gte=16, password_length__lte=128),
                name="rotation_policy_password_length_bounds",
            ),
        ]

    def __str__(self) -> str:
        return f"Rotation policy of client {self.client_id}"


class RotationReason(models.TextChoices):
    SCHEDULE = "schedule", "Scheduled rotation"
    STAFF_CHANGE = "staff_change", "Staff change"
    CHECKOUT_ENDED = "checkout_ended", "Checkout ended"
    EMERGENCY_OPENED = "emergency_opened", "Emergency seal broken"
    EXPOSED = "exposed", "Exposed through an insecure channel"
    INHERITED = "inherited", "Inherited from a previous provider"
    SUSPECTED_COMPROMISE = "suspected_compromise", "Suspected compromise"
    MANUAL = "manual", "Manual request"


class RotationTask(models.Model):
    """The work of rotating one credential; at most one open task per credential.

    A new reason joins the open task (RotationTaskReason) and may only move its due time
    earlier. Done only with a new secret version (`completed_version`), unless a manager
    cancels it with a reason.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey(
        "vault.Credential", on_delete=models.PROTECT, related_name="rotation_tasks"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    due_at = models.DateTimeField()
    # The client's primary technician, or None for the managers' queue.
    owner = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rotation_tasks",
    )
    created_at = models.DateTimeField(default=timezone.now)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The version that held the old secret when the new one was saved (vault keeps it).
    replaced_version = models.ForeignKey(
        "vault.CredentialSecretVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancel_reason = models.CharField(max_length=500, blank=True)
    # PSA ticket: its id once opened, and what the PSA last said about it.
    psa_ticket_id = models.CharField(max_length=100, blank=True)
    psa_ticket_closed_at = models.DateTimeField(null=True, blank=True)
    psa_last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["credential"],
                condition=Q(status="open"),
                name="rotation_one_open_task_per_credential",
            ),
            models.CheckConstraint(
                condition=~Q(status="done")
                | (Q(completed_at__isnull=False) & Q(replaced_version__isnull=False)),
                name="rotation_task_done_has_new_version",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled")
                | (Q(cancelled_at__isnull=False) & ~Q(cancel_reason="")),
                name="rotation_task_cancelled_has_reason",
            ),
        ]
        indexes = [
            # "My rotation tasks" and overdue by owner.
            models.Index(
                fields=["owner", "due_at"], condition=Q(status="open"), name="rotation_mine_idx"
            ),
            # Overdue by client, reminders and escalation scans.
            models.Index(
                fields=["client", "due_at"], condition=Q(status="open"), name="rotation_client_idx"
            ),
            models.Index(fields=["due_at"], condition=Q(status="open"), name="rotation_due_idx"),
        ]

    def __str__(self) -> str:
        return f"Rotation of {self.credential_id} ({self.status})"

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due_at < timezone.now()


class RotationTaskReason(models.Model):
    """One reason a task exists; reasons that join an open task are kept in order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(RotationTask, on_delete=models.CASCADE, related_name="reasons")
    reason = models.CharField(max_length=32, choices=RotationReason.choices)
    detail = models.CharField(max_length=500, blank=True)
    added_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["added_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "reason"], name="rotation_reason_once_per_task"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} on {self.task_id}"


# --- PSA tickets -------------------------------------------------------------------------------


class PsaConnection(models.Model):
    """The MSP's PSA: which adapter, where, and its API secret sealed by the vault.

    One active connection at a time. `settings` holds the adapter's non-secret options (board
    or queue ids, ticket type, company mapping field). `sealed_secret` is the adapter's
    secret document (keys, passwords) sealed with vault.system_keys.system_seal, bound to
    this row; it never reaches a page, a log or a task argument.
    """

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Signed webhook"
        CONNECTWISE = "connectwise", "ConnectWise Manage"
        AUTOTASK = "autotask", "Autotask"
        HALOPSA = "halopsa", "HaloPSA"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    base_url = models.URLField(max_length=500)
    settings = models.JSONField(default=dict, blank=True)
    sealed_secret = models.BinaryField(null=True, blank=True, editable=False)
    # Shared secret a PSA callback proves itself with (hashed; shown once at creation).
    callback_token_hash = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="rotation_one_active_psa"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PsaCall(models.Model):
    """One call to make to the PSA for a task (open, update, close), retried until done.

    Written in the task's transaction, so a PSA outage never blocks or loses a task; the
    idempotency key keeps a retried "open" from making a second ticket.
    """

    class Operation(models.TextChoices):
        OPEN = "open", "Open ticket"
        UPDATE = "update", "Add a note"
        CLOSE = "close", "Close ticket"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(RotationTask, on_delete=models.PROTECT, related_name="psa_calls")
    connection = models.ForeignKey(PsaConnection, on_delete=models.PROTECT, related_name="+")
    operation = models.CharField(max_length=16, choices=Operation.choices)
    idempotency_key = models.CharField(max_length=64, unique=True)
    note = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(done_at__isnull=True),
                name="rotation_psa_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} for task {self.task_id}"


# --- Automated rotation ------------------------------------------------------------------------

ROTATION_ATTEMPT_RECORD_TYPE = "rotation.attempt"


class RotationTarget(models.Model):
    """Where and how a credential is rotated automatically (one per credential).

    The connector acts with `privileged_credential`, another vault credential of the same
    client; the account rotated is the credential's own username. Nothing here is secret:
    `host_key` is the SSH server's public key, pinned when the target is configured.
    """

    class Connector(models.TextChoices):
        POSTGRESQL = "postgresql", "PostgreSQL role"
        MARIADB = "mariadb", "MariaDB user"
        LDAP = "ldap", "LDAP user (password modify)"
        ACTIVE_DIRECTORY = "active_directory", "Active Directory user"
        SSH = "ssh", "Linux local account over SSH"

    class TlsMode(models.TextChoices):
        STARTTLS = "starttls", "StartTLS"
        TLS = "tls", "TLS from the start (LDAPS)"
        NONE = "none", "None (isolated lab networks only)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    credential = models.OneToOneField(
        "vault.Credential", on_delete=models.PROTECT, related_name="rotation_target"
    )
    connector = models.CharField(max_length=32, choices=Connector.choices)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField()
    database = models.CharField(max_length=63, blank=True)
    # LDAP: where accounts named by a plain username are searched for.
    base_dn = models.CharField(max_length=500, blank=True)
    tls_mode = models.CharField(max_length=16, choices=TlsMode.choices, blank=True)
    # SSH: the pinned server key, "ssh-ed25519 AAAA…" (OpenSSH known_hosts key part).
    host_key = models.CharField(max_length=2000, blank=True)
    privileged_credential = models.ForeignKey(
        "vault.Credential", on_delete=models.PROTECT, related_name="+"
    )
    # Start the rotation as soon as a task opens (else only on "Rotate now").
    rotate_automatically = models.BooleanField(default=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535), name="rotation_target_port_valid"
            ),
            models.CheckConstraint(
                condition=~Q(credential=models.F("privileged_credential")),
                name="rotation_target_not_its_own_privileged_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.host}:{self.port}"


class RotationAttempt(models.Model):
    """One automated rotation of a task's credential: pending → applied → verified → promoted.

    `pending_secret` is the new secret sealed with the client's key (bound to this row)
    BEFORE the target is touched, so a crash at any step leaves it recoverable; the old
    secret stays the credential's current version until promotion. A retry resumes the
    task's unpromoted attempt with this same secret, never a new one.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Changed on the target"
        VERIFIED = "verified", "Verified"
        PROMOTED = "promoted", "Promoted to current"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey(RotationTask, on_delete=models.PROTECT, related_name="attempts")
    # Kept when the target is removed later: the attempt stays in the credential's history.
    target = models.ForeignKey(
        RotationTarget, on_delete=models.SET_NULL, null=True, related_name="attempts"
    )
    connector = models.CharField(max_length=32, choices=RotationTarget.Connector.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    pending_secret = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    failed_step = models.CharField(max_length=16, blank=True)
    error = models.CharField(max_length=500, blank=True)
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["task"],
                condition=~Q(status="promoted"),
                name="rotation_one_unpromoted_attempt_per_task",
            ),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.pk} ({self.status})"
