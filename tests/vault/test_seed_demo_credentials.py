import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from vault.envelope import field_decrypt
from vault.models import ClientVaultPolicy, Credential


@pytest.mark.django_db
def test_demo_credentials_are_added_once_through_the_service(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo_credentials")
    call_command("seed_demo_credentials")
    assert "Demo credentials: 0 added." in capsys.readouterr().out
    assert Credential.objects.count() == 12
    assert AuditEvent.objects.filter(action="credential.created").count() == 12
    assert Credential.objects.get(name="Break-glass global admin").is_emergency
    assert Credential.objects.get(name="Microsoft 365 helpdesk").totp_seed
    policy = ClientVaultPolicy.objects.get(client__slug="contoso-dental")
    assert policy.checkout_approval_required
    assert policy.reveal_ticket_required
    assert AuditEvent.objects.filter(action="client.vault_policy_updated").count() == 1
    domain_admin = Credential.objects.get(name="Domain admin")
    assert domain_admin.privilege_tier == "high"
    assert domain_admin.system.name == "DC01"
    secret = field_decrypt(
        client=domain_admin.client,
        record_type="vault.credential",
        record_id=str(domain_admin.pk),
        field="secret",
        sealed=bytes(domain_admin.secret),
    )
    assert len(secret) == 20


@pytest.mark.django_db
def test_demo_credentials_need_debug_and_the_demo_staff(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo_credentials")
    settings.DEBUG = True
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("seed_demo_credentials")
