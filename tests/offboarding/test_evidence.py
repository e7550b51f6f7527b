"""The evidence report and CSV of an offboarding case, and offboarding in the reviews.

Cases and their evidence are built directly (models, audit.record, evidence_add), as the
departure and client-exit services would leave them.
"""

import csv
import io
from datetime import datetime

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from audit import hygiene, reviews
from audit.departures import DEPARTED_ACCESS, OPEN_CASES
from audit.models import AuditEvent
from audit.reviews import Month, Quarter
from audit.services import Target, record
from offboarding.models import CaseEvidence, OffboardingCase
from offboarding.services.evidence import evidence_add
from tenants.models import AccessLevel, Assignment, Client
from tenants.services import assignment_grant
from tests.audit.review_world import backdate_assignments, seed, utc
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import make_credential

Step = CaseEvidence.Step
FORMULA = '=HYPERLINK("http://evil.example","click")'


def report_url(case) -> str:
    return f"/offboarding/cases/{case.pk}/evidence/"


def csv_url(case) -> str:
    return f"/offboarding/cases/{case.pk}/evidence.csv"


def step(case, kind, *, at, actor, action, client=None, credential=None, detail=""):
    """One step as a service writes it: its audit event, then its evidence row beside it."""
    with time_machine.travel(at, tick=False), transaction.atomic():
        target = Target.of(credential) if credential is not None else Target.of(case)
        event = record(actor=actor, action=action, client=client, target=target)
        return evidence_add(
            case=case,
            step=kind,
            actor=actor,
            event=event,
            client=client,
            credential=credential,
            detail=detail,
        )


@pytest.fixture
def dave(client_a, client_b):
    """A technician of both clients, who leaves."""
    user = UserFactory(email="dave@msp.example", full_name="Dave Leaving", roles=[Role.TECHNICIAN])
    for each in (client_a, client_b):
        assignment_grant(actor=None, client=each, user=user, level=AccessLevel.USE)
    return user


@pytest.fixture
def auditor(db):
    """An auditor assigned to no client at all."""
    return UserFactory(email="audra@msp.example", full_name="Audra Auditor", roles=[Role.AUDITOR])


@pytest.fixture
def departure(alice, dave, client_a, client_b):
    """Dave's departure, confirmed and closed: steps of no client, of client A and of B."""
    cred_a = make_credential(client=client_a, name="Contoso DC01 admin")
    cred_b = make_credential(client=client_b, name="Fabrikam FS01 admin")
    case = OffboardingCase.objects.create(
        kind=OffboardingCase.Kind.TECHNICIAN,
        subject=dave,
        reason="Left the company",
        opened_at=utc(2026, 3, 10, 9),
        opened_by=alice,
    )
    opened = "offboarding.departure_opened"
    confirmed = "offboarding.departure_confirmed"
    rows = [
        step(case, Step.OPENED, at=utc(2026, 3, 10, 9), actor=alice, action=opened),
        step(case, Step.LOGIN_DISABLED, at=utc(2026, 3, 10, 9, 5), actor=alice, action=confirmed),
        step(
            case, Step.SESSIONS_ENDED, at=utc(2026, 3, 10, 9, 5, 1), actor=alice, action=confirmed
        ),
        step(
            case,
            Step.ACCESS_REVOKED,
            at=utc(2026, 3, 10, 9, 5, 2),
            actor=alice,
            action=confirmed,
            client=client_a,
        ),
        step(
            case,
            Step.ACCESS_REVOKED,
            at=utc(2026, 3, 10, 9, 5, 3),
            actor=alice,
            action=confirmed,
            client=client_b,
        ),
        step(
            case,
            Step.CREDENTIAL_ROTATED,
            at=utc(2026, 3, 11, 14),
            actor=alice,
            action="rotation.task_completed",
            client=client_a,
            credential=cred_a,
            detail=FORMULA,
        ),
        step(
            case,
            Step.CREDENTIAL_ROTATED,
            at=utc(2026, 3, 12, 8, 30),
            actor=alice,
            action="rotation.task_completed",
            client=client_b,
            credential=cred_b,
            detail="-1 rotated by hand",
        ),
        step(
            case,
            Step.CLOSED,
            at=utc(2026, 3, 12, 9),
            actor=alice,
            action="offboarding.departure_closed",
        ),
    ]
    OffboardingCase.objects.filter(pk=case.pk).update(
        status=OffboardingCase.Status.CLOSED,
        confirmed_at=utc(2026, 3, 10, 9, 5),
        confirmed_by=alice,
        closed_at=utc(2026, 3, 12, 9),
        closed_by=alice,
    )
    case.refresh_from_db()
    case.rows = rows
    return case


