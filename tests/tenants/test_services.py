import pytest
from guardian.shortcuts import get_perms

from accounts.models import Role
from config.errors import AccessDenied, InvalidRequest
from tenants.models import AccessLevel, Assignment, Client
from tenants.selectors import client_level_for_user
from tenants.services import assignment_grant, assignment_revoke, client_create, system_create
from tests.factories import UserFactory


@pytest.mark.django_db
def test_grant_mirrors_guardian_permissions_up_to_the_level(alice, client_a):
    tech = UserFactory()
    assignment_grant(actor=alice, client=client_a, user=tech, level=AccessLevel.PRIVILEGED)
    assert set(get_perms(tech, client_a)) == {
        "access_client_view",
        "access_client_use",
        "access_client_privileged",
    }
    assert tech.has_perm("tenants.access_client_use", client_a)
    assert not tech.has_perm("tenants.access_client_manage", client_a)


@pytest.mark.django_db
def test_level_change_closes_the_old_grant_and_keeps_history(alice, bob, client_a):
    assignment_grant(actor=alice, client=client_a, user=bob, level=AccessLevel.PRIVILEGED)
    history = Assignment.objects.filter(user=bob, client=client_a).order_by("granted_at")
    assert history.count() == 2
    active = history.filter(revoked_at__isnull=True).get()
    closed = history.filter(revoked_at__isnull=False).get()
    assert active.level == AccessLevel.PRIVILEGED
    assert closed.level == AccessLevel.USE
    assert closed.revoked_by == alice
    assert client_level_for_user(actor=bob, client=client_a) == AccessLevel.PRIVILEGED


@pytest.mark.django_db
def test_regranting_the_same_level_changes_nothing(alice, bob, client_a):
    before = Assignment.objects.filter(user=bob).count()
    assignment_grant(actor=alice, client=client_a, user=bob, level=AccessLevel.USE)
    assert Assignment.objects.filter(user=bob).count() == before


@pytest.mark.django_db
def test_revoke_keeps_the_row_and_removes_permissions(alice, bob, client_a):
    assignment = Assignment.objects.get(user=bob, client=client_a)
    assignment_revoke(actor=alice, assignment=assignment)
    assignment.refresh_from_db()
    assert assignment.revoked_at is not None
    assert assignment.revoked_by == alice
    assert get_perms(bob, client_a) == []
    assert not Client.objects.for_user(bob, AccessLevel.VIEW).exists()


@pytest.mark.django_db
def test_manager_cannot_assign_on_a_client_they_do_not_manage(alice, client_b):
    tech = UserFactory()
    with pytest.raises(AccessDenied):
        assignment_grant(actor=alice, client=client_b, user=tech, level=AccessLevel.USE)
    assert not Assignment.objects.filter(user=tech).exists()


@pytest.mark.django_db
def test_technician_cannot_assign_even_with_manage_level(client_a, alice):
    lead = UserFactory(roles=[Role.TECHNICIAN])
    assignment_grant(actor=alice, client=client_a, user=lead, level=AccessLevel.MANAGE)
    with pytest.raises(AccessDenied):
        assignment_grant(actor=lead, client=client_a, user=UserFactory(), level=AccessLevel.USE)


@pytest.mark.django_db
def test_deactivated_staff_cannot_be_assigned(alice, client_a):
    gone = UserFactory(is_active=False)
    with pytest.raises(InvalidRequest):
        assignment_grant(actor=alice, client=client_a, user=gone, level=AccessLevel.USE)


@pytest.mark.django_db
def test_client_creator_manages_the_new_client(db):
    onboarding = UserFactory(roles=[Role.ONBOARDING])
    client = client_create(actor=onboarding, name="Woodgrove Clinic")
    assert client.slug == "woodgrove-clinic"
    assert client_level_for_user(actor=onboarding, client=client) == AccessLevel.MANAGE


@pytest.mark.django_db
def test_duplicate_short_name_is_a_clear_error(client_a):
    manager = UserFactory(roles=[Role.MANAGER])
    with pytest.raises(InvalidRequest, match="already uses the short name"):
        client_create(actor=manager, name="Contoso Dental")


@pytest.mark.django_db
def test_technician_cannot_create_clients(db):
    with pytest.raises(AccessDenied):
        client_create(actor=UserFactory(roles=[Role.TECHNICIAN]), name="Nope")


@pytest.mark.django_db
def test_system_needs_manage_level_and_a_unique_name(alice, bob, client_a, system_a):
    with pytest.raises(AccessDenied):
        system_create(actor=bob, client=client_a, name="New", kind="server")
    with pytest.raises(InvalidRequest, match="already has a system"):
        system_create(actor=alice, client=client_a, name=system_a.name, kind="server")
    assert system_create(actor=alice, client=client_a, name="FW", kind="firewall").pk
