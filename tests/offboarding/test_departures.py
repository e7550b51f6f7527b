"""Technician departures: one confirmation removes every way in, and every credential the
person could reveal or did reveal is rotated, with an evidence log, until the case closes.

The history is built through the real services across four clients: Northwind (left months
before the departure), Contoso (privileged), Fabrikam (use level) and Tailspin (never
assigned). mona manages the first three; alice manages only Contoso.
"""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role, User
from audit.models import AuditEvent
from config.errors import AccessDenied, InvalidRequest
from offboarding import tasks as offboarding_tasks
from offboarding.models import CaseCredential, CaseEvidence, OffboardingCase
from offboarding.selectors.departures import departure_progress_for_user
from offboarding.services import departures
from rotation.models import RotationPolicy, RotationReason, RotationTask
from rotation.services.tasks import rotation_task_complete
from tenants.models import AccessLevel, Assignment
from tenants.services import assignment_grant, assignment_revoke
from tests.accounts.test_views import GENERIC_LOGIN_ERROR
from tests.conftest import sign_in
from tests.factories import PASSWORD, ClientFactory, UserFactory
from vault.models import Checkout
from vault.services import credential_archive, credential_create, credential_reveal
from vault.services.checkouts import checkout_request
from vault.services.emergency import emergency_open

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
DEPARTURE = START + timedelta(days=150)
Step = CaseEvidence.Step


def events(action, outcome="success"):
    return AuditEvent.objects.filter(action=action, outcome=outcome)


def make(client, actor, name, credential_type, **extra):
    return credential_create(
        actor=actor,
        client=client,
        name=name,
        credential_type=credential_type,
        secret=f"secret of {name}",
        **extra,
    )


class World:
    """Everyone and everything of one departure's history, by name."""


@pytest.fixture
def world(db, time_machine, client_a, client_b, alice, bob, charlie):
    time_machine.move_to(START, tick=False)
    w = World()
    w.contoso, w.fabrikam = client_a, client_b
    w.northwind = ClientFactory(name="Northwind Traders", slug="northwind")
    w.tailspin = ClientFactory(name="Tailspin Toys", slug="tailspin")
    w.alice, w.bob, w.charlie = alice, bob, charlie
    w.mona = UserFactory(email="mona@msp.example", full_name="Mona Manager", roles=[Role.MANAGER])
    for each in (w.contoso, w.fabrikam, w.northwind, w.tailspin):
        assignment_grant(actor=None, client=each, user=w.mona, level=AccessLevel.MANAGE)
    w.ada = UserFactory(email="ada@msp.example", full_name="Ada Admin", roles=[Role.ADMINISTRATOR])
    for each in (w.contoso, w.fabrikam, w.northwind):
        assignment_grant(actor=None, client=each, user=w.ada, level=AccessLevel.MANAGE)
    w.audrey = UserFactory(email="audrey@msp.example", full_name="Audrey", roles=[Role.AUDITOR])
    w.dave = UserFactory(
        email="dave@msp.example", full_name="Dave Leaving", roles=[Role.TECHNICIAN]
    )

    # Northwind: use level for a month, long before the departure; one reveal then.
    w.nw_desk = make(w.northwind, w.mona, "Northwind front desk", "standard_user")
    w.nw_admin = make(w.northwind, w.mona, "Northwind domain admin", "domain_admin")
    northwind = assignment_grant(actor=None, client=w.northwind, user=w.dave, level=AccessLevel.USE)
    credential_reveal(actor=w.dave, credential=w.nw_desk, ticket="T-1")
    w.nw_revealed_at = timezone.now()
    time_machine.move_to(START + timedelta(days=30), tick=False)
    assignment_revoke(actor=w.mona, assignment=northwind)

    # Contoso (privileged) and Fabrikam (use), until the departure.
    time_machine.move_to(START + timedelta(days=60), tick=False)
    w.c_desk = make(w.contoso, w.mona, "Front desk", "standard_user")
    w.c_backup = make(w.contoso, w.mona, "Backup agent", "service_account")
    w.c_admin = make(w.contoso, w.mona, "DC01 domain admin", "domain_admin")
    w.c_glass = make(w.contoso, w.mona, "Break-glass admin", "domain_admin", is_emergency=True)
    w.c_old = make(w.contoso, w.mona, "Old VPN", "standard_user")
    credential_archive(actor=w.mona, credential=w.c_old, reason="Replaced by the new VPN")
    w.f_user = make(w.fabrikam, w.mona, "FS01 user", "standard_user")
    w.f_admin = make(w.fabrikam, w.mona, "FS01 admin", "domain_admin")
    w.t_admin = make(w.tailspin, w.mona, "Tailspin admin", "standard_user")
    assignment_grant(actor=None, client=w.contoso, user=w.dave, level=AccessLevel.PRIVILEGED)
    assignment_grant(actor=None, client=w.fabrikam, user=w.dave, level=AccessLevel.USE)

    time_machine.move_to(DEPARTURE - timedelta(minutes=10), tick=False)
    credential_reveal(actor=w.dave, credential=w.f_user, ticket="T-2")
    w.f_revealed_at = timezone.now()
    # Break-glass for one opening, taken away again: revealed, but no longer within reach.
    glass = Permission.objects.get(codename="open_emergency")
    w.dave.user_permissions.add(glass)
    emergency_open(
        actor=User.objects.get(pk=w.dave.pk),
        credential=w.c_glass,
        reason="Domain controller down, nobody else reachable",
    )
    w.c_glass_opened_at = timezone.now()
    w.dave.user_permissions.remove(glass)
    time_machine.move_to(DEPARTURE - timedelta(minutes=5), tick=False)
    w.checkout = checkout_request(
        actor=w.dave, credential=w.c_admin, ticket="T-3", reason="Fix the DC trust"
    )
    credential_reveal(actor=w.dave, credential=w.c_admin, ticket="T-3")
    w.c_admin_revealed_at = timezone.now()
    time_machine.move_to(DEPARTURE, tick=False)
    return w