def body_of(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.content.decode()[:500]
    return response.content.decode()


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def shown_time(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


# The report


@pytest.mark.django_db
def test_report_lists_every_step_with_its_time_in_order(client, admin_user, departure):
    sign_in(client, admin_user)
    body = body_of(client, report_url(departure))
    table = body[body.index('data-testid="evidence"') :]
    positions = []
    for row in departure.rows:
        marker = f'<time datetime="{row.at.isoformat()}" data-local-time>{shown_time(row.at)}'
        assert marker in table, row.step
        positions.append(table.index(marker))
        assert f"#{row.audit_event_id}" in table
    assert positions == sorted(positions)
    for label in ("Case opened", "Login disabled", "Sessions ended", "Access revoked"):
        assert label in table
    assert "Contoso DC01 admin" in table
    assert "Fabrikam FS01 admin" in table
    assert 'data-testid="hidden-rows"' not in body
    facts = body[body.index('data-testid="case-facts"') : body.index('data-testid="evidence"')]
    assert "Technician departure" in facts
    assert "Dave Leaving" in facts
    for at in (departure.opened_at, departure.confirmed_at, departure.closed_at):
        assert shown_time(at) in facts
    assert facts.count("by Alice Manager") == 3
    # Printable: a Print button for the static script, no inline script.
    assert "data-print" in body
    assert "offboarding/evidence.js" in body
    assert "<script>" not in body


@pytest.mark.django_db
def test_manager_sees_the_steps_of_their_clients_and_how_many_are_hidden(client, alice, departure):
    sign_in(client, alice)
    body = body_of(client, report_url(departure))
    assert "Contoso DC01 admin" in body
    assert "Fabrikam FS01 admin" not in body
    assert "Fabrikam Logistics" not in body
    hidden = body[body.index('data-testid="hidden-rows"') :]
    assert hidden.startswith('data-testid="hidden-rows">2 steps are hidden')
    assert body.count("<tr data-step=") == 6


@pytest.mark.django_db
def test_viewer_of_no_client_of_the_case_sees_only_case_steps_and_the_hidden_count(
    client, auditor, departure
):
    sign_in(client, auditor)
    body = body_of(client, report_url(departure))
    assert body.count("<tr data-step=") == 4
    assert "4 steps are hidden" in body
    assert "Contoso" not in body
    assert "Fabrikam" not in body


@pytest.mark.django_db
def test_technicians_cannot_open_the_evidence_and_a_missing_case_is_not_found(
    client, bob, alice, departure
):
    sign_in(client, bob)
    assert client.get(report_url(departure)).status_code == 403
    assert client.get(csv_url(departure)).status_code == 403
    denied = AuditEvent.objects.get(action="offboarding.evidence_exported")
    assert (denied.outcome, denied.actor_user_id) == ("denied", bob.pk)
    sign_in(client, alice)
    missing = "/offboarding/cases/00000000-0000-4000-8000-000000000000/evidence/"
    assert client.get(missing).status_code == 404


@pytest.mark.django_db
def test_report_query_count_does_not_grow_with_the_steps(
    client, admin_user, alice, departure, client_a
):
    sign_in(client, admin_user)
    url = report_url(departure)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        body_of(client, url)
    for minute in range(30):
        step(
            departure,
            Step.CREDENTIAL_ROTATED,
            at=utc(2026, 3, 12, 10, minute),
            actor=alice,
            action="rotation.task_completed",
            client=client_a,
            credential=make_credential(client=client_a, name=f"Workstation {minute}"),
        )
    with CaptureQueriesContext(connection) as large:
        body = body_of(client, url)
    assert "Workstation 29" in body
    assert len(large) == len(small)


# The CSV export


@pytest.mark.django_db
def test_csv_has_the_reports_rows_with_formulas_neutralised_and_one_event(
    client, alice, departure, client_a
):
    sign_in(client, alice)
    before = AuditEvent.objects.count()
    response = client.get(csv_url(departure))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="keyhold-offboarding-{departure.pk}-evidence.csv"'
    )
    rows = csv_rows(response)
    assert rows[0] == [
        "at_utc",
        "step",
        "step_label",
        "by",
        "client",
        "credential",
        "detail",
        "audit_event",
    ]
    visible = [row for row in departure.rows if row.client_id in (None, client_a.pk)]
    assert [row[0] for row in rows[1:]] == [
        row.at.isoformat(timespec="microseconds").replace("+00:00", "Z") for row in visible
    ]
    assert [row[1] for row in rows[1:]] == [row.step for row in visible]
    assert [row[7] for row in rows[1:]] == [str(row.audit_event_id) for row in visible]
    rotated = next(row for row in rows if row[1] == Step.CREDENTIAL_ROTATED)
    assert rotated[4:7] == ["Contoso Dental", "Contoso DC01 admin", "'" + FORMULA]
    assert all("Fabrikam" not in cell for row in rows for cell in row)
    # Its event, and no other.
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.get(action="offboarding.evidence_exported")
    assert (event.outcome, event.actor_user_id, event.target_id) == (
        "success",
        alice.pk,
        str(departure.pk),
    )
    assert event.details == {"format": "csv", "rows": 6, "hidden": 2}


@pytest.mark.django_db
def test_csv_cell_starting_with_a_minus_is_neutralised_for_those_who_see_it(
    client, admin_user, departure
):
    sign_in(client, admin_user)
    rows = csv_rows(client.get(csv_url(departure)))
    assert len(rows) == 1 + len(departure.rows)
    assert ["Fabrikam FS01 admin", "'-1 rotated by hand"] in [row[5:7] for row in rows]


# A client exit, after which nobody is assigned to the client


@pytest.fixture
def client_exit(alice, admin_user, charlie, client_b):
    case = OffboardingCase.objects.create(
        kind=OffboardingCase.Kind.CLIENT,
        client=client_b,
        status=OffboardingCase.Status.OPEN,
        opened_at=utc(2026, 3, 1, 9),
        opened_by=admin_user,
        confirmed_at=utc(2026, 3, 2, 9),
        confirmed_by=admin_user,
    )
    step(
        case,
        Step.ACCESS_REVOKED,
        at=utc(2026, 3, 2, 9),
        actor=admin_user,
        action="offboarding.client_exit_confirmed",
        client=client_b,
        detail="3 assignments revoked",
    )
    Assignment.objects.filter(client=client_b).update(revoked_at=timezone.now())
    Client.objects.filter(pk=client_b.pk).update(status=Client.Status.OFFBOARDED)
    return case


@pytest.mark.django_db
def test_client_exit_evidence_stays_readable_to_auditors_and_administrators_only(
    client, alice, admin_user, auditor, client_exit
):
    for viewer in (auditor, admin_user):
        sign_in(client, viewer)
        body = body_of(client, report_url(client_exit))
        assert "3 assignments revoked" in body
        assert "Fabrikam Logistics" in body
    sign_in(client, alice)
    assert client.get(report_url(client_exit)).status_code == 404
    assert client.get(csv_url(client_exit)).status_code == 404
    event = AuditEvent.objects.get(action="offboarding.evidence_exported")
    assert event.outcome == "denied"


@pytest.mark.django_db
def test_auditors_see_a_departures_steps_at_an_offboarded_client(client, auditor, departure):
    Client.objects.filter(name="Fabrikam Logistics").update(status=Client.Status.OFFBOARDED)
    sign_in(client, auditor)
    body = body_of(client, report_url(departure))
    assert "Fabrikam FS01 admin" in body
    assert "Contoso DC01 admin" not in body
    assert "2 steps are hidden" in body


# Offboarding in the access review and the hygiene audit


@pytest.fixture
def departed(dave, alice, client_a, client_b):
    """Dave left on 10 March 2026 at 09:05; some of his events come before, some after."""
    backdate_assignments()
    OffboardingCase.objects.create(
        kind=OffboardingCase.Kind.TECHNICIAN,
        subject=dave,
        status=OffboardingCase.Status.OPEN,
        opened_at=utc(2026, 3, 10, 9),
        opened_by=alice,
        confirmed_at=utc(2026, 3, 10, 9, 5),
        confirmed_by=alice,
    )
    return {
        "before": seed(at=utc(2026, 3, 10, 9), actor=dave, client=client_a, credential="a-1"),
        "after_a": seed(at=utc(2026, 3, 12, 14), actor=dave, client=client_a, credential="a-2"),
        "after_b": seed(at=utc(2026, 3, 12, 15), actor=dave, client=client_b, credential="b-1"),
        "sign_in": seed(at=utc(2026, 3, 13, 10), actor=dave, action="staff.signed_in"),
        "refused": seed(
            at=utc(2026, 3, 13, 11), actor=dave, action="staff.signed_in", outcome="denied"
        ),
    }


def finding(review, key: str):
    return next(each for each in review.findings if each.key == key)


def check(audit, key: str):
    return next(each for each in audit.checks if each.key == key)


@pytest.mark.django_db
def test_access_after_departure_is_a_finding_of_the_month_within_the_viewers_clients(
    departed, alice, client_a, client_b
):
    review = reviews.access_review(actor=alice, month=Month(2026, 3))
    found = finding(review, DEPARTED_ACCESS)
    assert found.count == 2
    assert [(share.name, share.count) for share in found.by_technician] == [("Dave Leaving", 2)]
    events = reviews.review_events(actor=alice, month=Month(2026, 3), finding=DEPARTED_ACCESS)
    assert {event.sequence for event in events.page.object_list} == {
        departed["after_a"].sequence,
        departed["sign_in"].sequence,
    }
    # A manager of both clients also sees the opening at Fabrikam.
    both = UserFactory(roles=[Role.MANAGER])
    for each in (client_a, client_b):
        assignment_grant(actor=None, client=each, user=both, level=AccessLevel.VIEW)
    wider = reviews.access_review(actor=both, month=Month(2026, 3))
    assert finding(wider, DEPARTED_ACCESS).count == 3
    assert [case.name for case in review.open_cases] == ["Dave Leaving"]


@pytest.mark.django_db
def test_access_before_the_departure_is_no_finding(dave, alice, client_a):
    backdate_assignments()
    seed(at=utc(2026, 3, 10, 9), actor=dave, client=client_a, credential="a-1")
    seed(at=utc(2026, 3, 10, 9, 4), actor=dave, action="staff.signed_in")
    OffboardingCase.objects.create(
        kind=OffboardingCase.Kind.TECHNICIAN,
        subject=dave,
        status=OffboardingCase.Status.CLOSED,
        opened_at=utc(2026, 3, 10, 9),
        confirmed_at=utc(2026, 3, 10, 9, 5),
        closed_at=utc(2026, 3, 11, 9),
    )
    review = reviews.access_review(actor=alice, month=Month(2026, 3))
    assert finding(review, DEPARTED_ACCESS).count == 0
    assert review.open_cases == []
    with time_machine.travel(utc(2026, 4, 20, 12), tick=False):
        audit = hygiene.hygiene_audit(actor=alice, quarter=Quarter(2026, 2))
    assert check(audit, DEPARTED_ACCESS).status == hygiene.CheckStatus.OK
    assert check(audit, OPEN_CASES).status == hygiene.CheckStatus.OK


@pytest.mark.django_db
def test_hygiene_audit_finds_access_after_departure_and_cases_open_for_a_month(
    departed, alice, dave
):
    with time_machine.travel(utc(2026, 4, 5, 12), tick=False):
        early = hygiene.hygiene_audit(actor=alice, quarter=Quarter(2026, 2))
    assert check(early, OPEN_CASES).status == hygiene.CheckStatus.OK
    with time_machine.travel(utc(2026, 4, 20, 12), tick=False):
        audit = hygiene.hygiene_audit(actor=alice, quarter=Quarter(2026, 2))
    late = check(audit, OPEN_CASES)
    assert late.status == hygiene.CheckStatus.FINDINGS
    assert late.rows[0].subject == "Technician departure: Dave Leaving"
    assert late.rows[0].url.endswith(
        f"/offboarding/cases/{OffboardingCase.objects.get().pk}/evidence/"
    )
    access = check(audit, DEPARTED_ACCESS)
    assert access.status == hygiene.CheckStatus.FINDINGS
    assert {(row.client, row.subject) for row in access.rows} == {
        ("Contoso Dental", "Dave Leaving: credential.revealed"),
        ("No client (sign-in)", "Dave Leaving: staff.signed_in"),
    }
    assert all("after leaving on 2026-03-10" in row.detail for row in access.rows)


@pytest.mark.django_db
def test_open_client_exits_show_to_auditors_but_not_to_managers_without_the_client(
    client_exit, alice, auditor
):
    alice_review = reviews.access_review(actor=alice, month=Month(2026, 3))
    assert alice_review.open_cases == []
    # Reviewers need a client of their own to open a review; the exit shows all the same.
    contoso = Client.objects.get(slug="contoso-dental")
    assignment_grant(actor=None, client=contoso, user=auditor, level=AccessLevel.VIEW)
    auditor_review = reviews.access_review(actor=auditor, month=Month(2026, 3))
    assert [(case.kind_label, case.name) for case in auditor_review.open_cases] == [
        ("Client offboarding", "Fabrikam Logistics")
    ]


@pytest.mark.django_db
def test_review_pages_show_the_cases_and_the_finding(client, departed, alice):
    sign_in(client, alice)
    review = body_of(client, "/audit/reviews/?month=2026-03")
    cases = review[review.index('data-testid="open-offboarding-cases"') :]
    assert "Technician departure: Dave Leaving" in cases
    item = review[review.index(f'data-finding="{DEPARTED_ACCESS}"') :]
    assert '<span class="count num">2</span>' in item[: item.index("</li>")]
    events = body_of(client, f"/audit/reviews/events/?month=2026-03&finding={DEPARTED_ACCESS}")
    assert "Access after departure" in events
    with time_machine.travel(utc(2026, 4, 20, 12), tick=True):
        sign_in(client, alice)
        audit = body_of(client, "/audit/hygiene/?quarter=2026-Q2")
    item = audit[audit.index(f'data-check="{OPEN_CASES}"') :]
    assert "Dave Leaving</a>" in item[: item.index("</li>")]


@pytest.mark.django_db
def test_review_query_count_does_not_grow_with_departures(client, departed, alice, client_a):
    sign_in(client, alice)
    urls = [
        "/audit/reviews/?month=2026-03",
        f"/audit/reviews/events/?month=2026-03&finding={DEPARTED_ACCESS}",
        "/audit/hygiene/?quarter=2026-Q1",
    ]
    for url in urls:
        client.get(url)
    small = []
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            body_of(client, url)
        small.append(len(queries))
    for index in range(5):
        person = UserFactory(roles=[Role.TECHNICIAN])
        OffboardingCase.objects.create(
            kind=OffboardingCase.Kind.TECHNICIAN,
            subject=person,
            status=OffboardingCase.Status.CLOSED,
            opened_at=utc(2026, 3, 1 + index, 9),
            confirmed_at=utc(2026, 3, 1 + index, 10),
            closed_at=utc(2026, 3, 2 + index, 10),
        )
        seed(at=utc(2026, 3, 20, index), actor=person, client=client_a, credential=f"x-{index}")
        seed(at=utc(2026, 3, 21, index), actor=person, action="staff.signed_in")
    large = []
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            body_of(client, url)
        large.append(len(queries))
    assert large == small
    assert (
        finding(reviews.access_review(actor=alice, month=Month(2026, 3)), DEPARTED_ACCESS).count
        == 12
    )
