"""Rotation tasks through the REST API: list with filters, read, complete with a new secret
that is never echoed; client B out of reach of a token limited to A; scopes refused and
audited; the list's query count is fixed."""

from datetime import timedelta

import pytest
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from rotation.models import RotationTask
from rotation.services.tasks import rotation_task_complete, rotation_task_request
from tenants.models import AccessLevel
from tests.vault.test_api_checkouts import (
    EVERY_SCOPE,
    api_post,
    api_token,
    person,
    problem,
    query_count,
)
from tests.vault.test_credentials import SECRET, make_credential
from vault.services.credentials import credential_reveal

LIST = "/api/v1/rotation-tasks/"
NEW_SECRET = "Rotated-by-API-7Qk2!vX9"


def detail(task, action=""):
    return f"{LIST}{task.pk}/{action + '/' if action else ''}"


def open_task(credential, *, due_in=timedelta(days=7)):
    return rotation_task_request(
        actor=None, credential=credential, reason="manual", due_at=timezone.now() + due_in
    )


@pytest.fixture
def ursula(client_a, client_b):
    """Use level on A and B; an administrator, so she may create tokens for her scripts."""
    return person(
        "ursula@msp.example",
        roles=[Role.ADMINISTRATOR, Role.TECHNICIAN],
        levels={client_a: AccessLevel.USE, client_b: AccessLevel.USE},
    )


@pytest.fixture
def front_desk(client_a, alice):
    return make_credential(
        client=client_a, actor=alice, name="Front desk", credential_type="standard_user"
    )


@pytest.fixture
def front_desk_b(client_b):
    return make_credential(client=client_b, name="FS01 user", credential_type="standard_user")


# --- Complete ---------------------------------------------------------------------------------


def test_completing_through_the_api_rotates_the_credential_and_names_the_token(ursula, front_desk):
    task = open_task(front_desk)
    token, headers = api_token(ursula)
    response = api_post(detail(task, "complete"), headers, {"new_secret": NEW_SECRET})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "done"
    assert body["completed_by"] == ursula.email
    assert "new_secret" not in body
    assert NEW_SECRET not in response.content.decode()
    assert credential_reveal(actor=ursula, credential=front_desk, ticket="T-1") == NEW_SECRET
    event = AuditEvent.objects.get(action="rotation.task_completed")
    assert event.actor_ref == f"api_token:{token.pk}"
    assert event.actor_user_id == ursula.pk
    assert NEW_SECRET not in str(event.details) + event.reason


def test_the_new_secret_never_appears_in_any_response(ursula, front_desk):
    task = open_task(front_desk)
    _, headers = api_token(ursula)
    same = api_post(detail(task, "complete"), headers, {"new_secret": SECRET})
    assert problem(same, 400)["detail"].startswith("The new secret is the same")
    assert SECRET not in same.content.decode()
    responses = [
        api_post(detail(task, "complete"), headers, {"new_secret": NEW_SECRET}),
        api_post(detail(task, "complete"), headers, {"new_secret": NEW_SECRET + "x"}),
        Browser().get(detail(task), **headers),
        Browser().get(LIST, **headers),
        Browser().get(f"{LIST}?status=done", **headers),
    ]
    assert [r.status_code for r in responses] == [200, 400, 200, 200, 200]
    for response in responses:
        assert NEW_SECRET not in response.content.decode()
        assert SECRET not in response.content.decode()


def test_a_missing_new_secret_is_a_400_naming_the_field(ursula, front_desk):
    task = open_task(front_desk)
    _, headers = api_token(ursula)
    body = problem(api_post(detail(task, "complete"), headers, {"note": "done"}), 400)
    assert body["errors"] == {"new_secret": ["Enter the new secret you set on the system."]}
    assert RotationTask.objects.get(pk=task.pk).status == "open"


def test_use_level_cannot_complete_a_high_privilege_task(ursula, client_a, alice):
    task = open_task(make_credential(client=client_a, actor=alice))
    _, headers = api_token(ursula)
    body = problem(api_post(detail(task, "complete"), headers, {"new_secret": NEW_SECRET}), 403)
    assert "this needs privileged access" in body["detail"]
    assert RotationTask.objects.get(pk=task.pk).status == "open"
    assert AuditEvent.objects.filter(action="rotation.task_completed", outcome="denied").exists()


# --- Reading ----------------------------------------------------------------------------------


