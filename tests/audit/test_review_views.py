"""The review pages: wiring, status codes, friendly bad input, scope and constant queries."""

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from audit import hygiene, reviews
from audit.models import AuditEvent, ReviewSignOff
from audit.services import Target, record
from tenants.models import AccessLevel, Client, System
from tenants.services import assignment_grant
from tests.audit.review_world import backdate_assignments, seed, utc
from tests.conftest import sign_in
from tests.factories import ClientFactory, SystemFactory, UserFactory
from tests.vault.test_credentials import make_credential

REVIEW = "/audit/reviews/"
EVENTS = "/audit/reviews/events/"
HYGIENE = "/audit/hygiene/"
SIGN_OFFS = "/audit/sign-offs/"


@pytest.fixture
def auditor(client_a):
    user = UserFactory(email="audra@msp.example", full_name="Audra Auditor", roles=[Role.AUDITOR])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.VIEW)
    return user


@pytest.fixture
def seeded(settings, alice, bob, charlie, client_a, client_b):
    """A few March 2026 events: one without a ticket, one at night, one at client B."""
    settings.AUDIT_BULK_ACCESS_COUNT = 3
    backdate_assignments()
    seed(at=utc(2026, 2, 3, 14), actor=bob, client=client_a, credential="a-1", ticket="T-0")
    seed(at=utc(2026, 3, 3, 14), actor=bob, client=client_a, credential="a-1", ticket="T-1")
    seed(at=utc(2026, 3, 4, 14), actor=bob, client=client_a, credential="a-2")
    seed(at=utc(2026, 3, 5, 2), actor=bob, client=client_a, credential="a-1", ticket="T-2")
    seed(at=utc(2026, 3, 6, 2), actor=charlie, client=client_b, credential="b-1")
    seed(at=utc(2026, 3, 9, 9), actor=bob, action="mfa.verification_failed", outcome="denied")
    seed(at=utc(2026, 3, 10, 9), actor=bob, client=client_a, credential="a-9", outcome="denied")


def grow(alice, client_a, *, clients: int = 6, people: int = 5, events: int = 60) -> None:
    """More clients, technicians and events of every kind: the query count must not move."""
    technicians = [UserFactory(roles=[Role.TECHNICIAN]) for _ in range(people)]
    extra = [ClientFactory() for _ in range(clients)]
    for each in extra:
        assignment_grant(actor=None, client=each, user=alice, level=AccessLevel.MANAGE)
        SystemFactory(client=each)
        for person in technicians[:3]:
            assignment_grant(actor=None, client=each, user=person, level=AccessLevel.USE)
    backdate_assignments()
    for index in range(events):
        person = technicians[index % people]
        where = extra[index % clients]
        seed(
            at=utc(2026, 3, 1 + index % 28, (index * 5) % 24, index % 60),
            actor=person,
            client=where,
            action=("credential.revealed", "credential.checked_out")[index % 2],
            credential=f"x-{index % 9}",
            ticket="" if index % 4 == 0 else "T",
            ip=f"198.51.100.{index % 7}",
            outcome="denied" if index % 11 == 0 else "success",
        )
    seed(at=utc(2026, 3, 20, 9), actor=technicians[0], action="mfa.verification_failed")


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content.decode()[:500]
    return len(queries)


# Who may open the pages


@pytest.mark.django_db
@pytest.mark.parametrize("url", [REVIEW, EVENTS, HYGIENE, SIGN_OFFS])
def test_technicians_are_refused_every_review_page(client, bob, url):
    sign_in(client, bob)
    response = client.get(url)
    assert response.status_code == 403
    assert "Only managers or auditors" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url", [REVIEW, EVENTS, HYGIENE, SIGN_OFFS])
def test_managers_and_auditors_open_every_review_page(client, alice, auditor, url):
    for person in (alice, auditor):
        sign_in(client, person)
        assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_reviews_link_in_the_header_for_managers_and_auditors_only(client, alice, auditor, bob):
    link = 'href="/audit/reviews/"'
    sign_in(client, alice)
    assert link in client.get("/").content.decode()
    sign_in(client, auditor)
    assert link in client.get("/").content.decode()
    sign_in(client, bob)
    assert link not in client.get("/").content.decode()


# The review page


