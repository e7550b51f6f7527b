import pytest

from tenants.models import AccessLevel, Assignment, System
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import ClientFactory, SystemFactory, UserFactory


@pytest.mark.django_db
def test_client_list_shows_exactly_the_assigned_clients(client, bob, charlie, client_a, client_b):
    sign_in(client, bob)
    body = client.get("/").content.decode()
    assert client_a.name in body
    assert client_b.name not in body


@pytest.mark.django_db
def test_client_list_query_count_is_constant(client, bob, django_assert_num_queries):
    sign_in(client, bob)
    client.get("/")
    with django_assert_num_queries(10):
        client.get("/")
    for _ in range(15):
        extra = ClientFactory()
        SystemFactory(client=extra)
        assignment_grant(actor=None, client=extra, user=bob, level=AccessLevel.VIEW)
    with django_assert_num_queries(10):
        response = client.get("/")
    assert response.content.decode().count("badge-level-") == 16


@pytest.mark.django_db
def test_client_page_lists_systems_and_offers_staff_access_to_managers(
    client, alice, client_a, system_a
):
    sign_in(client, alice)
    body = client.get(f"/clients/{client_a.slug}/").content.decode()
    assert system_a.name in body
    assert f"/clients/{client_a.slug}/access/" in body


@pytest.mark.django_db
def test_manager_adds_a_system_and_bad_input_keeps_what_was_typed(client, alice, client_a):
    sign_in(client, alice)
    response = client.post(f"/clients/{client_a.slug}/", {"name": "FW01", "kind": "firewall"})
    assert response.status_code == 302
    assert System.objects.filter(client=client_a, name="FW01").exists()
    response = client.post(f"/clients/{client_a.slug}/", {"name": "FW01", "kind": "firewall"})
    body = response.content.decode()
    assert "already has a system named" in body
    assert 'value="FW01"' in body


@pytest.mark.django_db
def test_manager_assigns_from_the_client_page(client, alice, client_a):
    tech = UserFactory(full_name="Terry Tech")
    sign_in(client, alice)
    response = client.post(
        f"/clients/{client_a.slug}/access/", {"user": tech.pk, "level": AccessLevel.USE}
    )
    assert response.status_code == 302
    assert Assignment.objects.filter(user=tech, client=client_a, revoked_at=None).exists()
    assert "Terry Tech" in client.get(f"/clients/{client_a.slug}/access/").content.decode()


@pytest.mark.django_db
def test_manager_assigns_from_the_staff_page_only_to_clients_they_manage(
    client, alice, client_a, client_b
):
    tech = UserFactory()
    sign_in(client, alice)
    page = client.get(f"/staff/{tech.pk}/clients/").content.decode()
    assert client_a.name in page
    assert client_b.name not in page
    client.post(f"/staff/{tech.pk}/clients/", {"client": client_b.pk, "level": AccessLevel.USE})
    assert not Assignment.objects.filter(user=tech, client=client_b).exists()
    client.post(f"/staff/{tech.pk}/clients/", {"client": client_a.pk, "level": AccessLevel.USE})
    assert Assignment.objects.filter(user=tech, client=client_a, revoked_at=None).exists()


@pytest.mark.django_db
def test_revoke_from_the_client_page_keeps_history_visible(client, alice, bob, client_a):
    sign_in(client, alice)
    assignment = Assignment.objects.get(user=bob, client=client_a)
    client.post(f"/clients/{client_a.slug}/access/{assignment.pk}/revoke/")
    assignment.refresh_from_db()
    assert assignment.revoked_by == alice
    page = client.get(f"/clients/{client_a.slug}/access/").content.decode()
    assert "row-muted" in page


@pytest.mark.django_db
def test_search_finds_only_visible_clients_and_systems(
    client, bob, charlie, client_a, client_b, system_a, system_b
):
    sign_in(client, bob)
    body = client.get("/search/", {"q": "0"}).content.decode()
    assert system_a.name in body
    assert system_b.name not in body
    body = client.get("/search/", {"q": "Fabrikam"}).content.decode()
    assert "Nothing you can see matches" in body


@pytest.mark.django_db
def test_onboarding_staff_add_a_client(client):
    onboarding = UserFactory(roles=["Onboarding"])
    sign_in(client, onboarding)
    response = client.post(
        "/clients/new/",
        {
            "name": "Tailspin Toys",
            "slug": "",
            "status": "onboarding",
            "psa_company_id": "",
            "business_time_zone": "Europe/Berlin",
        },
    )
    assert response["Location"] == "/clients/tailspin-toys/"
    assert client.get("/clients/tailspin-toys/").status_code == 200


@pytest.mark.django_db
def test_technician_cannot_add_clients(client, bob):
    sign_in(client, bob)
    response = client.get("/clients/new/")
    assert response.status_code == 403
    assert "Only managers, administrators or onboarding staff can add clients." in (
        response.content.decode()
    )
