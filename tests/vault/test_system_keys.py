"""Keyhold's own keys come from the key provider (vault/system_keys.py).

The audit chain key, the seal of staff TOTP secrets and the backup-code digests derive from
a system key wrapped by the provider's KEK: with Vault Transit configured, no keyring file
is needed, a provider outage fails closed, and rotate_kek rewraps the system key too.
"""

import io

import pytest
from django.core.management import call_command

from accounts.models import Role, TotpDevice
from audit.models import AuditEvent
from audit.services import AuditWriteError
from audit.verification import audit_chain_check
from tenants import services as tenant_services
from tenants.models import Client
from tests.factories import UserFactory
from vault.keyring import keyring_add_version
from vault.models import SystemKey
from vault.system_keys import system_key_cache_clear

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_system_key_cache():
    system_key_cache_clear()
    yield
    system_key_cache_clear()


def test_with_transit_the_chain_and_staff_mfa_need_no_keyring_file(
    settings, tmp_path, transit_provider
):
    settings.KEYHOLD_KEYRING = tmp_path / "no-keyring-here.json"
    admin = UserFactory(roles=[Role.ADMINISTRATOR])

    tenant_services.client_create(actor=admin, name="Contoso Dental")
    device = TotpDevice.objects.get(user=admin, confirmed=True)
    secret = device.secret()

    row = SystemKey.objects.get()
    assert row.provider == "vault-transit"
    assert AuditEvent.objects.filter(action="client.created").count() == 1
    assert audit_chain_check().ok
    system_key_cache_clear()
    device = TotpDevice.objects.get(user=admin, confirmed=True)
    assert device.secret() == secret
    assert device.verify_token(device.current_code())
    assert audit_chain_check().ok


def test_an_unreachable_provider_without_a_held_key_refuses_the_action(transit_provider):
    admin = UserFactory(roles=[Role.ADMINISTRATOR])
    tenant_services.client_create(actor=admin, name="Contoso Dental")
    system_key_cache_clear()
    transit_provider.stop()

    with pytest.raises(AuditWriteError):
        tenant_services.client_create(actor=admin, name="Fabrikam Legal")

    assert not Client.objects.filter(name="Fabrikam Legal").exists()
    assert AuditEvent.objects.filter(action="client.created").count() == 1


def test_rotate_kek_rewraps_the_system_key_and_old_events_still_verify(vault_keyring):
    admin = UserFactory(roles=[Role.ADMINISTRATOR])
    tenant_services.client_create(actor=admin, name="Contoso Dental")
    before = SystemKey.objects.get()
    assert before.provider_key_version == 1

    keyring_add_version(vault_keyring)
    call_command("rotate_kek", stdout=io.StringIO())

    after = SystemKey.objects.get()
    assert after.provider_key_version == 2
    assert bytes(after.wrapped_key) != bytes(before.wrapped_key)
    event = AuditEvent.objects.get(action="vault.kek_rotated")
    assert event.details["system_keys_rewrapped"] == 1
    system_key_cache_clear()
    assert audit_chain_check().ok