@pytest.mark.django_db
def test_review_shows_findings_with_links_to_their_events(client, seeded, alice):
    sign_in(client, alice)
    body = client.get(f"{REVIEW}?month=2026-03").content.decode()
    assert "Access review · March 2026" in body
    assert "/audit/reviews/events/?month=2026-03&amp;finding=no_ticket" in body
    assert "/audit/reviews/events/?month=2026-03&amp;finding=off_hours" in body
    assert "<svg" in body
    assert 'data-testid="technician-totals"' in body
    assert "Bob Tech" in body
    assert "Fabrikam" not in body
    assert 'name="disposition_no_ticket"' in body


@pytest.mark.django_db
def test_auditor_reads_the_review_without_a_sign_off_form(client, seeded, auditor):
    sign_in(client, auditor)
    body = client.get(f"{REVIEW}?month=2026-03").content.decode()
    assert "Only managers can sign off" in body
    assert 'name="disposition_' not in body


@pytest.mark.django_db
def test_events_page_lists_the_findings_events_newest_first(client, seeded, alice):
    sign_in(client, alice)
    response = client.get(f"{EVENTS}?month=2026-03&finding=off_hours")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Access outside business hours" in body
    assert "2026-03-05 02:00:00" in body
    assert "Fabrikam" not in body
    everything = client.get(f"{EVENTS}?month=2026-03").content.decode()
    times = re.findall(r"2026-03-\d\d \d\d:\d\d:\d\d", everything)
    assert times == sorted(times, reverse=True)
    assert len(times) == 5


@pytest.mark.django_db
def test_events_page_paginates_by_fifty(client, alice, bob, client_a):
    backdate_assignments()
    for index in range(55):
        seed(at=utc(2026, 3, 2, 14, index), actor=bob, client=client_a, credential="a-1")
    sign_in(client, alice)
    first = client.get(f"{EVENTS}?month=2026-03&finding=no_ticket").content.decode()
    assert first.count("<time ") == 50
    assert "Page 1 of 2" in first
    second = client.get(f"{EVENTS}?month=2026-03&finding=no_ticket&page=2").content.decode()
    assert second.count("<time ") == 5
    assert client.get(f"{EVENTS}?month=2026-03&page=abc").status_code == 200


# Bad input: a message and 400, never a 500, never another tenant's data


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"{REVIEW}?month=2026-13", "2026-13 is not a month"),
        (f"{REVIEW}?month=abc", "“abc” is not a month"),
        (f"{REVIEW}?month=2026-3-1", "is not a month"),
        (f"{REVIEW}?month=2999-01", "has not started yet"),
        (f"{REVIEW}?month=1999-12", "no events from before 2000"),
        (f"{REVIEW}?month=2026-03&technician=not-a-uuid", "Choose a technician"),
        (f"{REVIEW}?month=2026-03&client=Not a slug!", "Choose a client"),
        (f"{EVENTS}?month=2026-00", "is not a month"),
        (f"{EVENTS}?month=2026-03&finding=everything", "Choose a finding"),
        (f"{EVENTS}?month=2026-03&action=credential.stolen", "Choose an action"),
        (f"{EVENTS}?month=2026-03&outcome=maybe", "Choose an outcome"),
        (f"{HYGIENE}?quarter=2026-Q5", "2026-Q5 is not a quarter"),
        (f"{HYGIENE}?quarter=Q1", "is not a quarter"),
        (f"{HYGIENE}?quarter=2999-Q1", "has not started yet"),
    ],
)
def test_bad_periods_and_filters_get_a_message_and_400(client, alice, url, message):
    sign_in(client, alice)
    response = client.get(url)
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url", [REVIEW, EVENTS, HYGIENE])
def test_filter_for_a_client_the_viewer_cannot_see_is_404_like_a_missing_one(
    client, seeded, alice, client_b, url
):
    sign_in(client, alice)
    unseen = client.get(f"{url}?client={client_b.slug}")
    missing = client.get(f"{url}?client=no-such-client")
    assert unseen.status_code == missing.status_code == 404

    def without_csrf(response):
        return re.sub(rb'(content|value)="[A-Za-z0-9]{64}"', b"", response.content)

    assert without_csrf(unseen) == without_csrf(missing)
    assert client_b.name not in unseen.content.decode()


