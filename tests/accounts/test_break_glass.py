"""Administrators let a named person open sealed emergency credentials, or stop them.

Action covered here: staff.break_glass_changed, exactly one event per change.
"""

import pytest

from accounts import services
from accounts.models import Role, User
from audit.models import AuditEvent
from config.errors import AccessDenied
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault.services.emergency import emergency_open

REASON = "Domain controller down, no other admin path"


def events(outcome="success"):
    return AuditEvent.objects.filter(action="staff.break_glass_changed", outcome=outcome)


@pytest.mark.django_db
def test_an_administrator_grants_and_removes_break_glass_with_one_event_each(
    admin_user, alice, bob, client_a
):
    sealed = make_credential(client=client_a, actor=alice, name="Break glass", is_emergency=True)
    with pytest.raises(AccessDenied):
        emergency_open(actor=bob, credential=sealed, reason=REASON)

    services.break_glass_set(actor=admin_user, user=bob, allowed=True)
    bob = User.objects.get(pk=bob.pk)
    assert bob.has_perm("vault.open_emergency")
    assert emergency_open(actor=bob, credential=sealed, reason=REASON) == SECRET
    granted = events().get()
    assert (granted.actor_user_id, granted.target_id) == (admin_user.pk, str(bob.pk))
    assert granted.details == {"allowed": True}

    services.break_glass_set(actor=admin_user, user=bob, allowed=False)
    bob = User.objects.get(pk=bob.pk)
    assert not bob.has_perm("vault.open_emergency")
    assert events().count() == 2


@pytest.mark.django_db
def test_only_administrators_grant_break_glass(alice, bob):
    with pytest.raises(AccessDenied):
        services.break_glass_set(actor=alice, user=bob, allowed=True)
    assert not User.objects.get(pk=bob.pk).has_perm("vault.open_emergency")
    assert events("denied").count() == 1


@pytest.mark.django_db
def test_the_staff_page_grants_it_after_a_recent_mfa_check(client, admin_user, bob):
    sign_in(client, admin_user)
    page = client.get(f"/staff/{bob.pk}/").content.decode()
    assert "cannot open sealed emergency credentials" in page
    response = client.post(f"/staff/{bob.pk}/break-glass/", {"allowed": "yes"})
    assert response.status_code == 302
    assert User.objects.get(pk=bob.pk).has_perm("vault.open_emergency")
    page = client.get(f"/staff/{bob.pk}/").content.decode()
    assert "Remove break-glass access" in page


@pytest.mark.django_db
def test_a_managers_page_says_the_role_carries_it(client, admin_user):
    manager = UserFactory(roles=[Role.MANAGER])
    sign_in(client, admin_user)
    page = client.get(f"/staff/{manager.pk}/").content.decode()
    assert "As a manager" in page
    assert "Allow break-glass access" not in page
