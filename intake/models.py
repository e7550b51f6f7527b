"""Intake: a client's structured onboarding, client intake links with their staging area,
inherited-credential imports, and the takeover checklist.

Tenant: every row belongs to one client. Secrecy: `secret`, `notes` and `totp_seed` hold
values sealed by vault.envelope with the client's key, bound to (client, record type, id,
field) — a draft, a staged submission or an import preview row never holds plaintext, and
these values never reach a page, a log or an event. Tokens are stored as SHA-256 hashes.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

INTAKE_ENTRY_RECORD_TYPE = "intake.entry"
STAGED_CREDENTIAL_RECORD_TYPE = "intake.staged"
IMPORT_ROW_RECORD_TYPE = "intake.import_row"


class ReceivedVia(models.TextChoices):
    """How a credential reached the MSP; email and chat expose it (issue 6, item 3)."""

    ENTERED = "entered", "Entered here"
    INTAKE_LINK = "intake_link", "Client intake link"
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    PHONE = "phone", "Phone"
    INHERITED = "inherited", "Inherited from previous provider"


INSECURE_CHANNELS = frozenset({ReceivedVia.EMAIL, ReceivedVia.CHAT})


class Intake(models.Model):
    """The structured onboarding of one client: a draft of entries until submitted."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["client"],
                condition=Q(status="draft"),
                name="intake_one_draft_per_client",
            ),
            models.CheckConstraint(
                condition=~Q(status="submitted") | Q(submitted_at__isnull=False),
                name="intake_submitted_has_time",
            ),
        ]
        indexes = [models.Index(fields=["client", "-created_at"], name="intake_client_idx")]

    def __str__(self) -> str:
        return f"Intake of client {self.client_id} ({self.status})"


class IntakeEntry(models.Model):
    """One system's credential in an intake, with who needs access and how it arrived.

    `access` is a list of {"user_id": "<uuid>", "level": int} or {"role": str, "level": int}
    (tenants.AccessLevel values); `system` is set once the System exists (on submit, or when
    the entry names an existing one).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    intake = models.ForeignKey(Intake, on_delete=models.CASCADE, related_name="entries")
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField(default=0)
    system_name = models.CharField(max_length=200)
    system_kind = models.CharField(max_length=20, blank=True)
    system = models.ForeignKey(
        "tenants.System", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    credential_type = models.CharField(max_length=32, blank=True)
    username = models.CharField(max_length=254, blank=True)
    access_method = models.CharField(max_length=16, blank=True)
    host = models.CharField(max_length=500, blank=True)
    access = models.JSONField(default=list, blank=True)
    last_rotated_on = models.DateField(null=True, blank=True)
    rotation_unknown = models.BooleanField(default=False)
    received_via = models.CharField(max_length=16, choices=ReceivedVia.choices, blank=True)
    mfa_on_path = models.CharField(max_length=16, blank=True)
    secret = models.BinaryField(null=True, blank=True, editable=False)
    notes = models.BinaryField(null=True, blank=True, editable=False)
    totp_seed = models.BinaryField(null=True, blank=True, editable=False)
    credential = models.ForeignKey(
        "vault.Credential", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "created_at"]
        verbose_name_plural = "intake entries"

    def __str__(self) -> str:
        return f"{self.system_name} ({self.username or 'no username'})"


class IntakeLink(models.Model):
    """A one-time, expiring link a client contact opens (no account) to send credentials.

    Only the token's SHA-256 is stored; the link is shown once to the onboarding staff
    member who created it, to send through the client's channel of choice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    contact_name = models.CharField(max_length=200)
    contact_email = models.EmailField(blank=True)
    message = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "-created_at"], name="intake_link_client_idx")]

    def __str__(self) -> str:
        return f"Intake link for {self.contact_name}"


