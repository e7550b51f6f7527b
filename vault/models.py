"""Per-client data-encryption keys (DEKs), stored only wrapped by the key provider's KEK.

Envelope encryption: each client's secret fields are sealed under that client's DEK
(vault/envelope.py); the DEK itself is stored here wrapped by the KEK of the configured key
provider (vault/providers). A plaintext DEK never touches the database, a cache backend or
a log: it lives only in the process memory of vault.envelope for a short TTL.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


class ClientDataKey(models.Model):
    """One version of one client's DEK, wrapped by the provider's KEK.

    Tenant: belongs to exactly one client; a client has at most one active version. Secrecy:
    `wrapped_key` is useless without the KEK, yet never leaves the vault app (no admin, API
    or serializer shows it). A destroyed version keeps its row (the audit trail names it)
    but its wrapped key is wiped, so whatever was sealed under it is unreadable for good.
    """

    class State(models.TextChoices):
        ACTIVE = "active", "Active (seals new values)"
        RETIRING = "retiring", "Retiring (values being re-encrypted)"
        DESTROYED = "destroyed", "Destroyed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="data_keys")
    version = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    wrapped_key = models.BinaryField(editable=False)
    provider = models.CharField(max_length=32)
    provider_key_id = models.CharField(max_length=256)
    provider_key_version = models.PositiveIntegerField()
    # Values sealed under this version: retire it long before AES-GCM's random-nonce limit.
    encryptions = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "version"], name="vault_clientdatakey_one_row_per_version"
            ),
            models.UniqueConstraint(
                fields=["client"],
                condition=Q(state="active"),
                name="vault_clientdatakey_one_active_per_client",
            ),
            models.CheckConstraint(
                condition=(Q(state="destroyed") & Q(destroyed_at__isnull=False))
                | (~Q(state="destroyed") & Q(destroyed_at__isnull=True)),
                name="vault_clientdatakey_destroyed_at_iff_destroyed",
            ),
        ]
        indexes = [
            # rotate_kek looks for live keys wrapped under an older KEK version.
            models.Index(
                fields=["provider", "provider_key_version"],
                condition=~Q(state="destroyed"),
                name="vault_dek_kek_version_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Data key v{self.version} of client {self.client_id} ({self.state})"

    def __repr__(self) -> str:
        return f"<ClientDataKey client={self.client_id} v{self.version} {self.state}>"


# --- Credentials ---------------------------------------------------------------------------

CREDENTIAL_RECORD_TYPE = "vault.credential"
CREDENTIAL_VERSION_RECORD_TYPE = "vault.credential_version"


class Tag(models.Model):
    """A label on credentials (e.g. "m365", "backup"); names are lowercase and unique.

    Not tenant-scoped itself: a tag is reached only through credentials the user may see.
    """

    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(name=Lower("name")), name="vault_tag_name_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CredentialType(models.TextChoices):
    LOCAL_ADMIN = "local_admin", "Local admin"
    DOMAIN_ADMIN = "domain_admin", "Domain admin"
    SERVICE_ACCOUNT = "service_account", "Service account"
    API_KEY = "api_key", "API key"
    FIREWALL_ADMIN = "firewall_admin", "Firewall admin"
    CLOUD_TENANT_ADMIN = "cloud_tenant_admin", "Cloud tenant admin"
    STANDARD_USER = "standard_user", "Standard user"
    OTHER = "other", "Other"


class PrivilegeTier(models.TextChoices):
    HIGH = "high", "High privilege"
    SERVICE = "service", "Service"
    STANDARD = "standard", "Standard"


# Ordered from least to most privileged: an override may only move a credential up.
TIER_RANK = {PrivilegeTier.STANDARD: 0, PrivilegeTier.SERVICE: 1, PrivilegeTier.HIGH: 2}

TIER_BY_TYPE = {
    CredentialType.DOMAIN_ADMIN: PrivilegeTier.HIGH,
    CredentialType.FIREWALL_ADMIN: PrivilegeTier.HIGH,
    CredentialType.CLOUD_TENANT_ADMIN: PrivilegeTier.HIGH,
    CredentialType.LOCAL_ADMIN: PrivilegeTier.HIGH,
    CredentialType.SERVICE_ACCOUNT: PrivilegeTier.SERVICE,
    CredentialType.API_KEY: PrivilegeTier.SERVICE,
}


def privilege_tier_for(credential_type: str, requested: str = "") -> PrivilegeTier:
    """The tier of a type, raised (never lowered) to `requested` when that is higher."""
    derived = TIER_BY_TYPE.get(CredentialType(credential_type), PrivilegeTier.STANDARD)
    if requested and TIER_RANK[PrivilegeTier(requested)] > TIER_RANK[derived]:
        return PrivilegeTier(requested)
    return derived


class RotationRequiredReason(models.TextChoices):
    CHECKOUT_ENDED = "checkout_ended", "Checkout ended"
    EMERGENCY_OPENED = "emergency_opened", "Emergency seal broken"


class Credential(models.Model):
    """A secret of one client, optionally tied to one of that client's systems.

    Tenant: belongs to exactly one client (and its system, if any, to the same client);
    reach it only through vault.selectors, which start from Client.objects.for_user.
    Secrecy: `secret`, `notes` and `totp_seed` hold values sealed by vault.envelope, bound to
    (client, "vault.credential", id, field); they never reach a page, a log or an event.
    """

    class AccessMethod(models.TextChoices):
        RDP = "rdp", "RDP"
        SSH = "ssh", "SSH"
        WEB_PORTAL = "web_portal", "Web portal"
        VPN = "vpn", "VPN"
        API = "api", "API"
        CONSOLE = "console", "Console"
        OTHER = "other", "Other"

    class MfaOnPath(models.TextChoices):
        YES = "yes", "MFA on path"
        NO = "no", "No MFA on path"
        UNKNOWN = "unknown", "MFA unknown"

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        INTAKE = "intake", "Intake"
        CLIENT_LINK = "client_link", "Client link"
        INHERITED = "inherited", "Inherited"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPOSED = "exposed", "Exposed"
        COMPROMISED = "compromised", "Compromised"
        ARCHIVED = "archived", "Archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(
        "tenants.Client", on_delete=models.PROTECT, related_name="credentials"
    )
    system = models.ForeignKey(
        "tenants.System",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credentials",
    )
    name = models.CharField(max_length=200)
    credential_type = models.CharField(max_length=32, choices=CredentialType.choices)
    privilege_tier = models.CharField(max_length=16, choices=PrivilegeTier.choices)
    username = models.CharField(max_length=254, blank=True)
    access_method = models.CharField(
        max_length=16, choices=AccessMethod.choices, default=AccessMethod.OTHER
    )
    host = models.CharField(max_length=500, blank=True)
    secret = models.BinaryField(editable=False)
    notes = models.BinaryField(editable=False)
    totp_seed = models.BinaryField(null=True, blank=True, editable=False)
    is_shared = models.BooleanField(default=False)
    # Where this secret is configured (services, scheduled tasks, app pools, scripts): shown
    # after every rotation so the technician updates them. Not secret; not encrypted.
    used_by = models.TextField(max_length=2000, blank=True)
    mfa_on_path = models.CharField(
        max_length=8, choices=MfaOnPath.choices, default=MfaOnPath.UNKNOWN
    )
    last_rotated_at = models.DateTimeField(null=True, blank=True)
    # The latest successful opening in the audit log (a reveal, checkout, emergency opening,
    # old version or TOTP code shown): kept in step by vault.receivers in the event's own
    # transaction, so the hygiene audit's "unused" check reads one column instead of
    # matching every credential against months of events (issue 9).
    last_opened_at = models.DateTimeField(null=True, blank=True, editable=False)
    rotation_interval_days = models.PositiveIntegerField(null=True, blank=True)
    next_rotation_due = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Set when a lease ends or a seal is broken; cleared by the next change of the secret.
    # The rotation app turns it into a rotation task.
    rotation_required_at = models.DateTimeField(null=True, blank=True)
    rotation_required_reason = models.CharField(
        max_length=32, choices=RotationRequiredReason.choices, blank=True
    )
    # Sealed emergency (break-glass) credential: opened only with the permission and a reason.
    is_emergency = models.BooleanField(default=False)
    seal_broken_at = models.DateTimeField(null=True, blank=True)
    seal_broken_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    tags = models.ManyToManyField(Tag, blank=True, related_name="credentials")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(privilege_tier__in=PrivilegeTier.values),
                name="vault_credential_tier_known",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "exposed", "compromised", "archived"]),
                name="vault_credential_status_known",
            ),
            models.CheckConstraint(
                condition=Q(seal_broken_at__isnull=True) | Q(is_emergency=True),
                name="vault_credential_only_emergency_seals_break",
            ),
            models.CheckConstraint(
                condition=Q(rotation_required_at__isnull=True, rotation_required_reason="")
                | (Q(rotation_required_at__isnull=False) & ~Q(rotation_required_reason="")),
                name="vault_credential_rotation_required_has_reason",
            ),
        ]
        permissions = [
            ("open_emergency", "Can open sealed emergency credentials (break glass)"),
        ]
        indexes = [
            # Client credential lists filter on status and sort by name.
            models.Index(fields=["client", "status", "name"], name="vault_cred_client_list_idx"),
            models.Index(
                fields=["next_rotation_due"],
                condition=~Q(status="archived"),
                name="vault_cred_rotation_due_idx",
            ),
            models.Index(fields=["name"], name="vault_cred_name_idx"),
            models.Index(
                fields=["rotation_required_at"],
                condition=Q(rotation_required_at__isnull=False),
                name="vault_cred_rotation_req_idx",
            ),
            models.Index(fields=["username"], name="vault_cred_username_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_high_privilege(self) -> bool:
        return self.privilege_tier == PrivilegeTier.HIGH

    @property
    def host_url(self) -> str:
        """The host as a link target, only when it is an http(s) address."""
        lowered = self.host.lower()
        return self.host if lowered.startswith(("https://", "http://")) else ""

    @property
    def rotation_overdue(self) -> bool:
        return (
            self.next_rotation_due is not None
            and self.status != self.Status.ARCHIVED
            and self.next_rotation_due < timezone.now()
        )


class CredentialSecretVersion(models.Model):
    """A previous value of a credential's secret, kept when the secret changes.

    Tenant: the credential's client (repeated here so key rotation finds the row by client).
    Secrecy: `secret` is sealed, bound to (client, "vault.credential_version", id, "secret").
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, related_name="secret_versions"
    )
    version = models.PositiveIntegerField()
    secret = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["credential", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "version"], name="vault_secretversion_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"Version {self.version} of credential {self.credential_id}"


