"""Staff accounts, roles, invitations and MFA devices.

Not tenant-scoped: a staff member belongs to the MSP, and reaches clients only through
tenants.Assignment. MFA secrets are sealed by a system key from the key provider (never
stored in plain), and backup codes are stored only as keyed hashes.
"""

import hmac
import uuid
from hashlib import sha256

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device, ThrottlingMixin
from django_otp.oath import TOTP

from vault import system_keys

TOTP_PURPOSE = "keyhold:accounts:totp-secret"
BACKUP_CODE_PURPOSE = "keyhold:accounts:backup-code"


class Role(models.TextChoices):
    """Global roles, kept as Django groups of the same name."""

    TECHNICIAN = "Technician", "Technician"
    MANAGER = "Manager", "Manager"
    ONBOARDING = "Onboarding", "Onboarding"
    ADMINISTRATOR = "Administrator", "Administrator"
    AUDITOR = "Auditor", "Auditor"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        raise ImproperlyConfigured(
            "Keyhold has no superusers. Run `python manage.py create_administrator --email …` "
            "to invite the first administrator."
        )


class User(AbstractBaseUser, PermissionsMixin):
    """A staff member of the MSP, keyed by email."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="May open the Django admin (administrators only)."
    )
    is_demo = models.BooleanField(
        default=False, help_text="Created by seed_demo; demo_code may print its TOTP code."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    session_epoch = models.PositiveIntegerField(
        default=0, help_text="Raised to end every session of this user at once."
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name", "email"]
        constraints = [
            models.CheckConstraint(condition=Q(is_superuser=False), name="user_never_superuser"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_session_auth_hash(self) -> str:
        """Bind sessions to the password and the session epoch: raising either ends them."""
        return salted_hmac(
            "keyhold.accounts.User.get_session_auth_hash",
            f"{self.password}:{self.session_epoch}",
            algorithm="sha256",
        ).hexdigest()

    @property
    def role_names(self) -> set[str]:
        if not hasattr(self, "_role_names"):
            self._role_names = {group.name for group in self.groups.all()}
        return self._role_names

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_names & set(roles))


class Invitation(models.Model):
    """An administrator's invitation; only a hash of its token is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField()
    full_name = models.CharField(max_length=150)
    roles = models.JSONField(default=list)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invitations_sent",
        help_text="Empty when the invitation came from the command line.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"])]
        constraints = [
            models.UniqueConstraint(
                "email",
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation for {self.email}"

    @staticmethod
    def hash_token(token: str) -> str:
        return sha256(token.encode()).hexdigest()

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class AtomicThrottlingMixin(ThrottlingMixin):
    """django-otp's exponential back-off, written with UPDATEs that touch only its fields.

    ThrottlingMixin saves the whole row, so a failed attempt running beside a successful
    one could write back a stale replay counter; these updates cannot.
    """

    class Meta:
        abstract = True

    def get_throttle_factor(self) -> int:
        return settings.MFA_THROTTLE_FACTOR

    def throttle_increment(self, commit: bool = True) -> None:
        now = timezone.now()
        type(self).objects.filter(pk=self.pk).update(
            throttling_failure_count=F("throttling_failure_count") + 1,
            throttling_failure_timestamp=now,
        )
        self.throttling_failure_count += 1
        self.throttling_failure_timestamp = now

    def throttle_reset(self, commit: bool = True) -> None:
        type(self).objects.filter(pk=self.pk).update(
            throttling_failure_count=0, throttling_failure_timestamp=None
        )
        self.throttling_failure_count = 0
        self.throttling_failure_timestamp = None


class TotpDevice(AtomicThrottlingMixin, Device):
    """An authenticator app. The shared secret is sealed with a system key, bound to the user.

    django-otp's own TOTPDevice keeps the key in plain hex, which a credential vault cannot
    accept; this device keeps django-otp's session and throttling machinery and replaces
    only the storage and the check.
    """

    sealed_secret = models.BinaryField()
    digits = models.PositiveSmallIntegerField(default=6)
    step = models.PositiveSmallIntegerField(default=30)
    tolerance = models.PositiveSmallIntegerField(default=1)
    last_t = models.BigIntegerField(default=-1, help_text="Last accepted time step.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "user", condition=Q(confirmed=True), name="one_confirmed_totp_per_user"
            ),
        ]

    @staticmethod
    def _associated_data(user_id: uuid.UUID) -> bytes:
        return f"accounts.totpdevice|user={user_id}".encode()

    @classmethod
    def seal_secret(cls, secret: bytes, *, user_id: uuid.UUID) -> bytes:
        return system_keys.system_seal(
            secret, purpose=TOTP_PURPOSE, associated_data=cls._associated_data(user_id)
        )

    def secret(self) -> bytes:
        return system_keys.system_open(
            bytes(self.sealed_secret),
            purpose=TOTP_PURPOSE,
            associated_data=self._associated_data(self.user_id),
        )

    def current_code(self) -> str:
        totp = TOTP(self.secret(), step=self.step, digits=self.digits)
        return f"{totp.token():0{self.digits}d}"

    def verify_token(self, token: str) -> bool:
        """Accept a code once: a step at or before the last accepted one is refused.

        The conditional UPDATE makes two concurrent submissions of one code succeed once.
        """
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        token = token.strip().replace(" ", "")
        if not (token.isdigit() and len(token) == self.digits):
            self.throttle_increment()
            return False
        totp = TOTP(self.secret(), step=self.step, digits=self.digits)
        matched = totp.verify(int(token), tolerance=self.tolerance, min_t=self.last_t + 1)
        if matched:
            matched_t = totp.t()
            claimed = TotpDevice.objects.filter(pk=self.pk, last_t__lt=matched_t).update(
                last_t=matched_t, throttling_failure_count=0, throttling_failure_timestamp=None
            )
            if claimed:
                self.last_t = matched_t
                return True
        self.throttle_increment()
        return False


class BackupCodeDevice(AtomicThrottlingMixin, Device):
    """The user's set of single-use backup codes, verified on their own (never with TOTP)."""

    created_at = models.DateTimeField(default=timezone.now)

    @staticmethod
    def normalize(code: str) -> str:
        return "".join(ch for ch in code.upper() if ch.isalnum())

    @staticmethod
    def digest(code: str) -> str:
        # Version 1 always: a stored digest must stay comparable after any system key change.
        _, key = system_keys.system_mac_key(purpose=BACKUP_CODE_PURPOSE, version=1)
        return hmac.new(key, BackupCodeDevice.normalize(code).encode(), sha256).hexdigest()

    def verify_token(self, token: str) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        used = BackupCode.objects.filter(
            device=self, code_digest=self.digest(token), used_at__isnull=True
        ).update(used_at=timezone.now())
        if used:
            self.throttle_reset()
            return True
        self.throttle_increment()
        return False

    def remaining_count(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()


class BackupCode(models.Model):
    """One backup code, stored only as a keyed hash; used once."""

    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_digest = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(F("device"), F("code_digest"), name="unique_backup_code"),
        ]

    def __str__(self) -> str:
        return f"Backup code of {self.device.user}"


class Notification(models.Model):
    """An in-app notice to one staff member (audit chain alerts, later approvals)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    message = models.CharField(max_length=500)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["user", "created_at"],
                condition=Q(read_at__isnull=True),
                name="notification_unread",
            )
        ]

    def __str__(self) -> str:
        return self.message


class OutboxMessage(models.Model):
    """An alert to deliver, written in the same transaction as the action it reports.

    A mail server, Redis or Celery outage cannot lose it: the drain job
    (accounts.tasks.outbox_drain) sends it later and retries with backoff. `topic` names the
    audit action it reports, the hook point where outbound webhooks will fan out. Holds no
    secret: subject and body are written for a person's inbox.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    topic = models.CharField(max_length=64)
    recipient = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(sent_at__isnull=True),
                name="outbox_pending_idx",
            ),
            models.Index(fields=["topic", "created_at"], name="outbox_topic_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} to {self.recipient}"
