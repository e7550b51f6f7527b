"""The bulk paths an import runs on: the vault's sealing and credential creation in bulk, and
rotation_tasks_open_bulk with rotation_task_request's invariants."""

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Target
from config.errors import AccessDenied, InvalidRequest
from rotation.models import PsaCall, RotationReason, RotationTask
from rotation.services.tasks import TaskRequest, rotation_task_request, rotation_tasks_open_bulk
from tests.rotation.test_psa_services import connect, server  # noqa: F401  (fixture)
from tests.vault.test_credentials import make_credential
from vault.envelope import (
    SecretNotSaved,
    SecretUnavailable,
    field_decrypt_many,
    field_encrypt_many,
)
from vault.models import ClientDataKey, CredentialType
from vault.services.imports import InheritedCredential, credential_import_bulk


def seal(client, values):
    with transaction.atomic():
        return field_encrypt_many(client=client, record_type="intake.import_row", values=values)


@pytest.mark.django_db
def test_bulk_sealing_binds_each_value_and_counts_every_encryption(alice, client_a):
    make_credential(client=client_a, actor=alice)
    before = ClientDataKey.objects.get(client=client_a).encryptions
    values = [(str(n), "secret", f"Canary-{n}".encode()) for n in range(5)]

    sealed = seal(client_a, values)

    assert ClientDataKey.objects.get(client=client_a).encryptions == before + 5
    assert all(b"Canary" not in value for value in sealed)
    opened = field_decrypt_many(
        client=client_a,
        record_type="intake.import_row",
        values=[(str(n), "secret", value) for n, value in enumerate(sealed)],
    )
    assert opened == [value for _, _, value in values]
    with pytest.raises(SecretUnavailable):
        field_decrypt_many(
            client=client_a, record_type="intake.import_row", values=[("1", "secret", sealed[0])]
        )
    with pytest.raises(SecretUnavailable):
        field_decrypt_many(
            client=client_a, record_type="vault.credential", values=[("0", "secret", sealed[0])]
        )


@pytest.mark.django_db
def test_bulk_sealing_refuses_past_the_data_keys_use_limit(client_a, settings):
    seal(client_a, [("0", "secret", b"x")])
    settings.KEYHOLD_DEK_MAX_ENCRYPTIONS = 3

    with pytest.raises(SecretNotSaved, match="use limit"):
        seal(client_a, [(str(n), "secret", b"x") for n in range(3)])
    assert ClientDataKey.objects.get(client=client_a).encryptions == 1


def _wanted(client, name="Router") -> InheritedCredential:
    row_id = uuid.uuid4()
    [secret] = seal(client, [(str(row_id), "secret", b"Canary-bulk")])
    return InheritedCredential(
        id=uuid.uuid4(),
        source_id=str(row_id),
        name=name,
        credential_type=CredentialType.OTHER,
        username="admin",
        host="router.contoso.local",
        folder="",
        secret=secret,
        notes=None,
        totp_seed=None,
    )


@pytest.mark.django_db
def test_bulk_credentials_need_manage_access_and_a_denial_is_recorded(alice, bob, client_a):
    wanted = _wanted(client_a)
    batch = Target(type="intake.importbatch", id=str(uuid.uuid4()), label="passwords.csv")

    with pytest.raises(AccessDenied):
        credential_import_bulk(
            actor=bob,
            client=client_a,
            credentials=[wanted],
            source_record_type="intake.import_row",
            batch=batch,
        )
    denied = AuditEvent.objects.get(action="credential.imported")
    assert (denied.outcome, denied.actor_user_id) == ("denied", bob.pk)
    [created] = credential_import_bulk(
        actor=alice,
        client=client_a,
        credentials=[wanted],
        source_record_type="intake.import_row",
        batch=batch,
    )
    assert created.pk == wanted.id
    event = AuditEvent.objects.get(action="credential.imported", outcome="success")
    assert event.details["vault_item_ids"] == [str(wanted.id)]


@pytest.mark.django_db
def test_bulk_credentials_refuse_values_the_vault_refuses(alice, client_a):
    wanted = _wanted(client_a)
    bad = InheritedCredential(**{**wanted.__dict__, "host": "javascript:alert(1)"})
    batch = Target(type="intake.importbatch", id=str(uuid.uuid4()), label="passwords.csv")

    with pytest.raises(InvalidRequest, match="The URL is refused"):
        credential_import_bulk(
            actor=alice,
            client=client_a,
            credentials=[bad],
            source_record_type="intake.import_row",
            batch=batch,
        )


@pytest.mark.django_db
def test_bulk_tasks_keep_one_open_task_per_credential_and_the_owner_rule(
    alice,
    bob,
    client_a,
    admin_user,
    server,  # noqa: F811
):
    client_a.primary_technician = bob
    client_a.save(update_fields=["primary_technician"])
    connect(admin_user, server, "webhook")
    standard = make_credential(
        client=client_a, actor=alice, name="PC", credential_type=CredentialType.STANDARD_USER
    )
    admin = make_credential(client=client_a, actor=alice, name="DC")
    already = make_credential(
        client=client_a, actor=alice, name="Old", credential_type=CredentialType.STANDARD_USER
    )
    existing = rotation_task_request(
        actor=alice,
        credential=already,
        reason=RotationReason.MANUAL,
        due_at=timezone.now() + timedelta(days=30),
    )
    soon = timezone.now() + timedelta(hours=48)

    tasks = rotation_tasks_open_bulk(
        actor=alice,
        client=client_a,
        requests=[
            TaskRequest(credential=standard, due_at=soon),
            TaskRequest(credential=admin, due_at=soon),
            TaskRequest(credential=already, due_at=soon),
        ],
        reason=RotationReason.INHERITED,
    )

    assert len(tasks) == 3
    assert RotationTask.objects.filter(status="open").count() == 3
    by_credential = {task.credential_id: task for task in RotationTask.objects.all()}
    # bob holds use access: he owns the standard task; the admin one needs privileged.
    assert by_credential[standard.pk].owner_id == bob.pk
    assert by_credential[admin.pk].owner_id is None
    joined = by_credential[already.pk]
    assert joined.pk == existing.pk
    assert joined.due_at == soon
    assert sorted(joined.reasons.values_list("reason", flat=True)) == ["inherited", "manual"]
    opened = PsaCall.objects.filter(operation="open")
    assert sorted(opened.values_list("idempotency_key", flat=True)) == sorted(
        f"keyhold-task-{by_credential[c.pk].pk}" for c in (standard, admin, already)
    )
    [event] = AuditEvent.objects.filter(action="rotation.tasks_created")
    assert event.details["count"] == 2
    assert sorted(event.details["vault_item_ids"]) == sorted([str(standard.pk), str(admin.pk)])
    assert AuditEvent.objects.filter(action="rotation.task_reason_added").count() == 1