@pytest.mark.django_db
def test_unknown_technician_is_404(client, alice):
    sign_in(client, alice)
    response = client.get(f"{REVIEW}?technician=00000000-0000-0000-0000-000000000009")
    assert response.status_code == 404


# Sign-off through the page


def sign_off_form(**dispositions: str) -> dict[str, str]:
    data = {"notes": "Looked at every finding."}
    for key, value in dispositions.items():
        data[f"disposition_{key}"] = value
        data[f"note_{key}"] = f"note on {key}"
    return data


@pytest.mark.django_db
def test_manager_signs_off_and_the_page_turns_read_only(client, seeded, alice):
    sign_in(client, alice)
    url = f"{REVIEW}?month=2026-03"
    missing = client.post(url, sign_off_form(no_ticket="expected"))
    assert missing.status_code == 200
    assert "Choose expected, investigating or incident." in missing.content.decode()
    assert 'value="note on no_ticket"' in missing.content.decode()
    assert not ReviewSignOff.objects.exists()
    response = client.post(
        url,
        sign_off_form(
            no_ticket="expected",
            off_hours="investigating",
            denied="expected",
            mfa_failed="expected",
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == "/audit/reviews/?month=2026-03#main"
    assert AuditEvent.objects.filter(action="review.signed_off", outcome="success").count() == 1
    body = client.get(url).content.decode()
    assert "Signed off" in body
    assert "Alice Manager" in body
    assert "UTC" in body
    assert "Investigating" in body
    assert '<form method="post" action="/audit/reviews/' not in body
    assert 'name="disposition_' not in body
    again = client.post(url, sign_off_form(no_ticket="incident"))
    assert again.status_code == 200
    assert ReviewSignOff.objects.count() == 1
    listed = client.get(SIGN_OFFS).content.decode()
    assert "March 2026" in listed
    assert "1 investigating" in listed


@pytest.mark.django_db
def test_auditor_posting_a_sign_off_is_refused_and_recorded(client, seeded, auditor):
    sign_in(client, auditor)
    response = client.post(
        f"{REVIEW}?month=2026-03",
        sign_off_form(
            no_ticket="expected", off_hours="expected", denied="expected", mfa_failed="expected"
        ),
    )
    assert response.status_code == 403
    assert not ReviewSignOff.objects.exists()
    assert AuditEvent.objects.get(action="review.signed_off").outcome == "denied"


@pytest.mark.django_db
def test_current_month_cannot_be_signed_yet(client, alice):
    sign_in(client, alice)
    body = client.get(REVIEW + "?month=2026-11").content.decode()
    assert "is not over yet" in body
    assert 'name="notes"' not in body


@pytest.fixture
def no_credential_inventory():
    """The audit without the vault's inventory, as an installation without credentials."""
    before = hygiene.current_inventory()
    hygiene.credential_inventory_register(None)
    yield
    hygiene.credential_inventory_register(before)


def check_item(body: str, key: str) -> str:
    """The markup of one check of the hygiene page."""
    start = body.index(f'data-check="{key}"')
    return body[start : body.index("</li>", start)]


@pytest.mark.django_db
def test_hygiene_page_lists_stale_and_orphaned_credentials_from_the_vault(
    client, alice, client_a, client_b, system_a
):
    old = SystemFactory(client=client_a, name="OLD01", status=System.Status.DECOMMISSIONED)
    with time_machine.travel(timezone.now() - timedelta(days=60), tick=False):
        make_credential(client=client_a, name="DC01 overdue admin", rotation_interval_days=30)
        make_credential(client=client_a, name="OLD01 admin", system=old)
        make_credential(client=client_b, name="Fabrikam overdue", rotation_interval_days=30)
    sign_in(client, alice)
    body = client.get(HYGIENE).content.decode()
    assert 'data-testid="no-credential-data"' not in body
    assert "No credential data yet" not in body
    stale = check_item(body, "stale")
    assert "DC01 overdue admin" in stale
    assert "Rotation due" in stale
    assert "Fabrikam overdue" not in body
    orphaned = check_item(body, "orphaned")
    assert "OLD01 admin" in orphaned
    assert "OLD01 is decommissioned" in orphaned
    assert "DC01 overdue admin" not in orphaned
    # DC01 has no credential of its own: both live in the client, not on the system.
    assert "DC01" in check_item(body, "systems_uncovered")
    assert "None found" in check_item(body, "clients_uncovered")


@pytest.mark.django_db
def test_hygiene_page_query_count_does_not_grow_with_credentials(
    client, alice, client_a, system_a, django_assert_num_queries
):
    """Every page (8); the audit: its clients and the sign-off (2), the vault's active
    systems without credentials and its counts of every check (2), offboarding's cases (1),
    and one query for the rows of each check that found something."""
    sign_in(client, alice)
    make_credential(client=client_a, name="DC01 admin", system=system_a)
    client.get(HYGIENE)
    with django_assert_num_queries(13):
        client.get(HYGIENE)
    old = SystemFactory(client=client_a, status=System.Status.DECOMMISSIONED)

    def add_findings(count: int) -> None:
        """Credentials that are stale, orphaned and shared: three checks find them."""
        for index in range(count):
            make_credential(
                client=client_a,
                name=f"Login {index}",
                system=old,
                is_shared=True,
                rotation_interval_days=1,
                last_rotated_at=timezone.now() - timedelta(days=10),
            )

    add_findings(2)
    with django_assert_num_queries(13 + 3):
        client.get(HYGIENE)
    add_findings(6)
    with django_assert_num_queries(13 + 3):
        body = client.get(HYGIENE).content.decode()
    assert "Login 5" in check_item(body, "orphaned")


@pytest.mark.django_db
def test_hygiene_page_says_no_credential_data_yet_and_signs_off(
    client, alice, client_a, no_credential_inventory
):
    ClientFactory(name="Unseen Client", slug="unseen")
    sign_in(client, alice)
    body = client.get(HYGIENE).content.decode()
    assert "No credential data yet" in body
    assert 'data-testid="no-credential-data"' in body
    assert "Clients without documented systems" in body
    assert "Unseen Client" not in body
    response = client.post(
        HYGIENE, {"notes": "", "disposition_clients_without_systems": "investigating"}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="hygiene_audit.signed_off").outcome == "success"
    signed = client.get(HYGIENE).content.decode()
    assert "Signed off" in signed
    assert 'name="notes"' not in signed


# Constant query counts


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        f"{REVIEW}?month=2026-03",
        f"{EVENTS}?month=2026-03",
        f"{EVENTS}?month=2026-03&finding=no_ticket",
        f"{EVENTS}?month=2026-03&finding=off_hours",
        f"{EVENTS}?month=2026-03&finding=denied&outcome=denied",
        f"{HYGIENE}?quarter=2026-Q1",
        SIGN_OFFS,
    ],
)
def test_query_count_does_not_grow_with_the_data(client, seeded, alice, client_a, url, monkeypatch):
    """Measured without the kept analyses of settled months: the pass itself is constant."""
    sign_in(client, alice)

    def uncached_count() -> int:
        monkeypatch.setattr(reviews, "STREAM_CACHE_PREFIX", uuid.uuid4().hex)
        return count_queries(client, url)

    uncached_count()
    small = uncached_count()
    grow(alice, client_a)
    assert uncached_count() == small


