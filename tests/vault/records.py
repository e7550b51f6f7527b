"""Records with sealed fields, created and read the way the credentials services will."""

import uuid

from django.db import transaction

from tests.vault.testapp.models import RECORD_TYPE, EncryptedRecord
from vault.envelope import field_decrypt, field_encrypt


def store(client, body: bytes, notes: bytes | None = None) -> EncryptedRecord:
    """Create a record the way a service would: seal each field inside the transaction."""
    record_id = uuid.uuid4()
    with transaction.atomic():
        fields = {"body": seal(client, record_id, "body", body)}
        if notes is not None:
            fields["notes"] = seal(client, record_id, "notes", notes)
        return EncryptedRecord.objects.create(id=record_id, client=client, **fields)


def seal(client, record_id, field: str, plaintext: bytes) -> bytes:
    return field_encrypt(
        client=client,
        record_type=RECORD_TYPE,
        record_id=str(record_id),
        field=field,
        plaintext=plaintext,
    )


def read(record: EncryptedRecord, field: str = "body") -> bytes:
    """Decrypt the field as stored now in the database."""
    fresh = EncryptedRecord.objects.get(pk=record.pk)
    return field_decrypt(
        client=fresh.client,
        record_type=RECORD_TYPE,
        record_id=str(fresh.pk),
        field=field,
        sealed=bytes(getattr(fresh, field)),
    )


def stored(record: EncryptedRecord, field: str = "body") -> bytes:
    return bytes(EncryptedRecord.objects.values_list(field, flat=True).get(pk=record.pk))