# --- Per-client vault policy -----------------------------------------------------------------


class ClientVaultPolicy(models.Model):
    """How one client wants its credentials opened; a client without a row gets the defaults.

    Tenant: one row per client, read through vault.selectors.vault_policy_for.
    """

    client = models.OneToOneField(
        "tenants.Client", on_delete=models.PROTECT, primary_key=True, related_name="vault_policy"
    )
    reveal_ticket_required = models.BooleanField(
        default=False, help_text="Every reveal and copy names the ticket it is for."
    )
    checkout_approval_required = models.BooleanField(
        default=False, help_text="A manager approves each checkout before it starts."
    )
    checkout_default_minutes = models.PositiveIntegerField(default=60)
    checkout_max_minutes = models.PositiveIntegerField(default=480)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "client vault policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(checkout_default_minutes__gte=5)
                & Q(checkout_max_minutes__lte=7 * 24 * 60)
                & Q(checkout_default_minutes__lte=models.F("checkout_max_minutes")),
                name="vault_policy_checkout_durations_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"Vault policy of client {self.client_id}"


# --- Checkouts -------------------------------------------------------------------------------


class Checkout(models.Model):
    """An exclusive, time-boxed, ticket-linked lease on a high-privilege credential.

    Tenant: the credential's client (repeated for the approval queue's index). A lease is
    active from `starts_at` to `expires_at`; one whose `expires_at` has passed is over even
    before the expiry job marks it (services check the time, not only the status). The
    database holds at most one active lease per credential.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Awaiting approval"
        ACTIVE = "active", "Active"
        DENIED = "denied", "Denied"
        CANCELLED = "cancelled", "Cancelled"
        RETURNED = "returned", "Checked in"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey(Credential, on_delete=models.PROTECT, related_name="checkouts")
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="checkouts"
    )
    ticket = models.CharField(max_length=64)
    reason = models.CharField(max_length=500)
    duration_minutes = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    end_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["credential"],
                condition=Q(status="active"),
                name="vault_checkout_one_active_per_credential",
            ),
            models.UniqueConstraint(
                fields=["credential", "requested_by"],
                condition=Q(status="requested"),
                name="vault_checkout_one_pending_request_per_person",
            ),
            models.CheckConstraint(
                condition=~Q(status="active")
                | (Q(starts_at__isnull=False) & Q(expires_at__isnull=False)),
                name="vault_checkout_active_has_window",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["returned", "expired", "revoked"])
                | Q(ended_at__isnull=False),
                name="vault_checkout_ended_has_time",
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5), name="vault_checkout_duration_positive"
            ),
        ]
        indexes = [
            # The expiry job scans active leases by end time.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="vault_checkout_expiry_idx",
            ),
            # The approval queue lists requests by client, oldest first.
            models.Index(
                fields=["client", "requested_at"],
                condition=Q(status="requested"),
                name="vault_checkout_queue_idx",
            ),
            # "My checkouts".
            models.Index(fields=["requested_by", "-requested_at"], name="vault_checkout_mine_idx"),
        ]

    def __str__(self) -> str:
        return f"Checkout of {self.credential_id} by {self.requested_by_id} ({self.status})"


# --- One-time share links ----------------------------------------------------------------------

SHARE_LINK_RECORD_TYPE = "vault.share_link"


class ShareLink(models.Model):
    """A one-time link that hands one credential's secret to a client contact.

    Tenant: the credential's client. Secrecy: only a SHA-256 hash of the link's 256-bit token
    is stored; `payload` is sealed under the client's key, bound to
    (client, "vault.share_link", id, "payload"), and wiped once the link is used up, revoked
    or expired. The optional passphrase is stored as a Django password hash.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey(Credential, on_delete=models.PROTECT, related_name="share_links")
    created_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    recipient = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True)
    payload = models.BinaryField(null=True, editable=False)
    passphrase_hash = models.CharField(max_length=256, blank=True)
    max_views = models.PositiveSmallIntegerField(default=1)
    views = models.PositiveSmallIntegerField(default=0)
    failed_passphrase_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_views__gte=1) & Q(max_views__lte=10),
                name="vault_sharelink_view_limit_range",
            ),
            models.CheckConstraint(
                condition=Q(views__lte=models.F("max_views")),
                name="vault_sharelink_views_within_limit",
            ),
        ]
        indexes = [
            # The purge job finds links still holding a payload by expiry.
            models.Index(
                fields=["expires_at"],
                condition=Q(payload__isnull=False),
                name="vault_sharelink_purge_idx",
            ),
            models.Index(fields=["credential", "-created_at"], name="vault_sharelink_cred_idx"),
        ]

    def __str__(self) -> str:
        return f"Share link {self.id} for {self.recipient}"


class SystemKey(models.Model):
    """One version of Keyhold's own root key, wrapped by the key provider's KEK.

    Not tenant data: purpose-bound subkeys of it key the audit chain, seal staff TOTP secrets
    and digest backup codes (vault/system_keys.py). Wrapped by the same KEK as client data
    keys, so with KMS or Transit these are protected by the provider too, and rotate_kek
    rewraps them with the data keys.
    """

    version = models.PositiveIntegerField(primary_key=True)
    wrapped_key = models.BinaryField(editable=False)
    provider = models.CharField(max_length=32)
    provider_key_id = models.CharField(max_length=256)
    provider_key_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"System key v{self.version}"

    def __repr__(self) -> str:
        return f"<SystemKey v{self.version} {self.provider}>"
