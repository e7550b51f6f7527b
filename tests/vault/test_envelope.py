"""Envelope encryption of client fields (C21-C23, C25, C29): per-client DEKs, AD binding,
one safe error for every failure, a DEK cache that stays in process memory."""

import base64
import logging
import os
import struct

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Target
from tests.vault.records import read, seal, store, stored
from tests.vault.testapp.models import RECORD_TYPE, EncryptedRecord
from vault import crypto
from vault.envelope import (
    DataKey,
    SecretNotSaved,
    SecretUnavailable,
    associated_data,
    data_key_cache_clear,
    data_key_for_client,
    field_decrypt,
    recording_decryption_failures,
)
from vault.models import ClientDataKey
from vault.services import client_key_rotation_start, client_keys_shred

pytestmark = pytest.mark.usefixtures("vault_keyring")

SAFE_MESSAGE = (
    "This secret cannot be decrypted right now. Nothing was shown or changed; "
    "the failure is in the audit log."
)


def raw_update(record, **columns) -> None:
    """Change the stored row behind the application's back, as a database attacker would."""
    table = EncryptedRecord._meta.db_table
    with connection.cursor() as cursor:
        for column, value in columns.items():
            cursor.execute(
                f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608 (test-owned names)
                [value, record.pk.hex if connection.vendor == "sqlite" else record.pk],
            )


def flip_last_byte(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 0x01])


def renders(secret: bytes) -> set[str]:
    return {
        secret.hex(),
        base64.b64encode(secret).decode(),
        base64.b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1],
    }


@pytest.mark.parametrize(
    "plaintext", [b"", b"x", "Pa55-wörd!".encode(), bytes(range(256)), os.urandom(1 << 20)]
)
def test_round_trip_of_any_bytes_under_a_first_key_created_on_first_use(client_a, plaintext):
    assert not ClientDataKey.objects.filter(client=client_a).exists()

    record = store(client_a, plaintext)

    assert read(record) == plaintext
    key = ClientDataKey.objects.get(client=client_a)
    assert (key.version, key.state, key.encryptions) == (1, "active", 1)
    assert crypto.sealed_key_version(stored(record)) == 1
    assert plaintext not in stored(record) or plaintext in (b"", b"x")


def test_each_encryption_uses_a_fresh_nonce(client_a):
    record_id = "6c0d5d5e-6f39-4c36-9d1b-1d2c1f0b5c11"
    with transaction.atomic():
        sealed = [seal(client_a, record_id, "body", b"same secret") for _ in range(2000)]
    nonces = {value[7:19] for value in sealed}
    assert len(nonces) == len(sealed)

    record = store(client_a, b"same secret")
    before = stored(record)
    with transaction.atomic():
        raw = seal(client_a, record.pk, "body", b"same secret")
        EncryptedRecord.objects.filter(pk=record.pk).update(body=raw)
    assert stored(record)[7:19] != before[7:19]


def test_ciphertext_moved_to_another_record_field_or_client_does_not_decrypt(client_a, client_b):
    source = store(client_a, b"domain admin password", notes=b"notes")
    same_client = store(client_a, b"other")
    other_client = store(client_b, b"other")
    blob = stored(source)

    raw_update(same_client, body=blob)
    raw_update(other_client, body=blob)
    raw_update(source, notes=blob)

    for record, field in [(same_client, "body"), (other_client, "body"), (source, "notes")]:
        with pytest.raises(SecretUnavailable) as caught:
            read(record, field)
        assert caught.value.code in {"decryption_failed", "data_key_missing"}
    assert read(source) == b"domain admin password"


def test_a_changed_key_version_in_the_header_does_not_decrypt(client_a):
    record = store(client_a, b"secret")
    client_key_rotation_start(actor=None, client=client_a)  # version 2 now exists
    blob = stored(record)
    raw_update(record, body=blob[:3] + struct.pack(">I", 2) + blob[7:])

    with pytest.raises(SecretUnavailable) as caught:
        read(record)
    assert caught.value.code == "decryption_failed"


def test_every_changed_byte_is_refused_with_one_error(client_a):
    record = store(client_a, b"short secret")
    blob = stored(record)
    codes = set()
    for index in range(len(blob)):
        changed = bytearray(blob)
        changed[index] ^= 0x01
        with pytest.raises(SecretUnavailable) as caught:
            field_decrypt(
                client=client_a,
                record_type=RECORD_TYPE,
                record_id=str(record.pk),
                field="body",
                sealed=bytes(changed),
            )
        codes.add((caught.value.code, caught.value.message))
    # A changed version byte names a key that does not exist; everything else fails the tag.
    assert codes <= {("decryption_failed", SAFE_MESSAGE), ("data_key_missing", SAFE_MESSAGE)}
    with pytest.raises(SecretUnavailable):
        field_decrypt(
            client=client_a,
            record_type=RECORD_TYPE,
            record_id=str(record.pk),
            field="body",
            sealed=blob[:-1],
        )


def test_associated_data_is_canonical_and_carries_no_secret(client_a):
    def ad(record_type, record_id):
        return associated_data(
            client_id=client_a.pk,
            record_type=record_type,
            record_id=record_id,
            field="body",
            key_version=1,
        )

    assert ad("ab", "c") != ad("a", "bc")
    assert ad("a", "b") == ad("a", "b")
    assert str(client_a.pk).encode() in ad("a", "b")
    with pytest.raises(ValueError, match="non-empty"):
        ad("", "b")