def test_list_filters_by_client_status_overdue_due_time_and_owner(
    ursula, client_a, client_b, alice, front_desk, front_desk_b
):
    late = open_task(front_desk, due_in=-timedelta(days=2))
    soon = open_task(front_desk_b, due_in=timedelta(days=3))
    later_credential = make_credential(
        client=client_a, actor=alice, name="Printer", credential_type="standard_user"
    )
    done = open_task(later_credential, due_in=timedelta(days=30))
    rotation_task_complete(actor=alice, task=done, new_secret=NEW_SECRET)
    RotationTask.objects.filter(pk=soon.pk).update(owner=ursula)
    _, headers = api_token(ursula)

    def ids(query=""):
        response = Browser().get(f"{LIST}{query}", **headers)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [str(late.pk), str(soon.pk), str(done.pk)]
    assert ids(f"?client={client_b.pk}") == [str(soon.pk)]
    assert ids("?status=done") == [str(done.pk)]
    assert ids("?overdue=true") == [str(late.pk)]
    assert ids("?overdue=false") == [str(soon.pk), str(done.pk)]
    cutoff = (timezone.now() + timedelta(days=10)).isoformat()
    assert ids(f"?due_before={cutoff.replace('+', '%2B')}") == [str(late.pk), str(soon.pk)]
    assert ids("?mine=true") == [str(soon.pk)]
    rows = Browser().get(LIST, **headers).json()["results"]
    assert [row["overdue"] for row in rows] == [True, False, False]
    assert rows[0]["reasons"][0]["reason"] == "manual"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("due_before=next-tuesday", "due_before"),
        ("overdue=perhaps", "overdue"),
        ("client=contoso", "client"),
        ("status=late", "status"),
    ],
)
def test_malformed_filters_are_a_400_naming_the_field(ursula, query, field):
    _, headers = api_token(ursula)
    body = problem(Browser().get(f"{LIST}?{query}", **headers), 400)
    assert list(body["errors"]) == [field]


def test_the_list_costs_the_same_queries_for_one_row_or_many(
    ursula, client_a, alice, front_desk, django_assert_num_queries
):
    open_task(front_desk)
    _, headers = api_token(ursula)
    Browser().get(LIST, **headers)  # the token's last-used time is written once
    one = query_count(LIST, headers)
    for number in range(6):
        credential = make_credential(
            client=client_a, actor=alice, name=f"User {number}", credential_type="standard_user"
        )
        open_task(credential)
    with django_assert_num_queries(one):
        response = Browser().get(LIST, **headers)
    assert response.json()["count"] == 7


# --- Reach and scopes -------------------------------------------------------------------------


def test_a_token_limited_to_client_a_gets_404_for_client_b_tasks_on_every_route(
    ursula, client_a, front_desk, front_desk_b
):
    theirs = open_task(front_desk_b)
    ours = open_task(front_desk)
    _, headers = api_token(ursula, clients=[client_a])
    listed = Browser().get(LIST, **headers).json()["results"]
    assert [row["id"] for row in listed] == [str(ours.pk)]
    assert Browser().get(f"{LIST}?client={theirs.client_id}", **headers).json()["count"] == 0
    problem(Browser().get(detail(theirs), **headers), 404)
    response = api_post(detail(theirs, "complete"), headers, {"new_secret": NEW_SECRET})
    assert problem(response, 404)["detail"] == "Not found, or outside what this request may reach."
    assert RotationTask.objects.get(pk=theirs.pk).status == "open"


def test_charlie_of_client_b_only_gets_404_for_client_a_tasks(client_b, front_desk):
    task = open_task(front_desk)
    outsider = person(
        "cody@msp.example",
        roles=[Role.ADMINISTRATOR, Role.TECHNICIAN],
        levels={client_b: AccessLevel.USE},
    )
    _, headers = api_token(outsider)
    problem(Browser().get(detail(task), **headers), 404)
    problem(api_post(detail(task, "complete"), headers, {"new_secret": NEW_SECRET}), 404)
    assert Browser().get(LIST, **headers).json()["count"] == 0


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", "list", "rotation:read"),
        ("get", "detail", "rotation:read"),
        ("post", "complete", "rotation:write"),
    ],
)
def test_a_token_without_the_scope_is_refused_and_audited(ursula, front_desk, method, path, scope):
    task = open_task(front_desk)
    token, headers = api_token(ursula, scopes=[s for s in EVERY_SCOPE if s != scope])
    if method == "get":
        response = Browser().get(LIST if path == "list" else detail(task), **headers)
    else:
        response = api_post(detail(task, path), headers, {"new_secret": NEW_SECRET})
    body = problem(response, 403)
    assert body["detail"] == f"This API token does not have the {scope} scope."
    event = AuditEvent.objects.get(action="api_token.scope_refused")
    assert (event.actor_ref, event.details["scope"]) == (f"api_token:{token.pk}", scope)
    assert RotationTask.objects.get(pk=task.pk).status == "open"