def open_case(w, actor=None):
    return departures.departure_open(
        actor=actor or w.mona, subject=w.dave, reason="Resigned; last day today"
    )


def confirmed(w, actor=None):
    case = open_case(w, actor)
    return departures.departure_confirm(actor=actor or w.mona, case=case)


def rows(case):
    return {row.credential_id: row for row in CaseCredential.objects.filter(case=case)}


# --- Opening --------------------------------------------------------------------------------


def test_a_manager_opens_a_draft_case_that_changes_nothing_and_is_audited_once(world):
    case = open_case(world)
    assert (case.kind, case.status, case.subject_id) == ("technician", "draft", world.dave.pk)
    world.dave.refresh_from_db()
    assert world.dave.is_active
    assert Assignment.objects.filter(user=world.dave, revoked_at__isnull=True).count() == 2
    event = events("offboarding.departure_opened").get()
    assert (event.actor_user_id, event.target_id) == (world.mona.pk, str(case.pk))
    opened = CaseEvidence.objects.get(case=case)
    assert (opened.step, opened.at, opened.audit_event_id) == (
        Step.OPENED,
        event.occurred_at,
        event.sequence,
    )


def test_a_technician_cannot_open_a_departure_and_the_refusal_is_audited(world):
    with pytest.raises(AccessDenied):
        departures.departure_open(actor=world.bob, subject=world.dave, reason="Gone")
    assert not OffboardingCase.objects.exists()
    assert events("offboarding.departure_opened", "denied").get().actor_user_id == world.bob.pk


@pytest.mark.parametrize(
    ("who", "message"),
    [("self", "for yourself"), ("inactive", "already deactivated"), ("blank", "Say why")],
)
def test_bad_departures_are_refused_in_plain_words(world, who, message):
    subject, reason = world.dave, "Resigned"
    if who == "self":
        subject = world.mona
    elif who == "inactive":
        User.objects.filter(pk=world.dave.pk).update(is_active=False)
        subject = User.objects.get(pk=world.dave.pk)
    else:
        reason = "   "
    with pytest.raises(InvalidRequest, match=message):
        departures.departure_open(actor=world.mona, subject=subject, reason=reason)
    assert not OffboardingCase.objects.exists()


def test_one_live_departure_per_person(world):
    open_case(world)
    with pytest.raises(InvalidRequest, match="already has an open departure"):
        open_case(world, actor=world.ada)
    assert OffboardingCase.objects.count() == 1