def test_sealing_outside_a_transaction_is_a_programming_error(client_a):
    # pytest-django wraps each test in a transaction; leave it to see the guard.
    atomic = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(RuntimeError, match="inside the service's transaction"):
            seal(client_a, "0f3c", "body", b"x")
    finally:
        connection.in_atomic_block = atomic


def test_decryption_failure_reveals_nothing_and_leaves_an_error_event(client_a, bob):
    record = store(client_a, b"firewall admin password")
    raw_update(record, body=flip_last_byte(stored(record)))
    revealed = []

    target = Target(RECORD_TYPE, str(record.pk), "body")

    def reveal() -> None:
        with (
            recording_decryption_failures(actor=bob, client=client_a, target=target),
            transaction.atomic(),
        ):
            revealed.append(read(record))

    with pytest.raises(SecretUnavailable) as caught:
        reveal()

    assert revealed == []
    assert caught.value.message == SAFE_MESSAGE
    assert "firewall" not in str(caught.value) + repr(caught.value)
    event = AuditEvent.objects.get(action="vault.decryption_failed")
    assert event.outcome == "error"
    assert event.actor_user_id == bob.pk
    assert event.client_id == client_a.pk
    assert event.target_id == str(record.pk)
    assert event.reason == "decryption_failed"


def test_missing_or_destroyed_key_is_secret_unavailable(client_a, admin_user):
    record = store(client_a, b"secret")
    client_keys_shred(actor=admin_user, client=client_a, reason="contract ended")

    with pytest.raises(SecretUnavailable) as caught:
        read(record)
    assert caught.value.code == "data_key_destroyed"
    with pytest.raises(SecretUnavailable) as caught:
        data_key_for_client(client=client_a, version=7)
    assert caught.value.code == "data_key_missing"


def test_unreachable_provider_fails_closed_and_overwrites_nothing(client_a, transit_provider):
    record = store(client_a, b"vpn pre-shared key")
    before = stored(record)
    data_key_cache_clear()
    transit_provider.stop()

    with pytest.raises(SecretUnavailable) as caught:
        read(record)
    assert caught.value.code == "key_provider_unavailable"
    assert caught.value.message == SAFE_MESSAGE

    def save_new_value() -> None:
        with transaction.atomic():
            seal(client_a, record.pk, "body", b"new value")
            EncryptedRecord.objects.filter(pk=record.pk).update(body=b"never")

    with pytest.raises(SecretNotSaved) as caught:
        save_new_value()
    assert caught.value.code == "key_provider_unavailable"
    assert stored(record) == before


def test_unwrapped_keys_are_cached_in_process_for_the_ttl_only(
    client_a, transit_provider, settings
):
    settings.KEYHOLD_DEK_CACHE_SECONDS = 60
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        record = store(client_a, b"cached")
        transit_provider.stop()  # from now on only the cache can open the key

        traveller.shift(59)
        assert read(record) == b"cached"
        traveller.shift(2)
        with pytest.raises(SecretUnavailable) as caught:
            read(record)
    assert caught.value.code == "key_provider_unavailable"


def test_the_dek_never_reaches_the_django_cache_backend(client_a):
    def snapshot() -> dict:
        backend = cache._cache
        if hasattr(backend, "get_client"):  # Redis: the raw values, as GET returns them
            client = backend.get_client()
            return {
                key: client.get(key) for key in client.keys("*") if client.type(key) == b"string"
            }
        return dict(backend)

    before = snapshot()
    record = store(client_a, b"secret")
    assert read(record) == b"secret"
    _, key = data_key_for_client(client=client_a)

    after = snapshot()
    # Keys left by earlier tests may expire meanwhile; none may be written or changed.
    written = {name for name, value in after.items() if before.get(name) != value}
    assert written == set()
    assert not any(key in bytes(value) for value in after.values() if value)


def test_the_dek_never_appears_in_reprs_errors_or_logs(client_a, caplog):
    caplog.set_level(logging.DEBUG)
    record = store(client_a, b"secret")
    data_key = data_key_for_client(client=client_a)
    version, key = data_key
    row = ClientDataKey.objects.get(client=client_a)
    raw_update(record, body=flip_last_byte(stored(record)))
    with pytest.raises(SecretUnavailable) as caught:
        read(record)

    texts = [repr(data_key), str(data_key), repr(row), str(row), repr(caught.value)]
    texts += [str(caught.value), caplog.text, repr(list(ClientDataKey.objects.all()))]
    for text in texts:
        assert not any(rendered in text for rendered in renders(key)), text
    assert isinstance(data_key, DataKey)
    assert version == 1
    assert bytes(row.wrapped_key) != key


def test_a_key_is_refused_past_its_use_limit(client_a, settings):
    settings.KEYHOLD_DEK_MAX_ENCRYPTIONS = 3
    for _ in range(3):
        store(client_a, b"x")

    with pytest.raises(SecretNotSaved) as caught:
        store(client_a, b"x")
    assert caught.value.code == "data_key_exhausted"
    assert "rotate_client_key" in caught.value.message


def test_a_shredded_client_gets_no_new_key(client_a, admin_user):
    store(client_a, b"secret")
    client_keys_shred(actor=admin_user, client=client_a, reason="offboarded")

    with pytest.raises(SecretNotSaved) as caught:
        store(client_a, b"new")
    assert caught.value.code == "client_shredded"
    assert not ClientDataKey.objects.filter(client=client_a).exclude(state="destroyed").exists()
