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
        return [client.pk for client in self.clients.all()]
