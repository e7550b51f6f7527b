"""The API's base: scopes fail closed and are audited, a token limited to some clients reaches
only those, events name the token, errors are problem details, and rate limits bound calls and
refused tokens (C50, C51, C53, C55)."""

from datetime import timedelta

import pytest
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Notification, OutboxMessage
from audit.models import AuditEvent
from config.errors import NotFound
from integrations.services.tokens import api_token_create
from tenants.models import AccessLevel, Assignment, Client
from tenants.reach import client_reach_limited
from tenants.selectors import client_level_for_user
from tenants.services import assignment_revoke
from tests.conftest import sign_in
from vault.selectors.credentials import credential_get_for_user
from vault.services.credentials import credential_create

CLIENTS = "/api/test/clients/"
RECORD = "/api/test/record/"
PROBLEM = "application/problem+json"

with_test_views = pytest.mark.urls("tests.integrations.rest_urls")


def _token(admin, *, scopes=("clients:read",), clients=()):
    token, plaintext = api_token_create(
        actor=admin,
        name="PSA sync",
        scopes=list(scopes),
        clients=list(clients),
        expires_at=timezone.now() + timedelta(days=30),
    )
    return token, {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def _problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["detail"]
    return body


@with_test_views
def test_a_token_without_the_scope_is_refused_with_a_problem_and_an_event(admin_user):
    token, headers = _token(admin_user, scopes=["audit:read"])
    body = _problem(Browser().get(CLIENTS, **headers), 403)
    assert body["detail"] == "This API token does not have the clients:read scope."
    event = AuditEvent.objects.get(action="api_token.scope_refused")
    assert event.outcome == "denied"
    assert event.actor_user_id == admin_user.pk
    assert event.actor_ref == f"api_token:{token.pk}"
    assert event.details == {
        "scope": "clients:read",
        "method": "GET",
        "path": CLIENTS,
        "prefix": token.prefix,
    }


@with_test_views
def test_a_method_that_names_no_scope_refuses_every_token(admin_user):
    everything = [
        "clients:read", "credentials:read", "credentials:reveal", "credentials:write",
        "checkouts:write", "rotation:read", "rotation:write", "audit:read", "intake:write",
    ]  # fmt: skip
    _, headers = _token(admin_user, scopes=everything)
    body = _problem(Browser().post(CLIENTS, **headers), 403)
    assert body["detail"] == "API tokens cannot use this endpoint."
    assert AuditEvent.objects.filter(action="api_token.scope_refused").count() == 1


@with_test_views
def test_a_token_reaches_what_its_creator_reaches_narrowed_to_its_clients(
    admin_user, client_a, client_b
):
    _, everywhere = _token(admin_user)
    _, only_a = _token(admin_user, clients=[client_a])
    assert Browser().get(CLIENTS, **everywhere).json() == sorted([client_a.name, client_b.name])
    assert Browser().get(CLIENTS, **only_a).json() == [client_a.name]


@with_test_views
def test_a_token_loses_a_client_when_its_creator_does(admin_user, alice, client_a, client_b):
    _, headers = _token(admin_user, clients=[client_a, client_b])
    assignment_revoke(
        actor=alice, assignment=Assignment.objects.get(user=admin_user, client=client_a)
    )
    assert Browser().get(CLIENTS, **headers).json() == [client_b.name]


def test_the_client_limit_applies_to_single_object_reads_too(admin_user, client_a, client_b):
    credential = credential_create(
        actor=admin_user, client=client_b, name="Firewall", credential_type="firewall_admin",
        secret="B-secret",
    )  # fmt: skip
    with client_reach_limited([client_a.pk]):
        assert list(Client.objects.for_user(admin_user, AccessLevel.VIEW)) == [client_a]
        assert client_level_for_user(actor=admin_user, client=client_b) is None
        with pytest.raises(NotFound):
            credential_get_for_user(
                actor=admin_user, credential_id=credential.pk, level=AccessLevel.VIEW
            )
    assert client_level_for_user(actor=admin_user, client=client_b) == AccessLevel.MANAGE


@with_test_views
def test_events_written_through_a_token_name_the_person_and_the_token(admin_user):
    token, headers = _token(admin_user)
    sequence = Browser().post(RECORD, **headers).json()["sequence"]
    event = AuditEvent.objects.get(sequence=sequence)
    assert (event.actor_user_id, event.actor_kind) == (admin_user.pk, "token")
    assert event.actor_ref == f"api_token:{token.pk}"


@with_test_views
def test_events_written_through_a_session_name_only_the_person(client, admin_user):
    """A session's unsafe call needs the CSRF token (the test client skips the check)."""
    strict = Browser(enforce_csrf_checks=True)
    sign_in(strict, admin_user)
    body = _problem(strict.post(RECORD), 403)
    assert "CSRF" in body["detail"]
    sign_in(client, admin_user)
    sequence = client.post(RECORD).json()["sequence"]
    event = AuditEvent.objects.get(sequence=sequence)
    assert (event.actor_user_id, event.actor_kind, event.actor_ref) == (admin_user.pk, "user", "")


@with_test_views
def test_over_the_token_rate_the_call_gets_429_with_retry_after_one_event_and_an_alert(
    settings, admin_user
):
    settings.API_RATE_PER_TOKEN = "3/m"
    token, headers = _token(admin_user)
    browser = Browser()
    assert [browser.get(CLIENTS, **headers).status_code for _ in range(3)] == [200] * 3
    for _ in range(2):
        response = browser.get(CLIENTS, **headers)
        _problem(response, 429)
        assert 1 <= int(response["Retry-After"]) <= 60
    event = AuditEvent.objects.get(action="api.rate_limited")
    assert event.details == {"limit": "api", "rate": "3/m"}
    assert event.target_id == str(token.pk)
    assert OutboxMessage.objects.filter(recipient=admin_user.email).exists()
    assert Notification.objects.filter(user=admin_user, message__contains="rate limit").exists()


def test_unknown_api_paths_answer_in_problem_details(client):
    body = _problem(client.get("/api/v1/no-such-thing/"), 404)
    assert body["detail"] == "Not found, or outside what this request may reach."


def test_refused_tokens_from_one_address_are_bounded_then_refused_without_events(
    settings, admin_user
):
    settings.API_TOKEN_REFUSALS_PER_ADDRESS = "3/m"
    _, good = _token(admin_user)
    bad = {"HTTP_AUTHORIZATION": "Bearer kh_not-a-real-token"}
    browser = Browser()
    assert [browser.get("/api/v1/me/", **bad).status_code for _ in range(4)] == [401] * 4
    refused = AuditEvent.objects.filter(action="api_token.refused")
    assert refused.count() == 4
    assert [e.details["address_limited"] for e in refused.order_by("sequence")] == [
        False, False, False, True,
    ]  # fmt: skip
    response = browser.get("/api/v1/me/", **bad)
    _problem(response, 429)
    assert int(response["Retry-After"]) >= 1
    # The address is refused as a whole until the window ends, a good token included.
    _problem(browser.get("/api/v1/me/", **good), 429)
    assert refused.count() == 4


def test_a_spoofed_forwarded_for_neither_resets_the_limit_nor_changes_the_audit_address(
    settings, admin_user
):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.API_TOKEN_REFUSALS_PER_ADDRESS = "2/m"
    bad = {"HTTP_AUTHORIZATION": "Bearer kh_not-a-real-token"}
    browser = Browser()
    for number in range(3):
        response = browser.get("/api/v1/me/", HTTP_X_FORWARDED_FOR=f"198.51.100.{number}", **bad)
        assert response.status_code == 401
    _problem(browser.get("/api/v1/me/", HTTP_X_FORWARDED_FOR="203.0.113.9", **bad), 429)
    addresses = set(
        AuditEvent.objects.filter(action="api_token.refused").values_list("ip_address", flat=True)
    )
    assert addresses == {"127.0.0.1"}


@with_test_views
def test_an_action_whose_event_cannot_be_written_answers_503_to_retry(admin_user):
    _, headers = _token(admin_user)
    response = Browser().post("/api/test/audit-down/", **headers)
    body = _problem(response, 503)
    assert body["detail"].startswith("The audit log could not be written, so nothing was done.")
    assert response["Retry-After"] == "30"


@pytest.mark.parametrize("query", ["page=0", "page=two", "page_size=-5", "page_size=1.5"])
def test_a_malformed_page_or_page_size_is_refused_naming_it(admin_user, query):
    _, headers = _token(admin_user)
    body = _problem(Browser().get(f"/api/v1/clients/?{query}", **headers), 400)
    name = query.split("=")[0]
    assert body["errors"] == {name: ["Give a whole number of 1 or more."]}
