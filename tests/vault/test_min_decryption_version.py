"""C25: a configured minimum data-key version blocks decryption under archived key versions.

Like Vault Transit's min_decryption_version: values sealed under a client DEK version below
KEYHOLD_MIN_DATA_KEY_VERSION are refused with the one safe error, the refusal is recorded
as vault.decryption_failed by the existing failure path, and the header's version cannot be
edited to slip past the minimum (it is authenticated).
"""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from audit.models import AuditEvent
from audit.services import Target
from config.env import env_int
from tests.vault.records import read, seal, store, stored
from tests.vault.test_credentials import SECRET, make_credential
from tests.vault.testapp.models import RECORD_TYPE, EncryptedRecord
from vault import crypto, services
from vault.envelope import (
    SecretNotSaved,
    SecretUnavailable,
    data_key_cache_clear,
    recording_decryption_failures,
)
from vault.models import ClientDataKey, CredentialType

pytestmark = pytest.mark.usefixtures("vault_keyring")

SAFE_MESSAGE = (
    "This secret cannot be decrypted right now. Nothing was shown or changed; "
    "the failure is in the audit log."
)


def failures():
    return AuditEvent.objects.filter(action="vault.decryption_failed")


def test_the_default_minimum_refuses_nothing(settings):
    assert settings.KEYHOLD_MIN_DATA_KEY_VERSION == 1


def test_a_malformed_or_zero_minimum_fails_loudly(monkeypatch):
    monkeypatch.setenv("KEYHOLD_MIN_DATA_KEY_VERSION", "two")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("KEYHOLD_MIN_DATA_KEY_VERSION", 1, minimum=1)
    monkeypatch.setenv("KEYHOLD_MIN_DATA_KEY_VERSION", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("KEYHOLD_MIN_DATA_KEY_VERSION", 1, minimum=1)


def test_v1_value_decrypts_after_rotation_to_v2_and_is_refused_once_the_minimum_is_2(
    client_a, bob, settings
):
    old = store(client_a, b"sealed under v1")
    services.client_key_rotation_start(actor=None, client=client_a)  # re-encryption not run
    new = store(client_a, b"sealed under v2")
    assert crypto.sealed_key_version(stored(old)) == 1
    assert crypto.sealed_key_version(stored(new)) == 2
    data_key_cache_clear()
    assert read(old) == b"sealed under v1"
    assert read(new) == b"sealed under v2"

    settings.KEYHOLD_MIN_DATA_KEY_VERSION = 2
    revealed = []
    target = Target(RECORD_TYPE, str(old.pk), "body")
    with (
        pytest.raises(SecretUnavailable) as caught,
        recording_decryption_failures(actor=bob, client=client_a, target=target),
        transaction.atomic(),
    ):
        revealed.append(read(old))

    assert revealed == []
    assert caught.value.code == "data_key_version_retired"
    assert caught.value.message == SAFE_MESSAGE
    event = failures().get()
    assert (event.outcome, event.reason) == ("error", "data_key_version_retired")
    assert (event.actor_user_id, event.client_id) == (bob.pk, client_a.pk)
    assert event.target_id == str(old.pk)
    assert event.details == {"error": "data_key_version_retired"}
    assert read(new) == b"sealed under v2"  # the current version is unaffected
    # The v1 key itself is still there (retiring): the refusal is the setting's doing.
    assert ClientDataKey.objects.get(client=client_a, version=1).state == "retiring"


def test_a_refused_reveal_of_a_credential_is_audited_and_shows_nothing(
    client, client_a, bob, settings
):
    from tests.conftest import sign_in

    credential = make_credential(
        client=client_a, credential_type=CredentialType.STANDARD_USER, name="Front desk"
    )
    services.client_key_rotation_start(actor=None, client=client_a)
    settings.KEYHOLD_MIN_DATA_KEY_VERSION = 2
    sign_in(client, bob)

    response = client.post(
        f"/clients/{client_a.slug}/credentials/{credential.pk}/reveal/", {"ticket": "T-9"}
    )

    assert response.status_code == 503
    html = response.content.decode()
    assert SECRET not in html
    assert "cannot be decrypted" in html
    assert "data_key_version_retired" not in html  # the code is for the audit log only
    event = failures().get()
    assert event.reason == "data_key_version_retired"
    assert event.target_id == str(credential.pk)
    assert event.actor_user_id == bob.pk
    assert not AuditEvent.objects.filter(action="credential.revealed", outcome="success").exists()


def test_after_a_completed_rotation_raising_the_minimum_keeps_every_value_readable(
    client_a, settings
):
    records = {store(client_a, f"value {n}".encode()): f"value {n}".encode() for n in range(3)}
    services.client_key_rotation_start(actor=None, client=client_a)
    assert services.client_key_rotation_step(client_id=client_a.pk, batch_size=10) == 0

    settings.KEYHOLD_MIN_DATA_KEY_VERSION = 2
    data_key_cache_clear()
    assert {record: read(record) for record in records} == records
    assert not failures().exists()


def test_editing_the_header_version_to_pass_the_minimum_does_not_decrypt(client_a, settings):
    record = store(client_a, b"sealed under v1")
    services.client_key_rotation_start(actor=None, client=client_a)
    settings.KEYHOLD_MIN_DATA_KEY_VERSION = 2
    blob = stored(record)
    forged = blob[:3] + (2).to_bytes(4, "big") + blob[7:]  # claims v2; header is in the AAD
    EncryptedRecord.objects.filter(pk=record.pk).update(body=forged)

    with pytest.raises(SecretUnavailable) as caught:
        read(record)
    assert caught.value.code == "decryption_failed"


def test_the_wrapper_refuses_a_key_version_below_its_minimum_without_using_the_key():
    key = crypto.generate_key()
    sealed = crypto.seal(b"x", key=key, key_version=1, associated_data=b"ad")
    asked = []

    def key_for_version(version: int) -> bytes:
        asked.append(version)
        return key

    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(
            sealed, key_for_version=key_for_version, associated_data=b"ad", min_key_version=2
        )
    assert asked == []
    assert (
        crypto.open_sealed(
            sealed, key_for_version=key_for_version, associated_data=b"ad", min_key_version=1
        )
        == b"x"
    )


def test_sealing_under_an_active_key_below_the_minimum_is_refused(client_a, settings):
    record = store(client_a, b"first value")
    before = stored(record)
    settings.KEYHOLD_MIN_DATA_KEY_VERSION = 2

    def save_new_value() -> None:
        with transaction.atomic():
            EncryptedRecord.objects.filter(pk=record.pk).update(
                body=seal(client_a, record.pk, "body", b"never readable")
            )

    with pytest.raises(SecretNotSaved) as caught:
        save_new_value()
    assert caught.value.code == "data_key_version_retired"
    assert stored(record) == before
