"""Intake submissions through the REST API: a whole intake in one call, all or nothing,
through the same services as the pages; reads are metadata only; a token limited to client
A never reaches client B; events name the token."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from intake.models import Intake, IntakeEntry
from intake.services.intakes import intake_draft_get_or_start, intake_entry_save
from integrations.services.tokens import api_token_create
from rotation.models import RotationTask
from tenants.models import AccessLevel, Assignment, System
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import UserFactory
from vault.models import Credential

URL = "/api/v1/intake-submissions/"
PROBLEM = "application/problem+json"
SECRET = "Api-Intake-Canary-7f3a"
NOTES = "Api-Intake-Notes-Canary: alarm code 4711"
SEED = "JBSWY3DPEHPKAPIINTAKE"
NOW = datetime(2026, 4, 14, 9, 30, tzinfo=UTC)


def detail_url(intake_id) -> str:
    return f"{URL}{intake_id}/"


def token_for(actor, *, scopes=("intake:write",), clients=()):
    token, plaintext = api_token_create(
        actor=actor,
        name="PSA onboarding",
        scopes=list(scopes),
        clients=list(clients),
        expires_at=timezone.now() + timedelta(days=30),
    )
    return token, {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def entry(**overrides) -> dict:
    return {
        "system_name": "DC01",
        "system_kind": "server",
        "credential_type": "domain_admin",
        "username": "CONTOSO\\administrator",
        "access_method": "rdp",
        "host": "dc01.contoso.local",
        "secret": SECRET,
        "notes": NOTES,
        "totp_seed": SEED,
        "received_via": "entered",
        "mfa_on_path": "no",
        "last_rotated_on": "2025-11-03",
        **overrides,
    }


def three_entries(**third) -> list[dict]:
    return [
        entry(system_name="FS01", received_via="email"),
        entry(system_name="FW01", system_kind="firewall", credential_type="firewall_admin"),
        entry(system_name="NAS01", **third),
    ]


def post(headers, client, entries):
    return Browser().post(
        URL,
        {"client_id": str(client.pk), "entries": entries},
        content_type="application/json",
        **headers,
    )


def problem(response, status) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


def nothing_created(client) -> None:
    assert not Intake.objects.filter(client=client).exists()
    assert not IntakeEntry.objects.exists()
    assert not System.objects.filter(client=client).exists()
    assert not Credential.objects.filter(client=client).exists()
    assert not RotationTask.objects.exists()
    assert not AuditEvent.objects.filter(
        action__in=[
            "intake.started",
            "intake.entry_saved",
            "intake.submitted",
            "system.created",
            "credential.created",
            "rotation.task_created",
        ],
        outcome="success",
    ).exists()


# --- Submitting -----------------------------------------------------------------------------


def test_one_call_creates_and_submits_the_intake_and_answers_with_metadata_only(
    admin_user, bob, client_a
):
    _, headers = token_for(admin_user)
    access = [{"user_id": str(bob.pk), "level": "privileged"}, {"role": "Auditor", "level": "view"}]
    response = post(
        headers,
        client_a,
        [
            entry(access=access),
            entry(
                system_name="Microsoft 365",
                system_kind="cloud_tenant",
                credential_type="cloud_tenant_admin",
                username="admin@contoso.onmicrosoft.com",
                access_method="web_portal",
                host="https://admin.microsoft.com",
                received_via="intake_link",
                mfa_on_path="yes",
                last_rotated_on=None,
                rotation_unknown=True,
                secret="M365-Canary-Secret",
            ),
        ],
    )

    assert response.status_code == 201, response.content
    body = response.json()
    intake = Intake.objects.get(client=client_a)
    assert intake.status == Intake.Status.SUBMITTED
    assert intake.submitted_by == admin_user
    assert response["Location"].endswith(detail_url(intake.pk))
    assert body["id"] == str(intake.pk)
    assert body["client"] == {"id": str(client_a.pk), "slug": client_a.slug, "name": client_a.name}
    assert (body["status"], body["submitted_by"]) == ("submitted", admin_user.email)
    assert (body["entry_count"], body["insecure_count"]) == (2, 0)
    dc01, m365 = body["entries"]
    credential = Credential.objects.get(pk=dc01["credential_id"])
    assert dc01["system_id"] == str(credential.system_id)
    assert dc01["credential_status"] == "active"
    assert dc01["username"] == "CONTOSO\\administrator"
    assert dc01["access"] == access
    assert (m365["credential_status"], m365["rotation_unknown"]) == ("active", True)
    assert m365["last_rotated_on"] is None
    assert set(dc01) >= {"system_name", "credential_type", "access_method", "received_via"}
    assert not {"secret", "notes", "totp_seed"} & set(dc01)
    for canary in (SECRET, NOTES, SEED, "M365-Canary-Secret"):
        assert canary not in response.content.decode()
    assert System.objects.filter(client=client_a).count() == 2
    assert Assignment.objects.get(client=client_a, user=bob, revoked_at=None).level == (
        AccessLevel.PRIVILEGED
    )


def test_every_event_of_the_submission_names_the_person_and_the_token(admin_user, client_a):
    token, headers = token_for(admin_user)
    assert post(headers, client_a, [entry()]).status_code == 201
    events = AuditEvent.objects.filter(
        action__in=[
            "intake.started",
            "intake.entry_saved",
            "intake.submitted",
            "credential.created",
        ]
    )
    assert sorted(events.values_list("action", flat=True)) == [
        "credential.created",
        "intake.entry_saved",
        "intake.started",
        "intake.submitted",
    ]
    for event in events:
        assert (event.actor_user_id, event.actor_kind) == (admin_user.pk, "token")
        assert event.actor_ref == f"api_token:{token.pk}"
        assert SECRET not in repr(event.details)


@pytest.mark.parametrize("channel", ["email", "chat"])
def test_entries_received_by_email_or_chat_are_exposed_with_a_rotation_task_due_now(
    admin_user, client_a, channel
):
    _, headers = token_for(admin_user)
    with time_machine.travel(NOW, tick=False):
        response = post(headers, client_a, [entry(received_via=channel)])
    assert response.status_code == 201, response.content
    assert response.json()["entries"][0]["credential_status"] == "exposed"
    assert response.json()["insecure_count"] == 1
    credential = Credential.objects.get(client=client_a)
    assert credential.status == Credential.Status.EXPOSED
    task = RotationTask.objects.get(credential=credential)
    assert task.due_at == NOW
    assert list(task.reasons.values_list("reason", flat=True)) == ["exposed"]


@pytest.mark.parametrize(
    ("third", "field", "message"),
    [
        # Refused by the request's shape, before anything runs.
        ({"secret": ""}, "entries[2].secret", "This field may not be blank."),
        ({"credential_type": "wizard"}, "entries[2].credential_type", "not a valid choice"),
        # Refused when the entry is saved.
        ({"host": "javascript:alert(1)"}, "entries[2].host", "Entry 3 (NAS01): Enter a host"),
        (
            {"access": [{"user_id": "00000000-0000-4000-8000-000000000000", "level": "use"}]},
            "entries[2].access",
            "Entry 3 (NAS01): One of the staff chosen is not an active staff member",
        ),
        # Refused when the intake is submitted, after two entries went through.
        ({"username": ""}, "entries[2].username", "Entry 3 (NAS01): Enter the username"),
        ({"system_kind": None}, "entries[2].system_kind", "NAS01 is a new system"),
    ],
)
def test_a_refused_third_entry_leaves_nothing_and_the_problem_names_entry_and_field(
    admin_user, client_a, third, field, message
):
    _, headers = token_for(admin_user)
    if third.get("system_kind", "") is None:
        third = {}
        entries = three_entries()
        del entries[2]["system_kind"]
    else:
        entries = three_entries(**third)
    body = problem(post(headers, client_a, entries), 400)
    assert list(body["errors"]) == [field]
    assert message in body["errors"][field][0]
    assert message in body["detail"]
    assert SECRET not in repr(body)
    nothing_created(client_a)


def test_an_empty_intake_is_refused(admin_user, client_a):
    _, headers = token_for(admin_user)
    body = problem(post(headers, client_a, []), 400)
    assert body["errors"] == {"entries": ["Send at least one entry."]}
    nothing_created(client_a)


def test_a_draft_in_progress_on_the_pages_is_left_alone(admin_user, client_a):
    draft = intake_draft_get_or_start(actor=admin_user, client=client_a)
    intake_entry_save(actor=admin_user, intake=draft, system_name="Half-typed")
    _, headers = token_for(admin_user)
    body = problem(post(headers, client_a, [entry()]), 400)
    assert "intake in progress in Keyhold with 1 entries" in body["detail"]
    draft.refresh_from_db()
    assert draft.status == Intake.Status.DRAFT
    assert list(draft.entries.values_list("system_name", flat=True)) == ["Half-typed"]
    assert not Credential.objects.exists()


# --- Who may --------------------------------------------------------------------------------


def test_a_token_limited_to_client_a_cannot_submit_to_or_read_client_b(
    admin_user, client_a, client_b
):
    _, everywhere = token_for(admin_user)
    assert post(everywhere, client_b, [entry(system_name="FS01")]).status_code == 201
    b_intake = Intake.objects.get(client=client_b)
    _, only_a = token_for(admin_user, clients=[client_a])

    problem(post(only_a, client_b, [entry()]), 404)
    assert Intake.objects.filter(client=client_b).count() == 1
    assert AuditEvent.objects.filter(action="intake.submitted", outcome="denied").count() == 1
    problem(Browser().get(detail_url(b_intake.pk), **only_a), 404)
    assert Browser().get(URL, **only_a).json()["results"] == []
    assert Browser().get(f"{URL}?client={client_b.pk}", **only_a).json()["results"] == []

    assert post(only_a, client_a, [entry()]).status_code == 201
    listed = Browser().get(URL, **only_a).json()["results"]
    assert [item["client"]["id"] for item in listed] == [str(client_a.pk)]
    assert Browser().get(detail_url(b_intake.pk), **everywhere).status_code == 200


def test_an_unknown_client_is_404(admin_user):
    _, headers = token_for(admin_user)
    response = Browser().post(
        URL,
        {"client_id": "00000000-0000-4000-8000-000000000000", "entries": [entry()]},
        content_type="application/json",
        **headers,
    )
    assert problem(response, 404)["detail"] == "Not found, or outside what this request may reach."
    assert not Intake.objects.exists()


def test_a_token_without_the_intake_scope_is_refused_on_every_route(admin_user, client_a):
    _, headers = token_for(admin_user, scopes=["clients:read", "credentials:write"])
    refused = "This API token does not have the intake:write scope."
    assert problem(post(headers, client_a, [entry()]), 403)["detail"] == refused
    assert problem(Browser().get(URL, **headers), 403)["detail"] == refused
    missing = detail_url("00000000-0000-4000-8000-000000000000")
    assert problem(Browser().get(missing, **headers), 403)["detail"] == refused
    nothing_created(client_a)


def test_an_administrator_with_view_access_only_is_refused_and_the_refusal_recorded(client_a):
    viewer = UserFactory(roles=[Role.ADMINISTRATOR])
    assignment_grant(actor=None, client=client_a, user=viewer, level=AccessLevel.VIEW)
    token, headers = token_for(viewer)
    body = problem(post(headers, client_a, [entry()]), 403)
    assert "needs manage access" in body["detail"]
    nothing_created(client_a)
    denied = AuditEvent.objects.get(action="intake.submitted", outcome="denied")
    assert denied.actor_ref == f"api_token:{token.pk}"


def test_a_manager_session_that_passed_mfa_may_submit_and_a_technician_may_not(
    alice, bob, client_a
):
    browser = Browser()
    sign_in(browser, bob)
    assert post_session(browser, client_a).status_code == 403
    sign_in(browser, alice)
    assert post_session(browser, client_a).status_code == 201
    event = AuditEvent.objects.get(action="intake.submitted", outcome="success")
    assert (event.actor_user_id, event.actor_ref) == (alice.pk, "")


def post_session(browser, client):
    return browser.post(
        URL,
        {"client_id": str(client.pk), "entries": [entry()]},
        content_type="application/json",
    )


# --- Reading --------------------------------------------------------------------------------


def test_a_draft_is_not_a_submission(admin_user, client_a):
    draft = intake_draft_get_or_start(actor=admin_user, client=client_a)
    _, headers = token_for(admin_user)
    problem(Browser().get(detail_url(draft.pk), **headers), 404)
    assert Browser().get(URL, **headers).json()["count"] == 0


def test_the_detail_shows_what_was_submitted_and_never_a_secret(admin_user, client_a):
    _, headers = token_for(admin_user)
    created = post(headers, client_a, three_entries()).json()
    response = Browser().get(detail_url(created["id"]), **headers)
    assert response.status_code == 200
    assert response.json() == created
    assert [item["system_name"] for item in created["entries"]] == ["FS01", "FW01", "NAS01"]
    assert [item["credential_status"] for item in created["entries"]] == [
        "exposed",
        "active",
        "active",
    ]
    for canary in (SECRET, NOTES, SEED):
        assert canary not in response.content.decode()


def test_the_list_is_paginated_in_a_constant_number_of_queries(
    admin_user, client_a, client_b, django_assert_num_queries
):
    _, headers = token_for(admin_user)
    browser = Browser()
    post(headers, client_a, [entry()])
    # The token (with whether it is limited to some clients), the count and the page.
    with django_assert_num_queries(3):
        one = browser.get(URL, **headers)
    assert one.json()["count"] == 1
    for number in range(4):
        client = client_a if number % 2 else client_b
        post(headers, client, [entry(system_name=f"SRV{number}"), entry(system_name="Extra")])
    with django_assert_num_queries(3):
        many = browser.get(f"{URL}?page_size=3", **headers)
    body = many.json()
    assert (body["count"], len(body["results"])) == (5, 3)
    assert body["next"]
    assert body["results"][0]["entry_count"] == 2
    assert "entries" not in body["results"][0]
    only_a = browser.get(f"{URL}?client={client_a.pk}", **headers).json()
    assert {item["client"]["id"] for item in only_a["results"]} == {str(client_a.pk)}
    assert only_a["count"] == 3


def test_a_malformed_client_filter_is_a_400_naming_the_field(admin_user):
    _, headers = token_for(admin_user)
    body = problem(Browser().get(f"{URL}?client=contoso", **headers), 400)
    assert list(body["errors"]) == ["client"]