@pytest.mark.django_db
def test_review_page_query_count(client, seeded, alice, client_a, django_assert_num_queries):
    """Every page: session, user, MFA device, roles, unread notices, and saving the session
    (8); the review: clients, staff, the assignment fingerprint of the kept pass, the
    denied and MFA GROUP BY, offboarding's cases, and the sign-off (6); and, until the
    settled month's pass is kept, its assignment history, address look-back and stream (3)."""
    sign_in(client, alice)
    with django_assert_num_queries(17):
        client.get(f"{REVIEW}?month=2026-03")
    with django_assert_num_queries(14):
        client.get(f"{REVIEW}?month=2026-03")
    grow(alice, client_a, clients=10, people=8, events=120)
    with django_assert_num_queries(17):
        client.get(f"{REVIEW}?month=2026-03")
    with django_assert_num_queries(14):
        response = client.get(f"{REVIEW}?month=2026-03")
    assert response.content.decode().count('<th scope="row">') > 10


@pytest.mark.django_db
def test_events_page_query_count(client, seeded, alice, client_a, django_assert_num_queries):
    """Every page (8); clients and staff (2); then a count and a page of the log (2), or the
    assignment fingerprint (1), the streamed pass unless kept (3), and the page's rows (1)."""
    sign_in(client, alice)
    url = f"{EVENTS}?month=2026-03&finding=no_ticket"
    stream_url = f"{EVENTS}?month=2026-03&finding=off_hours"
    client.get(url)
    with django_assert_num_queries(12):
        client.get(url)
    with django_assert_num_queries(15):
        client.get(stream_url)
    with django_assert_num_queries(12):
        client.get(stream_url)
    grow(alice, client_a)
    with django_assert_num_queries(12):
        client.get(url)
    with django_assert_num_queries(15):
        client.get(stream_url)


