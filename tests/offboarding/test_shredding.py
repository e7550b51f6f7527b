"""Crypto-shredding a client: every data key destroyed, its secrets unreadable for good, its
audit trail intact; administrators or the retention job only."""

import pytest

from accounts.models import Role
from audit.models import AuditEvent
from audit.verification import audit_chain_check
from config.errors import AccessDenied, InvalidRequest
from tests.factories import UserFactory
from vault import envelope
from vault import services as vault_services
from vault.envelope import SecretNotSaved, SecretUnavailable, field_decrypt
from vault.models import CREDENTIAL_RECORD_TYPE, ClientDataKey, Credential, CredentialType
from vault.services.shredding import RETENTION_ACTOR_LABEL, client_keys_shred


def make(actor, client, name, secret):
    return vault_services.credential_create(
        actor=actor,
        client=client,
        name=name,
        credential_type=CredentialType.STANDARD_USER,
        secret=secret,
        notes=f"notes of {name}",
    )


def opened(credential, field="secret"):
    row = Credential.objects.get(pk=credential.pk)
    return field_decrypt(
        client=row.client,
        record_type=CREDENTIAL_RECORD_TYPE,
        record_id=str(row.pk),
        field=field,
        sealed=getattr(row, field),
    ).decode()


@pytest.fixture
def secrets_of_both(alice, admin_user, client_a, client_b):
    return {
        "a": make(alice, client_a, "Reception PC", "Canary-A-1"),
        "b": make(admin_user, client_b, "Fabrikam router", "Canary-B-1"),
    }


def cached_clients():
    return {entry[0] for entry in envelope._cache}


def test_retention_job_shred_destroys_every_key_and_the_secrets_stay_unreadable(
    secrets_of_both, client_a, alice
):
    assert opened(secrets_of_both["a"]) == "Canary-A-1"
    assert str(client_a.pk) in cached_clients()

    result = client_keys_shred(actor=None, client=client_a, reason="Retention ended")

    assert result.destroyed_versions == [1]
    key = ClientDataKey.objects.get(client=client_a)
    assert key.state == ClientDataKey.State.DESTROYED
    assert bytes(key.wrapped_key) == b""
    assert key.destroyed_at is not None
    assert str(client_a.pk) not in cached_clients()
    for field in ("secret", "notes"):
        with pytest.raises(SecretUnavailable) as raised:
            opened(secrets_of_both["a"], field)
        assert raised.value.code == "data_key_destroyed"
    assert opened(secrets_of_both["b"]) == "Canary-B-1"
    event = AuditEvent.objects.get(action="vault.client_shredded")
    assert (event.actor_user_id, event.actor_label) == (None, RETENTION_ACTOR_LABEL)
    assert event.details == {"destroyed_versions": [1]}
    assert result.event == event


def test_a_shredded_client_cannot_be_revealed_or_given_new_secrets(
    secrets_of_both, client_a, alice
):
    client_keys_shred(actor=None, client=client_a, reason="Retention ended")

    with pytest.raises(SecretUnavailable):
        vault_services.credential_reveal(actor=alice, credential=secrets_of_both["a"], ticket="T-1")
    with pytest.raises(SecretNotSaved) as refused:
        make(alice, client_a, "New one", "Canary-A-2")
    assert refused.value.code == "client_shredded"
    failed = AuditEvent.objects.filter(action="vault.decryption_failed").order_by("sequence")
    assert [e.details["error"] for e in failed] == ["data_key_destroyed", "client_shredded"]


def test_shredding_is_for_administrators_or_the_job(
    secrets_of_both, client_a, alice, bob, admin_user
):
    for person in (alice, bob):
        with pytest.raises(AccessDenied):
            client_keys_shred(actor=person, client=client_a, reason="No")
    assert ClientDataKey.objects.get(client=client_a).state == ClientDataKey.State.ACTIVE
    assert AuditEvent.objects.filter(action="vault.client_shredded", outcome="denied").count() == 2
    with pytest.raises(InvalidRequest):
        client_keys_shred(actor=admin_user, client=client_a, reason=" ")

    result = client_keys_shred(actor=admin_user, client=client_a, reason="Client asked")

    assert result.event.actor_user_id == admin_user.pk
    assert ClientDataKey.objects.get(client=client_a).state == ClientDataKey.State.DESTROYED


def test_shredding_again_destroys_nothing_more_and_the_chain_still_verifies(
    secrets_of_both, client_a
):
    events_before = AuditEvent.objects.filter(client_id=client_a.pk).count()
    client_keys_shred(actor=None, client=client_a, reason="Retention ended")

    again = client_keys_shred(actor=None, client=client_a, reason="Retention ended")

    assert again.destroyed_versions == []
    assert AuditEvent.objects.filter(client_id=client_a.pk).count() == events_before + 2
    created = AuditEvent.objects.get(action="credential.created", client_id=client_a.pk)
    assert created.target_label == "Reception PC"
    assert audit_chain_check().ok


def test_a_manager_role_alone_is_not_enough(secrets_of_both, client_a):
    manager = UserFactory(roles=[Role.MANAGER])

    with pytest.raises(AccessDenied, match="Only administrators"):
        client_keys_shred(actor=manager, client=client_a, reason="No")
    assert ClientDataKey.objects.get(client=client_a).state == ClientDataKey.State.ACTIVE
