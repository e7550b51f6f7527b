"""Checkouts through the REST API: request, approve, deny, cancel and check in through the
services; 409 for a credential someone else holds; client B out of reach of a token limited
to client A on every route; scopes refused and audited; the list's query count is fixed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from integrations.services.tokens import api_token_create
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.factories import UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault.models import Checkout, ClientVaultPolicy
from vault.services.checkouts import checkout_request

LIST = "/api/v1/checkouts/"
PROBLEM = "application/problem+json"
EVERY_SCOPE = [
    "clients:read", "credentials:read", "credentials:reveal", "credentials:write",
    "checkouts:write", "rotation:read", "rotation:write", "audit:read", "intake:write",
]  # fmt: skip


def api_token(user, *, scopes=EVERY_SCOPE, clients=()):
    """A token created by `user` (an administrator) and the headers that present it."""
    token, plaintext = api_token_create(
        actor=user,
        name=f"PSA sync {user.email}",
        scopes=list(scopes),
        clients=list(clients),
        expires_at=timezone.now() + timedelta(days=30),
    )
    return token, {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def api_post(path, headers, body=None):
    return Browser().post(path, body or {}, content_type="application/json", **headers)


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


def query_count(path, headers) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert Browser().get(path, **headers).status_code == 200
    return len(queries)


def person(email, *, roles, levels):
    """An administrator (so they may create tokens) with extra roles and client levels."""
    user = UserFactory(email=email, full_name=email.split("@")[0].title(), roles=roles)
    for client, level in levels.items():
        assignment_grant(actor=None, client=client, user=user, level=level)
    return user


@pytest.fixture
def tara(client_a, client_b):
    """Privileged technician on A and B, who runs the PSA integration's tokens."""
    return person(
        "tara@msp.example",
        roles=[Role.ADMINISTRATOR, Role.TECHNICIAN],
        levels={client_a: AccessLevel.PRIVILEGED, client_b: AccessLevel.PRIVILEGED},
    )


@pytest.fixture
def tom(client_a):
    """A second privileged technician on A."""
    return person(
        "tom@msp.example",
        roles=[Role.ADMINISTRATOR, Role.TECHNICIAN],
        levels={client_a: AccessLevel.PRIVILEGED},
    )


@pytest.fixture
def max_manager(client_a, client_b):
    """A manager of A and B who answers requests through the API."""
    return person(
        "max@msp.example",
        roles=[Role.ADMINISTRATOR, Role.MANAGER],
        levels={client_a: AccessLevel.MANAGE, client_b: AccessLevel.MANAGE},
    )


@pytest.fixture
def domain_admin(client_a, alice):
    return make_credential(client=client_a, actor=alice)


@pytest.fixture
def domain_admin_b(client_b):
    return make_credential(client=client_b, name="FS01 domain admin")


@pytest.fixture
def approval_policy(client_a):
    return ClientVaultPolicy.objects.create(client=client_a, checkout_approval_required=True)


def ask(headers, credential, **overrides):
    body = {
        "credential_id": str(credential.pk),
        "ticket": "T-100",
        "reason": "Reset the DC trust",
        **overrides,
    }
    return api_post(LIST, headers, body)


def detail(checkout, action=""):
    return f"{LIST}{checkout.pk}/{action + '/' if action else ''}"


# --- Request, approve, check in ---------------------------------------------------------------


def test_request_approve_and_check_in_through_the_api(
    tara, max_manager, domain_admin, approval_policy
):
    tara_token, tara_headers = api_token(tara)
    max_token, max_headers = api_token(max_manager)

    asked = ask(tara_headers, domain_admin, duration_minutes=30)
    assert asked.status_code == 201, asked.content
    body = asked.json()
    assert body["status"] == "requested"
    assert body["credential"] == str(domain_admin.pk)
    assert body["requested_by"] == tara.email
    assert (body["ticket"], body["duration_minutes"]) == ("T-100", 30)
    checkout = Checkout.objects.get(pk=body["id"])

    approved = api_post(detail(checkout, "approve"), max_headers, {"note": "Go ahead"})
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "active"
    assert approved.json()["decided_by"] == max_manager.email
    assert approved.json()["expires_at"]

    returned = api_post(detail(checkout, "check-in"), tara_headers)
    assert returned.status_code == 200, returned.content
    assert returned.json()["status"] == "returned"
    assert returned.json()["ended_by"] == tara.email

    refs = dict(
        AuditEvent.objects.filter(
            action__in=[
                "credential.checkout_requested",
                "credential.checkout_approved",
                "credential.checked_in",
            ]
        ).values_list("action", "actor_ref")
    )
    assert refs == {
        "credential.checkout_requested": f"api_token:{tara_token.pk}",
        "credential.checkout_approved": f"api_token:{max_token.pk}",
        "credential.checked_in": f"api_token:{tara_token.pk}",
    }
    for response in (asked, approved, returned):
        assert SECRET not in response.content.decode()