@pytest.mark.django_db
def test_client_scope_uses_the_viewers_assignments_not_the_query(client, seeded, alice, client_b):
    """Adding every client to the query string does not widen the scope."""
    sign_in(client, alice)
    Client.objects.filter(pk=client_b.pk).update(name="Fabrikam Logistics")
    body = client.get(f"{EVENTS}?month=2026-03&client=&technician=").content.decode()
    assert "Fabrikam" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("url", [REVIEW, EVENTS, HYGIENE])
def test_client_picker_lists_the_viewers_clients_escaped_with_the_chosen_one_selected(
    client, alice, client_a, url
):
    odd = ClientFactory(name='Tom & Jerry\'s <b>"Shop"</b>', slug="tom-jerry")
    assignment_grant(actor=None, client=odd, user=alice, level=AccessLevel.VIEW)
    ClientFactory(name="Not Alice's Client", slug="not-alices")
    sign_in(client, alice)
    query = "?month=2026-03" if url != HYGIENE else "?"
    body = client.get(f"{url}{query}&client=tom-jerry").content.decode()
    picker = body[body.index('<select id="filter-client"') : body.index("</select>")]
    options = re.findall(r"<option[^>]*>[^<]*</option>", picker)
    assert options == [
        '<option value="">All your clients</option>',
        f'<option value="{client_a.slug}">{client_a.name}</option>',
        '<option value="tom-jerry" selected>'
        "Tom &amp; Jerry&#x27;s &lt;b&gt;&quot;Shop&quot;&lt;/b&gt;</option>",
    ]


@pytest.mark.django_db
def test_hygiene_coverage_of_many_clients_is_paged(client):
    manager = UserFactory(roles=[Role.MANAGER])
    for n in range(105):
        each = ClientFactory(name=f"Client {n:03d}", slug=f"client-{n:03d}")
        assignment_grant(actor=None, client=each, user=manager, level=AccessLevel.MANAGE)
    sign_in(client, manager)

    def coverage_table(page: int) -> str:
        body = client.get(HYGIENE, {"coverage_page": page}).content.decode()
        return body[body.index('data-testid="coverage"') : body.index('id="sign-off"')]

    first, second = coverage_table(1), coverage_table(2)
    assert ">Client 099<" in first
    assert ">Client 100<" not in first
    assert "Clients 1\N{EN DASH}100 of 105" in first
    assert "Clients 101\N{EN DASH}105 of 105" in second
    assert ">Client 104<" in second
    assert ">Client 000<" not in second


@pytest.mark.django_db
def test_review_totals_of_many_clients_are_paged(client):
    manager = UserFactory(roles=[Role.MANAGER])
    with time_machine.travel(utc(2026, 10, 14, 10), tick=False):
        for n in range(105):
            each = ClientFactory(name=f"Client {n:03d}", slug=f"client-{n:03d}")
            assignment_grant(actor=None, client=each, user=manager, level=AccessLevel.MANAGE)
            record(
                actor=manager,
                action="credential.revealed",
                client=each,
                target=Target(type="vault.credential", id=f"00000000-0000-0000-0000-{n:012d}"),
                ticket=f"T-{n}",
            )
    sign_in(client, manager)

    def client_totals(page: int) -> str:
        body = client.get(REVIEW, {"month": "2026-10", "client_page": page}).content.decode()
        return body[body.index('data-testid="client-totals"') : body.index('id="sign-off"')]

    first, second = client_totals(1), client_totals(2)
    assert "Clients 1\N{EN DASH}100 of 105" in first
    assert "Clients 101\N{EN DASH}105 of 105" in second
    shown = re.findall(r">(Client \d{3})<", first + second)
    assert sorted(shown) == [f"Client {n:03d}" for n in range(105)]