# --- Confirming -----------------------------------------------------------------------------


def test_after_confirmation_the_person_cannot_sign_in_and_their_old_session_is_refused(world):
    old_browser = Browser()
    sign_in(old_browser, world.dave)
    assert old_browser.get("/").status_code == 200
    confirmed(world)
    assert urlparse(old_browser.get("/")["Location"]).path == "/login/"
    attempt = Browser().post("/login/", {"username": world.dave.email, "password": PASSWORD})
    assert attempt.status_code == 200
    assert GENERIC_LOGIN_ERROR in attempt.content.decode()


def test_confirmation_revokes_every_assignment_keeps_history_and_ends_checkouts(world):
    confirmed(world)
    assert not Assignment.objects.filter(user=world.dave, revoked_at__isnull=True).exists()
    history = Assignment.objects.filter(user=world.dave)
    assert history.count() == 3
    assert set(history.values_list("revoked_by", flat=True)) == {world.mona.pk}
    checkout = Checkout.objects.get(pk=world.checkout.pk)
    assert checkout.status == Checkout.Status.REVOKED
    assert events("assignment.revoked").filter(target_id=str(world.dave.pk)).count() == 3
    deactivated = events("staff.deactivated").get()
    assert deactivated.details == {"departure": True}
    assert deactivated.actor_user_id == world.mona.pk


def test_the_two_sets_are_computed_from_assignment_history_and_the_audit_log(world):
    case = confirmed(world)
    found = rows(case)
    could = {pk for pk, row in found.items() if row.could_reveal}
    revealed = {pk for pk, row in found.items() if row.revealed}
    assert could == {
        world.nw_desk.pk,  # a client left months before
        world.c_desk.pk,
        world.c_backup.pk,
        world.c_admin.pk,  # privileged level: checked out and revealed
        world.f_user.pk,
    }
    # Opened with break-glass that was taken away later: revealed, no longer within reach.
    assert revealed == {world.nw_desk.pk, world.f_user.pk, world.c_admin.pk, world.c_glass.pk}
    assert found[world.c_glass.pk].last_revealed_at == world.c_glass_opened_at
    # High privilege at use level: out of reach, rotated by the staff-change policy only.
    for policy_only in (world.nw_admin, world.f_admin):
        assert not found[policy_only.pk].could_reveal
        assert not found[policy_only.pk].revealed
    # An archived credential, and a client never assigned.
    for outside in (world.c_old, world.t_admin):
        assert outside.pk not in found
    assert found[world.nw_desk.pk].last_revealed_at == world.nw_revealed_at
    assert found[world.f_user.pk].last_revealed_at == world.f_revealed_at
    assert found[world.c_admin.pk].last_revealed_at == world.c_admin_revealed_at
    assert found[world.c_desk.pk].last_revealed_at is None
    assert {row.client_id for row in found.values()} == {
        world.northwind.pk,
        world.contoso.pk,
        world.fabrikam.pk,
    }


def test_every_credential_of_both_sets_has_an_open_staff_change_task_urgent_ones_now(world):
    case = confirmed(world)
    now = timezone.now()
    for credential_id, row in rows(case).items():
        task = RotationTask.objects.get(pk=row.task_id)
        assert task.credential_id == credential_id
        assert task.status == RotationTask.Status.OPEN
        assert RotationReason.STAFF_CHANGE in set(task.reasons.values_list("reason", flat=True))
        urgent = row.revealed or task.credential.is_high_privilege
        expected = now if urgent else now + timedelta(days=departures.LATER_DUE_DAYS)
        assert task.due_at == expected, task.credential.name
    # The staff-change policy rotates the high-privilege credentials of every client in the
    # history, a client left months before included; never those of a client never assigned.
    assert {world.nw_admin.pk, world.f_admin.pk} <= set(rows(case))
    assert not RotationTask.objects.filter(client=world.tailspin).exists()


def test_a_client_whose_policy_opts_out_keeps_its_out_of_reach_admin_credentials(world):
    RotationPolicy.objects.create(
        client=world.northwind, rotate_high_privilege_on_staff_change=False
    )
    found = rows(confirmed(world))
    assert world.nw_admin.pk not in found
    assert world.nw_desk.pk in found
    assert world.f_admin.pk in found


