"""Audit events through the REST API: managers and auditors read the events of their clients
and of no client, newest first and filtered; a token limited to client A reads only A's; other
roles are refused; scopes refused and audited; the list's query count is fixed."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.test import Client as Browser

from accounts.models import Role
from audit.models import AuditEvent
from audit.services import Target, record
from tenants.models import AccessLevel
from tests.vault.test_api_checkouts import (
    EVERY_SCOPE,
    api_token,
    person,
    problem,
    query_count,
)

LIST = "/api/v1/audit-events/"
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def detail(event):
    return f"{LIST}{event.sequence}/"


def event(action, *, actor=None, client=None, at=None, **fields):
    with time_machine.travel(at or NOON, tick=False), transaction.atomic():
        return record(actor=actor, action=action, client=client, **fields)


def sequences(headers, query=""):
    response = Browser().get(f"{LIST}{query}", **headers)
    assert response.status_code == 200, response.content
    return [row["sequence"] for row in response.json()["results"]]


@pytest.fixture
def audrey(client_a, client_b):
    """Auditor of A and B, an administrator too so that she may create tokens."""
    return person(
        "audrey@msp.example",
        roles=[Role.ADMINISTRATOR, Role.AUDITOR],
        levels={client_a: AccessLevel.VIEW, client_b: AccessLevel.VIEW},
    )


@pytest.fixture
def world(client_a, client_b, bob, charlie):
    """One event of A, one of B and one of no client, an hour apart; nothing else after."""
    return {
        "a": event(
            "credential.revealed",
            actor=bob,
            client=client_a,
            at=NOON + timedelta(days=1),
            target=Target(type="vault.credential", id="cred-a", label="DC01 admin"),
            ticket="T-1",
        ),
        "b": event(
            "credential.revealed",
            actor=charlie,
            client=client_b,
            at=NOON + timedelta(days=1, hours=1),
            target=Target(type="vault.credential", id="cred-b", label="FS01 admin"),
        ),
        "none": event(
            "staff.sign_in_failed",
            outcome="denied",
            at=NOON + timedelta(days=1, hours=2),
            actor_kind="anonymous",
            actor_label="bob@msp.example",
        ),
    }


def test_an_auditor_reads_every_event_of_her_clients_and_of_none_newest_first(audrey, world):
    _, headers = api_token(audrey)
    response = Browser().get(LIST, **headers)
    assert response.status_code == 200
    body = response.json()
    listed = [row["sequence"] for row in body["results"]]
    assert listed == sorted(listed, reverse=True)
    assert body["count"] == AuditEvent.objects.count()  # every event is of A, of B or of none
    expected = {world["a"].sequence, world["b"].sequence, world["none"].sequence}
    assert expected <= set(listed)
    row = next(r for r in body["results"] if r["sequence"] == world["a"].sequence)
    assert row["action"] == "credential.revealed"
    assert row["client"] == str(world["a"].client_id)
    assert (row["actor_label"], row["ticket"], row["target_id"]) == (
        "bob@msp.example",
        "T-1",
        "cred-a",
    )
    assert "key_version" not in row


def test_a_token_limited_to_client_a_reads_only_client_a_events(audrey, client_a, world):
    _, headers = api_token(audrey, clients=[client_a])
    listed = sequences(headers)
    assert world["a"].sequence in listed
    assert world["b"].sequence not in listed
    assert world["none"].sequence not in listed
    assert not AuditEvent.objects.filter(sequence__in=listed).exclude(client=client_a).exists()
    assert Browser().get(detail(world["a"]), **headers).status_code == 200
    for outside in (world["b"], world["none"]):
        body = problem(Browser().get(detail(outside), **headers), 404)
        assert body["detail"] == "Not found, or outside what this request may reach."
    assert sequences(headers, f"?client={world['b'].client_id}") == []


def test_a_manager_of_client_b_only_never_sees_client_a_events(client_b, world):
    manager = person(
        "bea@msp.example",
        roles=[Role.ADMINISTRATOR, Role.MANAGER],
        levels={client_b: AccessLevel.MANAGE},
    )
    _, headers = api_token(manager)
    listed = sequences(headers, "?action=credential.revealed")
    assert listed == [world["b"].sequence]
    problem(Browser().get(detail(world["a"]), **headers), 404)
    assert Browser().get(detail(world["none"]), **headers).json()["outcome"] == "denied"


def test_people_who_are_neither_managers_nor_auditors_are_refused(client_a, world):
    technician = person(
        "ted@msp.example",
        roles=[Role.ADMINISTRATOR, Role.TECHNICIAN],
        levels={client_a: AccessLevel.MANAGE},
    )
    _, headers = api_token(technician)
    body = problem(Browser().get(LIST, **headers), 403)
    assert body["detail"] == "Only managers or auditors can read the audit log."
    problem(Browser().get(detail(world["a"]), **headers), 403)


def test_filters_narrow_the_list(audrey, client_a, world):
    _, headers = api_token(audrey)
    a, b, none = world["a"].sequence, world["b"].sequence, world["none"].sequence
    assert sequences(headers, f"?client={client_a.pk}&action=credential.revealed") == [a]
    assert sequences(headers, "?outcome=denied&action=staff.sign_in_failed") == [none]
    assert sequences(headers, "?actor=BOB@msp.example&since=2026-03-11T00:00:00Z") == [none, a]
    assert sequences(headers, "?target_type=vault.credential&target_id=cred-b") == [b]
    since = (NOON + timedelta(days=1, minutes=30)).isoformat().replace("+", "%2B")
    until = (NOON + timedelta(days=1, hours=2)).isoformat().replace("+", "%2B")
    assert sequences(headers, f"?since={since}&until={until}") == [b]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("since=2026-03-12T00:00:00Z&until=2026-03-11T00:00:00Z", "until"),
        ("action=credential.stolen", "action"),
        ("outcome=maybe", "outcome"),
        ("client=contoso", "client"),
        ("actor=not-an-email", "actor"),
    ],
)
def test_malformed_filters_are_a_400_naming_the_field(audrey, query, field):
    _, headers = api_token(audrey)
    body = problem(Browser().get(f"{LIST}?{query}", **headers), 400)
    assert list(body["errors"]) == [field]


def test_the_list_costs_the_same_queries_for_one_row_or_many(
    audrey, client_a, bob, django_assert_num_queries
):
    _, headers = api_token(audrey)
    query = f"?client={client_a.pk}&action=credential.revealed"
    event("credential.revealed", actor=bob, client=client_a)
    Browser().get(LIST, **headers)  # the token's last-used time is written once
    one = query_count(LIST + query, headers)
    for number in range(8):
        event("credential.revealed", actor=bob, client=client_a, ticket=f"T-{number}")
    with django_assert_num_queries(one):
        response = Browser().get(LIST + query, **headers)
    assert response.json()["count"] == 9


@pytest.mark.parametrize("path", ["list", "detail"])
def test_a_token_without_audit_read_is_refused_and_audited(audrey, world, path):
    token, headers = api_token(audrey, scopes=[s for s in EVERY_SCOPE if s != "audit:read"])
    url = LIST if path == "list" else detail(world["a"])
    body = problem(Browser().get(url, **headers), 403)
    assert body["detail"] == "This API token does not have the audit:read scope."
    refused = AuditEvent.objects.get(action="api_token.scope_refused")
    assert (refused.actor_ref, refused.details["scope"]) == (f"api_token:{token.pk}", "audit:read")