def test_without_an_approval_policy_the_lease_starts_at_once(tara, domain_admin):
    _, headers = api_token(tara)
    response = ask(headers, domain_admin)
    assert response.status_code == 201
    assert response.json()["status"] == "active"
    assert response.json()["duration_minutes"] == 60  # the client's default


def test_a_second_technician_gets_409_naming_the_holder(tara, tom, domain_admin):
    _, tara_headers = api_token(tara)
    _, tom_headers = api_token(tom)
    assert ask(tara_headers, domain_admin).status_code == 201
    body = problem(ask(tom_headers, domain_admin), 409)
    assert body["detail"].startswith(f"Held by {tara.full_name} until")
    assert Checkout.objects.filter(status="active").count() == 1
    refused = AuditEvent.objects.get(action="credential.checkout_requested", outcome="denied")
    assert refused.actor_user_id == tom.pk


def test_a_technician_without_privileged_level_gets_403_not_409(client_a, domain_admin):
    user_level = person(
        "uma@msp.example",
        roles=[Role.ADMINISTRATOR, Role.TECHNICIAN],
        levels={client_a: AccessLevel.USE},
    )
    _, headers = api_token(user_level)
    body = problem(ask(headers, domain_admin), 403)
    assert "this needs privileged access" in body["detail"]
    assert not Checkout.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ticket": "  "}, "ticket"),
        ({"reason": ""}, "reason"),
        ({"credential_id": "not-a-uuid"}, "credential_id"),
        ({"duration_minutes": 2}, "duration_minutes"),
        ({"ticket": "T" * 65}, "ticket"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(tara, domain_admin, overrides, field):
    _, headers = api_token(tara)
    body = problem(ask(headers, domain_admin, **overrides), 400)
    assert list(body["errors"]) == [field]
    assert not Checkout.objects.exists()


def test_deny_needs_a_note_and_then_tells_why(tara, max_manager, domain_admin, approval_policy):
    _, tara_headers = api_token(tara)
    _, max_headers = api_token(max_manager)
    checkout = Checkout.objects.get(pk=ask(tara_headers, domain_admin).json()["id"])
    body = problem(api_post(detail(checkout, "deny"), max_headers, {"note": " "}), 400)
    assert body["errors"] == {"note": ["Say why the request is denied, so the technician knows."]}
    denied = api_post(detail(checkout, "deny"), max_headers, {"note": "Use the break-glass"})
    assert denied.status_code == 200
    assert denied.json()["status"] == "denied"
    assert denied.json()["decision_note"] == "Use the break-glass"
    assert AuditEvent.objects.filter(action="credential.checkout_denied").count() == 1


def test_the_requester_cancels_but_cannot_approve_their_own_request(
    domain_admin, approval_policy, client_a
):
    manager = person(
        "mia@msp.example",
        roles=[Role.ADMINISTRATOR, Role.MANAGER],
        levels={client_a: AccessLevel.MANAGE},
    )
    _, headers = api_token(manager)
    checkout = Checkout.objects.get(pk=ask(headers, domain_admin).json()["id"])
    body = problem(api_post(detail(checkout, "approve"), headers), 403)
    assert "cannot approve your own checkout request" in body["detail"]
    cancelled = api_post(detail(checkout, "cancel"), headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"


def test_only_a_manager_approves(tara, tom, domain_admin, approval_policy):
    _, tara_headers = api_token(tara)
    _, tom_headers = api_token(tom)
    checkout = Checkout.objects.get(pk=ask(tara_headers, domain_admin).json()["id"])
    body = problem(api_post(detail(checkout, "approve"), tom_headers), 403)
    assert "Only a manager" in body["detail"]
    assert Checkout.objects.get(pk=checkout.pk).status == "requested"


# --- Reading ----------------------------------------------------------------------------------


def test_list_shows_my_checkouts_and_a_manager_the_requests_awaiting_them(
    tara, tom, max_manager, domain_admin, approval_policy, client_a, alice
):
    other = make_credential(client=client_a, actor=alice, name="Firewall admin")
    mine = checkout_request(actor=tara, credential=domain_admin, ticket="T-1", reason="Work")
    toms = checkout_request(actor=tom, credential=other, ticket="T-2", reason="Work")
    _, tara_headers = api_token(tara)
    _, max_headers = api_token(max_manager)

    seen_by_tara = Browser().get(LIST, **tara_headers).json()
    assert [row["id"] for row in seen_by_tara["results"]] == [str(mine.pk)]
    seen_by_max = Browser().get(LIST, **max_headers).json()
    assert {row["id"] for row in seen_by_max["results"]} == {str(mine.pk), str(toms.pk)}
    assert seen_by_max["count"] == 2

    only_other = Browser().get(f"{LIST}?credential={other.pk}", **max_headers).json()
    assert [row["id"] for row in only_other["results"]] == [str(toms.pk)]
    none_active = Browser().get(f"{LIST}?status=active", **max_headers).json()
    assert none_active["results"] == []
    assert problem(Browser().get(f"{LIST}?status=lost", **max_headers), 400)["errors"]["status"]
    assert SECRET not in str(seen_by_max)


def test_retrieve_shows_a_checkout_of_a_client_one_can_see(tara, domain_admin, alice):
    checkout = checkout_request(actor=tara, credential=domain_admin, ticket="T-1", reason="Work")
    _, headers = api_token(tara)
    response = Browser().get(detail(checkout), **headers)
    assert response.status_code == 200
    assert response.json()["id"] == str(checkout.pk)
    assert response.json()["client_name"] == domain_admin.client.name
    assert SECRET not in response.content.decode()


def test_the_list_costs_the_same_queries_for_one_row_or_many(
    tara, domain_admin, client_a, alice, django_assert_num_queries
):
    _, headers = api_token(tara)
    checkout_request(actor=tara, credential=domain_admin, ticket="T-0", reason="Work")
    Browser().get(LIST, **headers)  # the token's last-used time is written once
    one = query_count(LIST, headers)
    for number in range(1, 8):
        credential = make_credential(client=client_a, actor=alice, name=f"Admin {number}")
        checkout_request(actor=tara, credential=credential, ticket=f"T-{number}", reason="Work")
    with django_assert_num_queries(one):
        response = Browser().get(LIST, **headers)
    assert response.json()["count"] == 8


# --- Reach and scopes -------------------------------------------------------------------------


def test_a_token_limited_to_client_a_gets_404_for_client_b_on_every_route(
    tara, max_manager, client_a, domain_admin_b, approval_policy
):
    ClientVaultPolicy.objects.create(client=domain_admin_b.client, checkout_approval_required=True)
    theirs = checkout_request(actor=tara, credential=domain_admin_b, ticket="T-9", reason="Work")
    for owner in (tara, max_manager):
        _, headers = api_token(owner, clients=[client_a])
        assert Browser().get(LIST, **headers).json()["results"] == []
        problem(Browser().get(detail(theirs), **headers), 404)
        for action, body in [
            ("approve", {}),
            ("deny", {"note": "No"}),
            ("cancel", {}),
            ("check-in", {}),
        ]:
            response = api_post(detail(theirs, action), headers, body)
            assert problem(response, 404)["detail"] == (
                "Not found, or outside what this request may reach."
            )
        problem(ask(headers, domain_admin_b), 404)
    assert Checkout.objects.get(pk=theirs.pk).status == "requested"
    assert Checkout.objects.count() == 1


def test_charlie_of_client_b_only_gets_404_for_client_a_checkouts(tara, domain_admin, client_b):
    checkout = checkout_request(actor=tara, credential=domain_admin, ticket="T-1", reason="Work")
    outsider = person(
        "cleo@msp.example",
        roles=[Role.ADMINISTRATOR, Role.MANAGER],
        levels={client_b: AccessLevel.MANAGE},
    )
    _, headers = api_token(outsider)
    problem(Browser().get(detail(checkout), **headers), 404)
    problem(api_post(detail(checkout, "check-in"), headers), 404)
    assert Browser().get(LIST, **headers).json()["count"] == 0


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", "list", "credentials:read"),
        ("get", "detail", "credentials:read"),
        ("post", "list", "checkouts:write"),
        ("post", "approve", "checkouts:write"),
        ("post", "deny", "checkouts:write"),
        ("post", "cancel", "checkouts:write"),
        ("post", "check-in", "checkouts:write"),
    ],
)
def test_a_token_without_the_scope_is_refused_and_audited(tara, domain_admin, method, path, scope):
    checkout = checkout_request(actor=tara, credential=domain_admin, ticket="T-1", reason="Work")
    token, headers = api_token(tara, scopes=[s for s in EVERY_SCOPE if s != scope])
    url = {"list": LIST, "detail": detail(checkout)}.get(path) or detail(checkout, path)
    if method == "get":
        response = Browser().get(url, **headers)
    else:
        response = api_post(url, headers, {"note": "x"})
    body = problem(response, 403)
    assert body["detail"] == f"This API token does not have the {scope} scope."
    event = AuditEvent.objects.get(action="api_token.scope_refused")
    assert event.actor_ref == f"api_token:{token.pk}"
    assert event.details["scope"] == scope
    assert Checkout.objects.get(pk=checkout.pk).status == "active"