def test_a_person_with_break_glass_could_open_the_emergency_credentials_of_their_clients(
    world,
):
    world.dave.user_permissions.add(Permission.objects.get(codename="open_emergency"))
    case = confirmed(world)
    found = rows(case)
    assert found[world.c_glass.pk].could_reveal
    assert not found[world.nw_admin.pk].could_reveal  # not an emergency credential


def test_each_step_has_its_evidence_row_with_its_time_and_event(world):
    case = confirmed(world)
    evidence = {item.step: item for item in CaseEvidence.objects.filter(case=case)}
    assert set(evidence) == {
        Step.OPENED,
        Step.LOGIN_DISABLED,
        Step.SESSIONS_ENDED,
        Step.API_TOKENS_REVOKED,
        Step.CHECKOUTS_ENDED,
        Step.ACCESS_REVOKED,
        Step.CREDENTIALS_ASSESSED,
        Step.ROTATION_REQUESTED,
    }
    deactivated = events("staff.deactivated").get()
    assert evidence[Step.LOGIN_DISABLED].audit_event_id == deactivated.sequence
    assert evidence[Step.SESSIONS_ENDED].at == deactivated.occurred_at == DEPARTURE
    confirm_event = events("offboarding.departure_confirmed").get()
    assert confirm_event.details == {
        "subject": str(world.dave.pk),
        "checkouts_ended": 1,
        "assignments_revoked": 2,
        "could_reveal": 5,
        "revealed": 4,
        "policy_only": 2,
        "rotation_tasks": 8,
        "urgent_tasks": 6,
    }
    assert "1 checkouts" in evidence[Step.CHECKOUTS_ENDED].detail
    assert "2 client assignments" in evidence[Step.ACCESS_REVOKED].detail
    assert "5 credentials" in evidence[Step.CREDENTIALS_ASSESSED].detail
    assert "4 they did reveal" in evidence[Step.CREDENTIALS_ASSESSED].detail
    assert evidence[Step.ROTATION_REQUESTED].detail.startswith("8 staff-change rotation tasks")
    for item in evidence.values():
        assert item.at is not None
        assert item.audit_event_id is not None
        assert item.by_id == world.mona.pk
    case.refresh_from_db()
    assert (case.status, case.confirmed_at, case.confirmed_by_id) == (
        "open",
        DEPARTURE,
        world.mona.pk,
    )


def test_one_confirmation_event_and_a_second_confirmation_is_refused(world):
    case = confirmed(world)
    with pytest.raises(InvalidRequest, match="already confirmed"):
        departures.departure_confirm(actor=world.mona, case=case)
    assert events("offboarding.departure_confirmed").count() == 1
    assert events("staff.deactivated").count() == 1


def test_staff_departed_is_sent_after_commit_with_the_user_id(
    world, django_capture_on_commit_callbacks
):
    from accounts.signals import staff_departed

    received = []

    def receiver(sender, user_id, **kwargs):
        received.append(user_id)

    staff_departed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            confirmed(world)
    finally:
        staff_departed.disconnect(receiver)
    assert received == [world.dave.pk]


def test_a_manager_who_does_not_manage_every_client_cannot_confirm_and_nothing_changes(world):
    case = open_case(world, actor=world.alice)
    with pytest.raises(AccessDenied, match="Fabrikam Logistics"):
        departures.departure_confirm(actor=world.alice, case=case)
    world.dave.refresh_from_db()
    assert world.dave.is_active
    assert Assignment.objects.filter(user=world.dave, revoked_at__isnull=True).count() == 2
    assert not CaseCredential.objects.exists()
    assert OffboardingCase.objects.get(pk=case.pk).status == "draft"
    denied = events("offboarding.departure_confirmed", "denied").get()
    assert denied.actor_user_id == world.alice.pk


def test_a_technician_cannot_confirm(world):
    case = open_case(world)
    with pytest.raises(AccessDenied):
        departures.departure_confirm(actor=world.bob, case=case)
    assert OffboardingCase.objects.get(pk=case.pk).status == "draft"


