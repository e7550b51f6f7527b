"""Clients (the tenants), their systems, and who of the MSP's staff may reach them.

Client and System are tenant-scoped: reach them only through `for_user(user, level)`.
Assignment is the source of truth for access; its rows are never deleted, so "who could
see this client on date D" stays answerable. django-guardian permissions on Client mirror
the active assignments for Django's permission API.
"""

import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from tenants.reach import client_reach_q


class AccessLevel(models.IntegerChoices):
    """Ordered levels: each includes every level below it."""

    VIEW = 10, "View (metadata only)"
    USE = 20, "Use (reveal standard credentials)"
    PRIVILEGED = 30, "Privileged (check out high-privilege credentials)"
    MANAGE = 40, "Manage (edit, assign staff)"

    @property
    def short_label(self) -> str:
        return self.label.split(" (")[0]

    @property
    def permission_codename(self) -> str:
        return f"access_client_{self.name.lower()}"


TIME_ZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones())]


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone, such as Europe/London.")


def client_assigned_q(user, *, level: "AccessLevel | None" = None, via: str = "") -> Q:
    """The tenancy rule as one filter: rows whose client `user` holds an active assignment
    on (at `level` or above), within the request's client reach.

    `via` is the path from the row to its client ("" for a client, "client" for a
    credential). Used in a single filter() call, its conditions name one assignment row,
    which an annotation of `{via}__assignments__level` in the same queryset then reads.
    Callers check that `user` is an active, signed-in person first.
    """
    prefix = f"{via}__" if via else ""
    rule = client_reach_q(via or "pk") & Q(
        **{f"{prefix}assignments__user": user, f"{prefix}assignments__revoked_at__isnull": True}
    )
    if level is not None:
        rule &= Q(**{f"{prefix}assignments__level__gte": level})
    return rule


class ClientQuerySet(models.QuerySet):
    def for_user(self, user, level: AccessLevel) -> "ClientQuerySet":
        """Clients on which `user` holds an active assignment at `level` or above."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(client_assigned_q(user, level=level))


class Client(models.Model):
    """A client company of the MSP: the tenant every secret belongs to."""

    class Status(models.TextChoices):
        ONBOARDING = "onboarding", "Onboarding"
        ACTIVE = "active", "Active"
        OFFBOARDING = "offboarding", "Offboarding"
        OFFBOARDED = "offboarded", "Offboarded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ONBOARDING)
    psa_company_id = models.CharField(
        "PSA company id", max_length=100, blank=True, help_text="The client's id in your PSA."
    )
    business_time_zone = models.CharField(
        max_length=64,
        validators=[validate_time_zone],
        default="UTC",
        help_text="Used to tell business hours from off-hours access.",
    )
    # Owns the client's rotation tasks; without one they go to the managers' queue.
    primary_technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            (level.permission_codename, f"Client access: {level.short_label}")
            for level in AccessLevel
        ]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name


class SystemQuerySet(models.QuerySet):
    def for_user(self, user, level: AccessLevel) -> "SystemQuerySet":
        return self.filter(client__in=Client.objects.for_user(user, level))


class System(models.Model):
    """Something of a client's that credentials open: a server, a firewall, a tenant."""

    class Kind(models.TextChoices):
        SERVER = "server", "Server"
        FIREWALL = "firewall", "Firewall"
        NETWORK_DEVICE = "network_device", "Network device"
        CLOUD_TENANT = "cloud_tenant", "Cloud tenant"
        APPLICATION = "application", "Application"
        WORKSTATION = "workstation", "Workstation"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DECOMMISSIONED = "decommissioned", "Decommissioned"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="systems")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SystemQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("client", "name", name="unique_system_name_per_client"),
        ]

    def __str__(self) -> str:
        return self.name


class Assignment(models.Model):
    """A grant of one staff member's access to one client, kept forever once revoked."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="assignments")
    level = models.PositiveSmallIntegerField(choices=AccessLevel.choices)
    granted_at = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when granted by the system (set-up, demo data).",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(
                "user",
                "client",
                condition=Q(revoked_at__isnull=True),
                name="one_active_assignment_per_user_and_client",
            ),
            models.CheckConstraint(
                condition=Q(level__in=AccessLevel.values), name="assignment_level_known"
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=models.F("granted_at")),
                name="assignment_revoked_after_granted",
            ),
        ]
        indexes = [
            # The hot-path access check: one indexed lookup per request (DESIGN.md).
            models.Index(
                fields=["user", "client", "level"],
                condition=Q(revoked_at__isnull=True),
                name="assignment_active_lookup",
            ),
            models.Index(fields=["client", "granted_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.client} ({AccessLevel(self.level).short_label})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def level_label(self) -> str:
        return AccessLevel(self.level).short_label


class ClientUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key guardian permissions on Client (no generic object_pk casts)."""

    content_object = models.ForeignKey(Client, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class ClientGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Client, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = False
