"""A test-only record with two sealed fields, registered in vault.envelope.ENCRYPTED_FIELDS."""

import uuid

from django.db import models

RECORD_TYPE = "test.encrypted_record"


class EncryptedRecord(models.Model):
    """Test data only. Tenant: one client. Secrecy: body and notes hold sealed values."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("tenants.Client", on_delete=models.PROTECT, related_name="+")
    body = models.BinaryField()
    notes = models.BinaryField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Encrypted record {self.pk}"