# --- Progress and closing -------------------------------------------------------------------


def rotate_all(w, case):
    for row in CaseCredential.objects.filter(case=case).select_related("task"):
        rotation_task_complete(actor=w.mona, task=row.task, new_secret=f"new-{row.pk}")


def test_close_is_refused_while_tasks_are_open_unless_a_manager_accepts_the_risk(world):
    case = confirmed(world)
    with pytest.raises(InvalidRequest, match="8 rotation tasks are still open"):
        departures.departure_close(actor=world.mona, case=case)
    with pytest.raises(InvalidRequest, match="at least 10 characters"):
        departures.departure_close(actor=world.mona, case=case, risk_accepted_reason="ok")
    with pytest.raises(AccessDenied, match="Only managers"):
        departures.departure_close(
            actor=world.ada, case=case, risk_accepted_reason="The client will rotate them."
        )
    assert OffboardingCase.objects.get(pk=case.pk).status == "open"

    closed = departures.departure_close(
        actor=world.mona, case=case, risk_accepted_reason="The client rotates these this week."
    )
    assert (closed.status, closed.closed_by_id) == ("closed", world.mona.pk)
    assert closed.risk_accepted_reason == "The client rotates these this week."
    event = events("offboarding.departure_closed").get()
    assert event.details["open"] == 8
    assert event.details["risk_accepted"] is True
    progress = departure_progress_for_user(actor=world.mona, case=case)
    assert [item.step for item in progress.evidence][-2:] == [Step.RISK_ACCEPTED, Step.CLOSED]
    accepted = CaseEvidence.objects.get(case=case, step=Step.RISK_ACCEPTED)
    assert (accepted.by_id, accepted.audit_event_id) == (world.mona.pk, event.sequence)


def test_the_case_closes_once_every_task_is_done_with_a_rotated_row_per_credential(
    world, time_machine
):
    case = confirmed(world)
    time_machine.move_to(DEPARTURE + timedelta(hours=2), tick=False)
    rotate_all(world, case)
    assert departures.departure_progress_sync(actor=None, case=case) == 8
    assert departures.departure_progress_sync(actor=None, case=case) == 0  # idempotent
    rotated = CaseEvidence.objects.filter(case=case, step=Step.CREDENTIAL_ROTATED)
    assert set(rotated.values_list("credential_id", flat=True)) == set(rows(case))
    for item in rotated:
        assert (item.by_id, item.at) == (world.mona.pk, DEPARTURE + timedelta(hours=2))
        assert item.audit_event.action == "rotation.task_completed"

    closed = departures.departure_close(actor=world.ada, case=case)
    assert closed.status == "closed"
    assert closed.risk_accepted_reason == ""
    assert events("offboarding.departure_closed").get().details["rotated"] == 8
    assert not CaseEvidence.objects.filter(case=case, step=Step.RISK_ACCEPTED).exists()
    assert CaseEvidence.objects.filter(case=case, step=Step.CLOSED).count() == 1


def test_the_ten_minute_job_logs_rotations_of_open_cases(world):
    case = confirmed(world)
    first = CaseCredential.objects.filter(case=case).select_related("task").first()
    rotation_task_complete(actor=world.mona, task=first.task, new_secret="a-new-secret-1")
    assert offboarding_tasks.cases_sync() == 1
    assert offboarding_tasks.cases_sync() == 0
    assert CaseEvidence.objects.get(case=case, step=Step.CREDENTIAL_ROTATED).credential_id == (
        first.credential_id
    )


def test_a_draft_closes_as_withdrawn_and_a_new_case_can_be_opened(world):
    case = open_case(world)
    departures.departure_close(actor=world.mona, case=case)
    assert OffboardingCase.objects.get(pk=case.pk).status == "closed"
    assert events("offboarding.departure_closed").get().details["withdrawn"] is True
    assert open_case(world).status == "draft"
    world.dave.refresh_from_db()
    assert world.dave.is_active


# --- Pages ----------------------------------------------------------------------------------


