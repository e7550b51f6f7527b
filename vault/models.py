"""Per-client data-encryption keys (DEKs), stored only wrapped by the key provider's KEK.

Envelope encryption: each client's secret fields are sealed under that client's DEK
(vault/envelope.py); the DEK itself is stored here wrapped by the KEK of the configured key
provider (vault/providers). A plaintext DEK never touches the database, a cache backend or
a log: it lives only in the process memory of vault.envelope for a short TTL.
"""

import uuid

from django.db import models
from django.db.models import Q
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