class IntakeLinkRequest(models.Model):
    """One system whose credential the link asks for."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    link = models.ForeignKey(IntakeLink, on_delete=models.CASCADE, related_name="requests")
    position = models.PositiveIntegerField(default=0)
    system_name = models.CharField(max_length=200)
    credential_type = models.CharField(max_length=32, blank=True)
    username_hint = models.CharField(max_length=254, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.system_name


class StagedCredential(models.Model):
    """A credential a client contact submitted, sealed on arrival, waiting for review."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        ACCEPTED = "accepted", "Accepted into the vault"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    link = models.ForeignKey(IntakeLink, on_delete=models.PROTECT, related_name="staged")
    request = models.ForeignKey(
        IntakeLinkRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    system_name = models.CharField(max_length=200)
    username = models.CharField(max_length=254, blank=True)
    url = models.CharField(max_length=500, blank=True)
    mfa_on_path = models.CharField(max_length=16, blank=True)
    secret = models.BinaryField(editable=False)
    notes = models.BinaryField(null=True, blank=True, editable=False)
    totp_seed = models.BinaryField(null=True, blank=True, editable=False)
    submitted_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reject_reason = models.CharField(max_length=500, blank=True)
    credential = models.ForeignKey(
        "vault.Credential", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["submitted_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reject_reason=""),
                name="intake_staged_rejected_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted") | Q(credential__isnull=False),
                name="intake_staged_accepted_has_credential",
            ),
        ]
        indexes = [
            models.Index(
                fields=["client", "submitted_at"],
                condition=Q(status="pending"),
                name="intake_staged_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.system_name} from link {self.link_id} ({self.status})"


class ImportBatch(models.Model):
    """An import of a previous provider's export: parsed into sealed rows, previewed, then
    confirmed (every valid, non-excluded row becomes an inherited, compromised credential)."""

    class Status(models.TextChoices):
        PREVIEW = "preview", "Waiting for confirmation"
        IMPORTED = "imported", "Imported"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=32)
    filename = models.CharField(max_length=255)
    # The column mapping used (generic CSV), and the detected header, for the record.
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREVIEW)
    row_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    finished_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"
        indexes = [models.Index(fields=["client", "-created_at"], name="intake_import_client_idx")]

    def __str__(self) -> str:
        return f"Import {self.filename} ({self.status})"


class ImportRow(models.Model):
    """One row of an import preview: its fields, sealed values and validation result."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rows")
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    row_number = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    username = models.CharField(max_length=254, blank=True)
    url = models.CharField(max_length=500, blank=True)
    folder = models.CharField(max_length=500, blank=True)
    credential_type = models.CharField(max_length=32, blank=True)
    secret = models.BinaryField(null=True, blank=True, editable=False)
    notes = models.BinaryField(null=True, blank=True, editable=False)
    totp_seed = models.BinaryField(null=True, blank=True, editable=False)
    errors = models.JSONField(default=list, blank=True)
    # Row number of the earlier row with the same system, username and URL.
    duplicate_of = models.PositiveIntegerField(null=True, blank=True)
    excluded = models.BooleanField(default=False)
    credential = models.ForeignKey(
        "vault.Credential", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["row_number"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "row_number"], name="intake_import_row_once"),
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number} of {self.batch_id}"


class TakeoverStep(models.Model):
    """One validation step of taking over a client from a previous provider."""

    class Key(models.TextChoices):
        AD_DOMAIN_ADMINS = "ad_domain_admins", "No unknown domain admins in Active Directory"
        CLOUD_GLOBAL_ADMINS = (
            "cloud_global_admins",
            "No unrecognized global admins in cloud portals",
        )
        PREVIOUS_PROVIDER_ACCESS = (
            "previous_provider_access",
            "Previous provider's remote access tools and accounts removed",
        )
        INHERITED_ROTATED = "inherited_rotated", "Every inherited credential rotated"
        FINDINGS_DOCUMENTED = "findings_documented", "Findings documented"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=32, choices=Key.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    finding = models.TextField(max_length=4000, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="intake_takeover_step_once"),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(completed_at__isnull=False),
                name="intake_takeover_done_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} of client {self.client_id} ({self.status})"