def test_a_manager_walks_the_departure_through_the_pages(world, client):
    sign_in(client, world.mona)
    page = client.get("/offboarding/departures/new/")
    assert page.status_code == 200
    assert 'for="id_subject"' in page.content.decode()
    response = client.post(
        "/offboarding/departures/new/", {"subject": str(world.dave.pk), "reason": "Resigned"}
    )
    case = OffboardingCase.objects.get(subject=world.dave)
    assert response["Location"] == f"/offboarding/cases/{case.pk}/"
    assert "Confirm departure" in client.get(response["Location"]).content.decode()

    response = client.post(f"/offboarding/cases/{case.pk}/confirm/")
    assert response.status_code == 302
    page = client.get(f"/offboarding/cases/{case.pk}/").content.decode()
    assert "0 of 8</strong> rotated" in page
    assert "Northwind front desk" in page
    assert "FS01 user" in page
    assert events("offboarding.departure_confirmed").count() == 1

    refused = client.post(f"/offboarding/cases/{case.pk}/close/", {"risk_accepted_reason": ""})
    assert "8 rotation tasks are still open" in refused.content.decode()
    client.post(
        f"/offboarding/cases/{case.pk}/close/",
        {"risk_accepted_reason": "Client rotates them on Monday."},
    )
    assert OffboardingCase.objects.get(pk=case.pk).status == "closed"
    listing = client.get("/offboarding/").content.decode()
    assert "Dave Leaving" in listing
    assert "Offboarding" in listing


def test_the_case_page_shows_only_rows_of_clients_the_viewer_may_see(world, client):
    case = confirmed(world)
    sign_in(client, world.alice)  # manages Contoso only
    page = client.get(f"/offboarding/cases/{case.pk}/").content.decode()
    assert "DC01 domain admin" in page
    assert "Front desk" in page
    assert "Northwind front desk" not in page
    assert "FS01 user" not in page
    assert 'data-testid="hidden-revealed">2 more' in page
    assert 'data-testid="hidden-could-reveal">2 more' in page
    assert 'data-testid="hidden-policy">2 more' in page
    assert "0 of 8</strong> rotated" in page


def test_an_auditor_reads_cases_but_cannot_act_and_technicians_cannot_see_them(world, client):
    case = confirmed(world)
    sign_in(client, world.audrey)
    assert client.get("/offboarding/").status_code == 200
    page = client.get(f"/offboarding/cases/{case.pk}/").content.decode()
    assert "departure-close-form" not in page
    assert client.post(f"/offboarding/cases/{case.pk}/close/").status_code == 403
    assert OffboardingCase.objects.get(pk=case.pk).status == "open"
    sign_in(client, world.bob)
    assert client.get("/offboarding/").status_code == 403
    assert client.get(f"/offboarding/cases/{case.pk}/").status_code == 404


def test_the_case_list_runs_a_fixed_number_of_queries(world, client):
    sign_in(client, world.mona)
    confirmed(world)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/offboarding/").status_code == 200
        return len(queries)

    one = count()
    for index in range(3):
        leaver = UserFactory(email=f"leaver{index}@msp.example")
        assignment_grant(actor=None, client=world.contoso, user=leaver, level=AccessLevel.USE)
        departures.departure_confirm(
            actor=world.mona,
            case=departures.departure_open(actor=world.mona, subject=leaver, reason="Left"),
        )
    assert OffboardingCase.objects.count() == 4
    assert count() == one


def test_after_confirmation_their_api_token_is_refused(world, django_capture_on_commit_callbacks):
    """Issue 7: a token created while the person was an administrator stops working."""
    from integrations.models import ApiToken
    from integrations.services.tokens import api_token_create

    world.dave.groups.add(Group.objects.get(name=Role.ADMINISTRATOR))
    dave = User.objects.get(pk=world.dave.pk)
    token, plaintext = api_token_create(
        actor=dave,
        name="Dave's script",
        scopes=["clients:read"],
        expires_at=timezone.now() + timedelta(days=30),
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert Browser().get("/api/v1/me/", **headers).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        confirmed(world)
    response = Browser().get("/api/v1/me/", **headers)
    assert response.status_code == 401
    token.refresh_from_db()
    assert token.revoked_at == DEPARTURE
    assert events("api_token.revoked").get().details["count"] == 1
    assert events("api_token.refused", "denied").get().reason == "revoked"
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 0
