"""Key lifecycle (C26, C27, C68): KEK rotation rewraps without touching data, DEK rotation
re-encrypts in resumable batches and destroys the old key, crypto-shredding."""

import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from accounts.models import Role
from audit.chain import chain_key
from audit.models import AuditEvent
from audit.verification import audit_chain_check
from config.celery import app
from config.errors import AccessDenied
from tests.config.test_celery_worker import worker_queue  # noqa: F401 (fixture)
from tests.factories import ClientFactory, UserFactory
from tests.vault.records import read, seal, store, stored
from tests.vault.testapp.models import EncryptedRecord
from vault import crypto
from vault.envelope import SecretUnavailable, data_key_cache_clear, data_key_for_client
from vault.keyring import keyring_add_version
from vault.models import ClientDataKey
from vault.services import (
    client_key_rotation_remaining,
    client_key_rotation_start,
    client_key_rotation_step,
    client_keys_shred,
    kek_rotate,
)
from vault.tasks import client_key_rotation_continue

pytestmark = pytest.mark.usefixtures("vault_keyring")


def start_queued_only(client) -> None:
    """Start a rotation whose queued task nobody runs (a transactional test commits at once,
    and eager tasks would run it inline): the test drives the rotation itself."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        client_key_rotation_start(actor=None, client=client)
    finally:
        app.conf.task_always_eager = previous
    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge(app.conf.task_default_queue)


def world(clients, per_client=3) -> dict:
    """Records with both fields sealed, and what each must decrypt to."""
    expected = {}
    for client in clients:
        for n in range(per_client):
            record = store(client, f"{client.slug} secret {n}".encode(), notes=f"n{n}".encode())
            expected[record.pk] = (record, f"{client.slug} secret {n}".encode(), f"n{n}".encode())
    return expected


def all_decrypt(expected) -> bool:
    data_key_cache_clear()
    return all(
        read(record) == body and read(record, "notes") == notes
        for record, body, notes in expected.values()
    )


def ciphertexts() -> dict:
    return {
        pk: (bytes(b), bytes(n))
        for pk, b, n in EncryptedRecord.objects.values_list("pk", "body", "notes")
    }


def wrapped_keys() -> dict:
    return {
        pk: (bytes(blob), version)
        for pk, blob, version in ClientDataKey.objects.values_list(
            "pk", "wrapped_key", "provider_key_version"
        )
    }


# --- KEK rotation --------------------------------------------------------------------------


def test_rotate_kek_rewraps_every_key_and_touches_no_ciphertext(vault_keyring, client_a, client_b):
    expected = world([client_a, client_b])
    data_before, keys_before = ciphertexts(), wrapped_keys()
    keyring_add_version(vault_keyring)

    call_command("rotate_kek", stdout=(out := io.StringIO()))

    assert ciphertexts() == data_before
    keys_after = wrapped_keys()
    assert set(keys_after) == set(keys_before)
    for pk, (blob, kek_version) in keys_after.items():
        assert kek_version == 2
        assert blob != keys_before[pk][0]
    assert all_decrypt(expected)
    assert "Rewrapped 2 data key(s); 0 left" in out.getvalue()
    event = AuditEvent.objects.get(action="vault.kek_rotated")
    assert (event.details["rewrapped"], event.details["remaining"]) == (2, 0)


def test_rotate_kek_interrupted_after_one_batch_resumes_where_it_stopped(db, vault_keyring):
    clients = [ClientFactory() for _ in range(3)]
    expected = world(clients, per_client=1)
    data_before = ciphertexts()
    keyring_add_version(vault_keyring)

    assert kek_rotate(actor=None, batch_size=1, max_batches=1) == 1
    assert sorted(v for _, v in wrapped_keys().values()) == [1, 1, 2]
    assert all_decrypt(expected)  # old and new KEK versions both still open their keys

    assert kek_rotate(actor=None, batch_size=1) == 2
    assert [v for _, v in wrapped_keys().values()] == [2, 2, 2]
    assert kek_rotate(actor=None, batch_size=1) == 0
    assert ciphertexts() == data_before
    assert all_decrypt(expected)


def test_rotate_kek_with_the_provider_unreachable_fails_clearly_and_changes_nothing(
    client_a, transit_provider
):
    world([client_a], per_client=1)
    chain_key()  # a running Keyhold has written events: it holds its system key already
    keys_before = wrapped_keys()
    transit_provider.stop()

    with pytest.raises(CommandError, match=r"key provider failed.*run rotate_kek again"):
        call_command("rotate_kek", stdout=io.StringIO())

    assert wrapped_keys() == keys_before
    event = AuditEvent.objects.get(action="vault.kek_rotated")
    assert event.outcome == "error"


# --- Client DEK rotation -------------------------------------------------------------------


def test_rotate_client_key_reencrypts_every_field_and_destroys_the_old_key(client_a, client_b):
    expected = world([client_a, client_b])
    other_before = {pk: c for pk, c in ciphertexts().items() if expected[pk][0].client == client_b}
    old = ClientDataKey.objects.get(client=client_a)

    call_command("rotate_client_key", client_a.slug, "--wait", stdout=(out := io.StringIO()))

    assert all_decrypt(expected)
    for pk, (body, notes) in ciphertexts().items():
        if expected[pk][0].client == client_a:
            assert crypto.sealed_key_version(body) == crypto.sealed_key_version(notes) == 2
        else:
            assert (body, notes) == other_before[pk]
    old.refresh_from_db()
    assert (old.state, bytes(old.wrapped_key)) == ("destroyed", b"")
    assert old.destroyed_at is not None
    with pytest.raises(SecretUnavailable):
        data_key_for_client(client=client_a, version=1)
    assert "0 value(s) still sealed" in out.getvalue()
    assert AuditEvent.objects.filter(action="vault.client_key_rotation_started").count() == 1
    done = AuditEvent.objects.get(action="vault.client_key_rotated")
    assert done.details == {"active_version": 2, "destroyed_versions": [1]}
    assert done.client_id == client_a.pk


def test_rotation_queued_through_celery_runs_to_the_end(
    client_a, django_capture_on_commit_callbacks
):
    expected = world([client_a])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        key = client_key_rotation_start(actor=None, client=client_a)

    assert len(callbacks) == 1
    assert key.version == 2
    assert client_key_rotation_remaining(client_id=client_a.pk) == 0
    assert set(ClientDataKey.objects.values_list("version", "state")) == {
        (1, "destroyed"),
        (2, "active"),
    }
    assert all_decrypt(expected)


def test_rotation_interrupted_between_batches_resumes_and_keeps_every_value_readable(client_a):
    expected = world([client_a], per_client=3)  # six values
    client_key_rotation_start(actor=None, client=client_a)

    assert client_key_rotation_step(client_id=client_a.pk, batch_size=2) == 4
    assert all_decrypt(expected)  # half old, half new key: both readable meanwhile
    assert ClientDataKey.objects.get(client=client_a, version=1).state == "retiring"

    assert client_key_rotation_continue(str(client_a.pk), batch_size=2) == 0
    assert client_key_rotation_step(client_id=client_a.pk, batch_size=2) == 0  # idempotent
    assert AuditEvent.objects.filter(action="vault.client_key_rotated").count() == 1
    assert all_decrypt(expected)


def test_a_value_that_cannot_be_decrypted_keeps_the_old_key_and_is_audited(client_a):
    expected = world([client_a], per_client=2)
    broken, _, _ = next(iter(expected.values()))
    client_key_rotation_start(actor=None, client=client_a)
    blob = stored(broken)
    EncryptedRecord.objects.filter(pk=broken.pk).update(body=blob[:-1] + bytes([blob[-1] ^ 1]))

    assert client_key_rotation_continue(str(client_a.pk)) == 1

    assert stored(broken)[:-1] == blob[:-1]  # left as it was, never overwritten
    assert ClientDataKey.objects.get(client=client_a, version=1).state == "retiring"
    failures = AuditEvent.objects.filter(action="vault.decryption_failed")
    assert set(failures.values_list("outcome", "target_id")) == {("error", str(broken.pk))}
    assert not AuditEvent.objects.filter(action="vault.client_key_rotated").exists()


def test_rotation_needs_an_administrator_and_an_existing_key(client_a, alice, admin_user):
    with pytest.raises(AccessDenied):
        client_key_rotation_start(actor=alice, client=client_a)
    with pytest.raises(Exception, match="no data key to rotate"):
        client_key_rotation_start(actor=admin_user, client=client_a)

    denied = AuditEvent.objects.get(action="vault.client_key_rotation_started")
    assert (denied.outcome, denied.actor_user_id) == ("denied", alice.pk)
    assert not ClientDataKey.objects.filter(client=client_a).exists()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_app_write_during_rotation_is_never_lost(vault_keyring):
    client = ClientFactory()
    record = store(client, b"old password")
    start_queued_only(client)
    remaining = []

    with transaction.atomic():
        # The application edits the value and holds its row lock while the rotation runs.
        EncryptedRecord.objects.select_for_update().get(pk=record.pk)
        rotation = threading.Thread(
            target=lambda: (
                remaining.append(client_key_rotation_continue(str(client.pk), batch_size=10))
                or connection.close()
            )
        )
        rotation.start()
        rotation.join(timeout=1)
        assert rotation.is_alive()  # blocked on the row the application is writing
        EncryptedRecord.objects.filter(pk=record.pk).update(
            body=seal(client, record.pk, "body", b"new password")
        )
    rotation.join(timeout=30)

    assert remaining == [0]
    assert read(record) == b"new password"
    assert ClientDataKey.objects.get(client=client, version=1).state == "destroyed"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_rotates_a_client_key_through_redis(vault_keyring, worker_queue):  # noqa: F811
    assert app.conf.broker_url.startswith("redis://")
    client = ClientFactory()
    expected = world([client], per_client=2)
    # The start's task goes to the default queue, which no test worker reads: it is dropped
    # and the same task is handed to this test's worker.
    start_queued_only(client)

    result = client_key_rotation_continue.apply_async(args=[str(client.pk)], queue=worker_queue)

    assert result.get(timeout=90) == 0
    assert set(ClientDataKey.objects.values_list("version", "state")) == {
        (1, "destroyed"),
        (2, "active"),
    }
    assert all_decrypt(expected)
    assert audit_chain_check().ok


# --- Crypto-shredding ----------------------------------------------------------------------


def test_crypto_shred_makes_one_client_unreadable_and_keeps_the_audit_trail(
    client_a, client_b, admin_user
):
    expected = world([client_a, client_b])
    assert all_decrypt(expected)  # and the keys are now cached in this process

    assert client_keys_shred(
        actor=admin_user, client=client_a, reason="client left"
    ).destroyed_versions == [1]

    for record, body, notes in expected.values():
        if record.client == client_a:
            with pytest.raises(SecretUnavailable) as caught:
                read(record)
            assert caught.value.code == "data_key_destroyed"
        else:
            assert (read(record), read(record, "notes")) == (body, notes)
    key = ClientDataKey.objects.get(client=client_a)
    assert (key.state, bytes(key.wrapped_key)) == ("destroyed", b"")
    event = AuditEvent.objects.get(action="vault.client_shredded")
    assert (event.actor_user_id, event.reason) == (admin_user.pk, "client left")
    assert audit_chain_check().ok


def test_crypto_shred_is_for_administrators_only(client_a, alice):
    world([client_a], per_client=1)
    manager = UserFactory(roles=[Role.MANAGER])

    for actor in (alice, manager):
        with pytest.raises(AccessDenied):
            client_keys_shred(actor=actor, client=client_a, reason="no")

    assert ClientDataKey.objects.get(client=client_a).state == "active"
    assert AuditEvent.objects.filter(action="vault.client_shredded", outcome="denied").count() == 2
