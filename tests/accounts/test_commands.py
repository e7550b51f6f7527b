import pytest
from django.core.management import CommandError, call_command

from accounts.models import Invitation, Role, TotpDevice
from tests.factories import UserFactory


@pytest.mark.django_db
def test_demo_code_prints_the_current_code_of_a_demo_account(settings, capsys):
    settings.DEBUG = True
    user = UserFactory(is_demo=True)
    call_command("demo_code", user.email)
    code = capsys.readouterr().out.strip()
    assert code == TotpDevice.objects.get(user=user).current_code()
    assert len(code) == 6


@pytest.mark.django_db
def test_demo_code_refuses_a_real_account(settings):
    settings.DEBUG = True
    user = UserFactory(is_demo=False)
    with pytest.raises(CommandError, match="only for demo accounts"):
        call_command("demo_code", user.email)


@pytest.mark.django_db
def test_demo_code_refuses_when_debug_is_off(settings):
    settings.DEBUG = False
    user = UserFactory(is_demo=True)
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo_code", user.email)


@pytest.mark.django_db
def test_create_administrator_prints_a_one_time_link(capsys):
    call_command("create_administrator", "--email", "First@MSP.example", "--name", "First Admin")
    output = capsys.readouterr().out
    invitation = Invitation.objects.get(email="first@msp.example")
    assert invitation.roles == [Role.ADMINISTRATOR]
    assert invitation.invited_by is None
    token = output.strip().splitlines()[-1].rsplit("/invitation/", 1)[1].strip("/")
    assert Invitation.hash_token(token) == invitation.token_hash


@pytest.mark.django_db
def test_createsuperuser_is_refused_with_directions():
    from accounts.models import User

    with pytest.raises(Exception, match="create_administrator"):
        User.objects.create_superuser("root@msp.example", "x" * 20)


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_gives_two_staff_per_role(settings, capsys):
    from accounts.models import User
    from tenants.models import Assignment, Client

    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    output = capsys.readouterr().out
    assert "tina.tech@example.com" in output
    assert Client.objects.count() == 5
    for role in Role:
        assert User.objects.filter(groups__name=role, is_demo=True).count() == 2
    tina = User.objects.get(email="tina.tech@example.com")
    assert Assignment.objects.filter(user=tina, revoked_at=None).count() == 2
    assert all(
        TotpDevice.objects.filter(user=u, confirmed=True).exists() for u in User.objects.all()
    )


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_demo")
