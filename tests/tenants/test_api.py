"""Clients and systems in the REST API: scoped to the caller and, for a limited token, to its
clients; filters; the caller's level; constant queries; 404 beyond reach."""

from datetime import timedelta

import pytest
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from integrations.services.tokens import api_token_create
from tenants.models import AccessLevel, Client, System
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import ClientFactory, SystemFactory, UserFactory

CLIENTS = "/api/v1/clients/"
SYSTEMS = "/api/v1/systems/"
PROBLEM = "application/problem+json"


def bearer(admin, *, scopes=("clients:read",), clients=()):
    _, plaintext = api_token_create(
        actor=admin,
        name="PSA sync",
        scopes=list(scopes),
        clients=list(clients),
        expires_at=timezone.now() + timedelta(days=30),
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


@pytest.fixture
def token_a(admin_user, client_a):
    """A clients:read token of an administrator of A and B, limited to client A."""
    return bearer(admin_user, clients=[client_a])


def test_client_list_is_the_tokens_clients_with_level_and_active_system_count(
    token_a, client_a, client_b, system_a, system_b
):
    SystemFactory(client=client_a, name="OLD-FS", status=System.Status.DECOMMISSIONED)
    Client.objects.filter(pk=client_a.pk).update(psa_company_id="CW-1042")
    response = Browser().get(CLIENTS, **token_a)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (item,) = body["results"]
    assert item == {
        "id": str(client_a.pk),
        "name": "Contoso Dental",
        "slug": "contoso-dental",
        "status": "active",
        "psa_company_id": "CW-1042",
        "business_time_zone": "UTC",
        "my_level": "manage",
        "system_count": 1,
        "created_at": item["created_at"],
    }


def test_a_client_without_systems_counts_zero(token_a, client_a):
    assert Browser().get(f"{CLIENTS}{client_a.pk}/", **token_a).json()["system_count"] == 0


def test_a_token_limited_to_client_a_gets_404_for_client_b_and_its_systems(
    token_a, client_a, client_b, system_a, system_b
):
    browser = Browser()
    assert browser.get(f"{CLIENTS}{client_a.pk}/", **token_a).status_code == 200
    assert browser.get(f"{SYSTEMS}{system_a.pk}/", **token_a).status_code == 200
    for path in (f"{CLIENTS}{client_b.pk}/", f"{SYSTEMS}{system_b.pk}/"):
        body = problem(browser.get(path, **token_a), 404)
        assert body["detail"] == "Not found, or outside what this request may reach."
    # Filtering on B's id finds nothing rather than B's systems.
    assert browser.get(SYSTEMS, {"client": client_b.pk}, **token_a).json()["results"] == []
    names = [s["name"] for s in browser.get(SYSTEMS, **token_a).json()["results"]]
    assert names == ["DC01"]


def test_the_same_administrator_without_a_limit_sees_both(admin_user, client_a, client_b):
    names = [c["name"] for c in Browser().get(CLIENTS, **bearer(admin_user)).json()["results"]]
    assert names == ["Contoso Dental", "Fabrikam Logistics"]


def test_a_missing_client_or_system_is_the_same_404(token_a):
    missing = "00000000-0000-0000-0000-000000000001"
    for path in (f"{CLIENTS}{missing}/", f"{SYSTEMS}{missing}/"):
        body = problem(Browser().get(path, **token_a), 404)
        assert body["detail"] == "Not found, or outside what this request may reach."


def test_sessions_see_their_own_clients_bob_with_use_charlie_only_b(bob, charlie, client_a):
    browser = Browser()
    sign_in(browser, bob)
    (only,) = browser.get(CLIENTS).json()["results"]
    assert (only["name"], only["my_level"]) == ("Contoso Dental", "use")
    sign_in(browser, charlie)
    assert [c["name"] for c in browser.get(CLIENTS).json()["results"]] == ["Fabrikam Logistics"]
    problem(browser.get(f"{CLIENTS}{client_a.pk}/"), 404)


def test_a_session_without_mfa_is_refused(bob):
    browser = Browser()
    sign_in(browser, bob, verified=False)
    assert problem(browser.get(CLIENTS), 401)


def test_a_token_without_clients_read_is_refused_and_audited(admin_user, client_a, system_a):
    headers = bearer(admin_user, scopes=["credentials:read"])
    for path in (CLIENTS, f"{CLIENTS}{client_a.pk}/", SYSTEMS, f"{SYSTEMS}{system_a.pk}/"):
        body = problem(Browser().get(path, **headers), 403)
        assert body["detail"] == "This API token does not have the clients:read scope."
    assert AuditEvent.objects.filter(action="api_token.scope_refused").count() == 4


def test_client_filters_search_and_status(admin_user, client_a, client_b):
    Client.objects.filter(pk=client_b.pk).update(status=Client.Status.OFFBOARDING)
    headers = bearer(admin_user)
    browser = Browser()

    def names(**query):
        return [c["name"] for c in browser.get(CLIENTS, query, **headers).json()["results"]]

    assert names(search="contoso") == ["Contoso Dental"]
    assert names(search="fabrikam-log") == ["Fabrikam Logistics"]
    assert names(status="offboarding") == ["Fabrikam Logistics"]
    assert names(status="active", search="fabrikam") == []
    body = problem(browser.get(CLIENTS, {"status": "gone"}, **headers), 400)
    assert list(body["errors"]) == ["status"]


def test_system_filters_client_kind_status_and_search(admin_user, client_a, client_b, system_a):
    SystemFactory(client=client_a, name="FW01", kind=System.Kind.FIREWALL)
    SystemFactory(client=client_a, name="OLD01", status=System.Status.DECOMMISSIONED)
    SystemFactory(client=client_b, name="FS01")
    headers = bearer(admin_user)
    browser = Browser()

    def names(**query):
        return [s["name"] for s in browser.get(SYSTEMS, query, **headers).json()["results"]]

    assert names() == ["DC01", "FW01", "OLD01", "FS01"]  # by client name, then name
    assert names(client=str(client_b.pk)) == ["FS01"]
    assert names(kind="firewall") == ["FW01"]
    assert names(status="decommissioned") == ["OLD01"]
    assert names(search="fabrikam") == ["FS01"]
    assert names(search="dc0") == ["DC01"]
    body = problem(browser.get(SYSTEMS, {"client": "not-an-id"}, **headers), 400)
    assert list(body["errors"]) == ["client"]
    detail = browser.get(f"{SYSTEMS}{system_a.pk}/", **headers).json()
    assert detail == {
        "id": str(system_a.pk),
        "client": {"id": str(client_a.pk), "name": "Contoso Dental"},
        "name": "DC01",
        "kind": "server",
        "status": "active",
        "created_at": detail["created_at"],
    }


@pytest.mark.parametrize("path", [CLIENTS, SYSTEMS])
def test_lists_issue_the_same_queries_for_one_row_or_thirty(
    client_a, path, django_assert_num_queries
):
    admin = UserFactory(roles=[Role.ADMINISTRATOR])
    assignment_grant(actor=None, client=client_a, user=admin, level=AccessLevel.VIEW)
    headers = bearer(admin)
    browser = Browser()
    SystemFactory(client=client_a)
    browser.get(path, **headers)  # notes the token's first use (one UPDATE a minute)
    with django_assert_num_queries(3):
        assert browser.get(path, **headers).json()["count"] == 1
    for _ in range(29):
        client = ClientFactory()
        assignment_grant(actor=None, client=client, user=admin, level=AccessLevel.VIEW)
        SystemFactory(client=client)
    with django_assert_num_queries(3):
        assert browser.get(path, **headers).json()["count"] == 30
