"""The monthly access review and the quarterly hygiene audit, against the database.

A seeded March 2026 at Contoso Dental (New York business hours) holds one event for each
finding, beside ordinary work that must not be flagged: ticketed, in business hours, by an
assigned technician, from a known address, below the bulk threshold.
"""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import DatabaseError, transaction

from accounts.models import Role
from audit import hygiene, reviews
from audit.models import AuditEvent, ReviewSignOff
from audit.reviews import Month, Quarter
from audit.services import access_review_sign_off, hygiene_audit_sign_off
from config.errors import AccessDenied, InvalidRequest, NotFound
from tenants.models import AccessLevel, Assignment, Client, System
from tenants.services import assignment_grant, assignment_revoke
from tests.audit.review_world import KNOWN_IP, backdate_assignments, seed, utc
from tests.factories import ClientFactory, SystemFactory, UserFactory

MARCH = Month(2026, 3)
REVEAL = "credential.revealed"
CHECKOUT = "credential.checked_out"
EMERGENCY = "credential.emergency_opened"


@pytest.fixture
def review_settings(settings):
    """Small numbers so that a handful of events can make bulk access."""
    settings.AUDIT_BULK_ACCESS_COUNT = 3
    settings.AUDIT_BULK_ACCESS_MINUTES = 10
    settings.BUSINESS_HOURS_START = 7
    settings.BUSINESS_HOURS_END = 19
    settings.AUDIT_NEW_IP_LOOKBACK_DAYS = 90
    return settings


@pytest.fixture
def auditor(client_a):
    user = UserFactory(email="audra@msp.example", full_name="Audra Auditor", roles=[Role.AUDITOR])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.VIEW)
    return user


@pytest.fixture
def dave(client_a):
    user = UserFactory(email="dave@msp.example", full_name="Dave Tech", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.PRIVILEGED)
    return user


@pytest.fixture
def mona(client_a, client_b):
    """Manager of both clients."""
    user = UserFactory(email="mona@msp.example", full_name="Mona Manager", roles=[Role.MANAGER])
    for each in (client_a, client_b):
        assignment_grant(actor=None, client=each, user=user, level=AccessLevel.MANAGE)
    return user


@pytest.fixture
def erin(client_a):
    user = UserFactory(email="erin@msp.example", full_name="Erin Tech", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.USE)
    return user


class March:
    """The seeded month: each attribute is the event a test looks for."""


@pytest.fixture
def march(review_settings, alice, bob, charlie, dave, erin, auditor, client_a, client_b):
    Client.objects.filter(pk=client_a.pk).update(business_time_zone="America/New_York")
    Client.objects.filter(pk=client_b.pk).update(business_time_zone="Europe/London")
    backdate_assignments()
    m = March()
    a = {"client": client_a}
    # February: the addresses people usually work from (the new-address look-back).
    for person, ip in ((bob, KNOWN_IP), (dave, "203.0.113.77"), (erin, "203.0.113.88")):
        seed(at=utc(2026, 2, 20, 14), actor=person, credential="a-1", ticket="T-0", ip=ip, **a)
    # Ordinary work: 10:00 and 16:00 in New York on weekdays, ticketed, usual address.
    m.ordinary = seed(at=utc(2026, 3, 10, 14), actor=bob, credential="a-1", ticket="T-1", **a)
    m.ordinary_late_utc = seed(
        at=utc(2026, 3, 11, 20), actor=bob, action=CHECKOUT, credential="a-3", ticket="T-2", **a
    )
    m.no_ticket = seed(at=utc(2026, 3, 10, 15), actor=bob, credential="a-2", **a)
    # 19:30 in New York on a Wednesday; a Saturday afternoon.
    m.evening = seed(
        at=utc(2026, 3, 11, 23, 30), actor=bob, action=CHECKOUT, credential="a-3", ticket="T-3", **a
    )
    m.saturday = seed(at=utc(2026, 3, 14, 15), actor=bob, credential="a-1", ticket="T-4", **a)
    # Charlie is assigned to Fabrikam only, and opens a Contoso credential.
    m.unassigned = seed(
        at=utc(2026, 3, 12, 14), actor=charlie, credential="a-4", ticket="T-5", ip=KNOWN_IP, **a
    )
    m.emergency = seed(
        at=utc(2026, 3, 13, 14),
        actor=bob,
        action=EMERGENCY,
        credential="a-5",
        ticket="T-6",
        reason="Domain controller down",
        **a,
    )
    m.denied = seed(
        at=utc(2026, 3, 13, 15), actor=bob, credential="a-9", outcome="denied", ticket="T-7", **a
    )
    m.mfa_failed = seed(
        at=utc(2026, 3, 16, 9), actor=bob, action="mfa.verification_failed", outcome="denied"
    )
    m.new_ip = seed(
        at=utc(2026, 3, 17, 14), actor=bob, credential="a-1", ticket="T-8", ip="192.0.2.99", **a
    )
    m.same_new_ip_again = seed(
        at=utc(2026, 3, 17, 15), actor=bob, credential="a-1", ticket="T-9", ip="192.0.2.99", **a
    )
    # Dave: four different credentials in three minutes (bulk), then four over an hour.
    m.bulk = [
        seed(
            at=utc(2026, 3, 18, 14, minute),
            actor=dave,
            credential=f"a-1{minute}",
            ticket="T-10",
            ip="203.0.113.77",
            **a,
        )
        for minute in range(4)
    ]
    m.spread = [
        seed(
            at=utc(2026, 3, 19, 14, 20 * step),
            actor=dave,
            credential=f"a-2{step}",
            ticket="T-11",
            ip="203.0.113.77",
            **a,
        )
        for step in range(3)
    ] + [
        seed(
            at=utc(2026, 3, 19, 15, 5),
            actor=dave,
            credential="a-23",
            ticket="T-11",
            ip="203.0.113.77",
            **a,
        )
    ]
    # The same credential opened five times in a minute is not bulk access.
    m.same_credential = [
        seed(
            at=utc(2026, 3, 20, 14, 0, second),
            actor=dave,
            credential="a-30",
            ticket="T-12",
            ip="203.0.113.77",
            **a,
        )
        for second in range(0, 50, 10)
    ]
    # Erin was assigned until 20 March noon: her opening before is fine, after is not.
    m.erin_before = seed(
        at=utc(2026, 3, 19, 14), actor=erin, credential="a-6", ticket="T-13", ip="203.0.113.88", **a
    )
    with time_machine.travel(utc(2026, 3, 20, 12), tick=False):
        assignment_revoke(
            actor=alice, assignment=Assignment.objects.get(user=erin, revoked_at=None)
        )
    m.erin_after = seed(
        at=utc(2026, 3, 23, 14), actor=erin, credential="a-6", ticket="T-14", ip="203.0.113.88", **a
    )
    # Fabrikam, which alice cannot see: a reveal without a ticket at midnight.
    m.other_tenant = seed(
        at=utc(2026, 3, 12, 0, 30), actor=charlie, credential="b-1", client=client_b
    )
    # April: outside the month.
    m.april = seed(at=utc(2026, 4, 1, 2), actor=bob, credential="a-2", **a)
    return m


def flagged(actor, key: str, **filters) -> set[int]:
    """The sequences the events page lists for a finding (all pages)."""
    sequences, page = set(), 1
    while True:
        events = reviews.review_events(actor=actor, month=MARCH, finding=key, page=page, **filters)
        sequences |= {event.sequence for event in events.page.object_list}
        if not events.page.has_next():
            return sequences
        page += 1


def counts(review) -> dict[str, int]:
    return {finding.key: finding.count for finding in review.findings}


# Findings


@pytest.mark.django_db
def test_each_finding_is_found_and_nothing_else(march, alice):
    review = reviews.access_review(actor=alice, month=MARCH)
    assert counts(review) == {
        "no_ticket": 1,
        "bulk": 4,
        "unassigned": 2,
        "off_hours": 2,
        "emergency": 1,
        "denied": 1,
        "mfa_failed": 1,
        "new_ip": 2,
        "departed_access": 0,
    }
    assert flagged(alice, "no_ticket") == {march.no_ticket.sequence}
    assert flagged(alice, "bulk") == {event.sequence for event in march.bulk}
    assert flagged(alice, "unassigned") == {march.unassigned.sequence, march.erin_after.sequence}
    assert flagged(alice, "off_hours") == {march.evening.sequence, march.saturday.sequence}
    assert flagged(alice, "emergency") == {march.emergency.sequence}
    assert flagged(alice, "denied") == {march.denied.sequence}
    assert flagged(alice, "mfa_failed") == {march.mfa_failed.sequence}
    # Charlie had never opened anything at Contoso; bob's second opening from the new
    # address is no longer new.
    assert flagged(alice, "new_ip") == {march.new_ip.sequence, march.unassigned.sequence}


@pytest.mark.django_db
def test_ordinary_work_is_not_flagged(march, alice):
    ordinary = {
        march.ordinary.sequence,
        march.ordinary_late_utc.sequence,
        march.erin_before.sequence,
        march.same_new_ip_again.sequence,
        *(event.sequence for event in march.spread),
        *(event.sequence for event in march.same_credential),
    }
    for finding in reviews.finding_kinds():
        assert not flagged(alice, finding.key) & ordinary, finding.key


@pytest.mark.django_db
def test_a_quiet_month_has_no_findings(review_settings, alice, bob, client_a):
    backdate_assignments()
    seed(at=utc(2026, 2, 2, 14), actor=bob, client=client_a, credential="a-1", ticket="T-0")
    for day in range(2, 7):
        seed(at=utc(2026, 3, day, 15), actor=bob, client=client_a, credential="a-1", ticket="T")
    review = reviews.access_review(actor=alice, month=MARCH)
    assert set(counts(review).values()) == {0}
    assert review.opened_total == 5
    assert review.flagged_total == 0


@pytest.mark.django_db
def test_off_hours_follow_the_clients_time_zone(review_settings, alice, bob, client_a):
    """20:00 UTC is 16:00 in New York (business); 03:00 UTC is 23:00 the evening before."""
    Client.objects.filter(pk=client_a.pk).update(business_time_zone="America/New_York")
    backdate_assignments()
    seed(at=utc(2026, 2, 2, 14), actor=bob, client=client_a, credential="a-1", ticket="T")
    afternoon = seed(at=utc(2026, 3, 3, 20), actor=bob, client=client_a, credential="a", ticket="T")
    night = seed(at=utc(2026, 3, 4, 3), actor=bob, client=client_a, credential="a", ticket="T")
    assert flagged(alice, "off_hours") == {night.sequence}
    assert afternoon.sequence not in flagged(alice, "off_hours")


@pytest.mark.django_db
def test_an_address_unused_for_longer_than_the_look_back_is_new_again(
    review_settings, alice, bob, client_a
):
    backdate_assignments()
    a = {"actor": bob, "client": client_a, "credential": "a-1", "ticket": "T"}
    seed(at=utc(2025, 12, 5, 14), ip="198.51.100.50", **a)
    seed(at=utc(2025, 12, 20, 14), ip="198.51.100.60", **a)
    seed(at=utc(2025, 11, 20, 14), ip="198.51.100.70", **a)
    after_105_days = seed(at=utc(2026, 3, 20, 14), ip="198.51.100.50", **a)
    after_80_days = seed(at=utc(2026, 3, 10, 14), ip="198.51.100.60", **a)
    before_the_window = seed(at=utc(2026, 3, 11, 14), ip="198.51.100.70", **a)
    assert flagged(alice, "new_ip") == {after_105_days.sequence, before_the_window.sequence}
    assert after_80_days.sequence not in flagged(alice, "new_ip")
    review_settings.AUDIT_NEW_IP_LOOKBACK_DAYS = 120
    assert flagged(alice, "new_ip") == set()


@pytest.mark.django_db
def test_totals_per_technician_and_client_add_up(march, alice, bob, dave, client_a):
    review = reviews.access_review(actor=alice, month=MARCH)
    by_name = {row.name: row for row in review.technicians}
    assert by_name["Bob Tech"].reveals == 5
    assert by_name["Bob Tech"].checkouts == 2
    assert by_name["Bob Tech"].emergency == 1
    assert by_name["Bob Tech"].denied == 1
    assert by_name["Bob Tech"].mfa_failed == 1
    # no ticket, evening, saturday, new address, emergency
    assert by_name["Bob Tech"].flagged == 5
    assert by_name["Dave Tech"].reveals == 13
    assert by_name["Dave Tech"].flagged == 4
    clients = {row.name: row for row in review.clients}
    assert set(clients) == {"Contoso Dental"}
    contoso = clients["Contoso Dental"]
    assert contoso.opened == review.opened_total == sum(row.opened for row in review.technicians)
    assert contoso.flagged == review.flagged_total == 11
    finding = next(each for each in review.findings if each.key == "off_hours")
    assert [(share.name, share.count) for share in finding.by_technician] == [("Bob Tech", 2)]


@pytest.mark.django_db
def test_bulk_threshold_and_window_come_from_settings(march, alice, review_settings):
    burst = {event.sequence for event in march.bulk}
    spread = {event.sequence for event in march.spread}
    review_settings.AUDIT_BULK_ACCESS_COUNT = 4
    assert flagged(alice, "bulk") == set()
    review_settings.AUDIT_BULK_ACCESS_COUNT = 3
    # Dave's four openings from 14:00 to 15:05 fit a 70-minute window, not a 61-minute one.
    review_settings.AUDIT_BULK_ACCESS_MINUTES = 61
    assert flagged(alice, "bulk") == burst
    review_settings.AUDIT_BULK_ACCESS_MINUTES = 70
    assert flagged(alice, "bulk") == burst | spread


@pytest.mark.django_db
def test_technician_filter_narrows_findings_and_totals(march, alice, bob):
    review = reviews.access_review(actor=alice, month=MARCH, technician_id=bob.pk)
    assert [row.name for row in review.technicians] == ["Bob Tech"]
    assert counts(review)["unassigned"] == 0
    assert counts(review)["mfa_failed"] == 1
    assert counts(review)["off_hours"] == 2


@pytest.mark.django_db
def test_failed_sign_ins_on_a_technicians_email_count_for_that_technician(march, alice, bob):
    attempt = seed(
        at=utc(2026, 3, 25, 9),
        actor=None,
        action="staff.sign_in_failed",
        outcome="denied",
        actor_kind="anonymous",
        actor_label=bob.email,
    )
    review = reviews.access_review(actor=alice, month=MARCH, technician_id=bob.pk)
    assert counts(review)["denied"] == 2
    assert flagged(alice, "denied", technician_id=bob.pk) == {
        march.denied.sequence,
        attempt.sequence,
    }


# Scope


@pytest.mark.django_db
def test_manager_of_client_a_sees_nothing_of_client_b(march, alice):
    review = reviews.access_review(actor=alice, month=MARCH)
    assert "Fabrikam Logistics" not in {row.name for row in review.clients}
    assert march.other_tenant.sequence not in flagged(alice, "no_ticket")
    assert march.other_tenant.sequence not in flagged(alice, "off_hours")
    everything = reviews.review_events(actor=alice, month=MARCH)
    assert all(event.client_label != "Fabrikam Logistics" for event in everything.page.object_list)
    # Events without a client (MFA failures) are part of the manager's review.
    assert march.mfa_failed.sequence in flagged(alice, "mfa_failed")


@pytest.mark.django_db
def test_a_client_filter_for_an_unseen_client_is_not_found_like_a_missing_one(
    march, alice, client_b
):
    with pytest.raises(NotFound) as unseen:
        reviews.access_review(actor=alice, month=MARCH, client_slug=client_b.slug)
    with pytest.raises(NotFound) as missing:
        reviews.access_review(actor=alice, month=MARCH, client_slug="no-such-client")
    assert unseen.value.message == missing.value.message
    with pytest.raises(NotFound):
        reviews.review_events(actor=alice, month=MARCH, client_slug=client_b.slug)


@pytest.mark.django_db
def test_client_filter_keeps_only_that_clients_events(march, mona, client_b):
    backdate_assignments()
    review = reviews.access_review(actor=mona, month=MARCH, client_slug=client_b.slug)
    assert counts(review)["no_ticket"] == 1
    assert counts(review)["mfa_failed"] == 0
    assert [row.name for row in review.clients] == ["Fabrikam Logistics"]


@pytest.mark.django_db
def test_technicians_cannot_open_reviews(march, bob):
    with pytest.raises(AccessDenied, match="managers or auditors"):
        reviews.access_review(actor=bob, month=MARCH)
    with pytest.raises(AccessDenied):
        hygiene.hygiene_audit(actor=bob, quarter=Quarter(2026, 1))
    with pytest.raises(AccessDenied):
        reviews.sign_off_list(actor=bob)


@pytest.mark.django_db
def test_unknown_technician_filter_is_not_found(march, alice):
    with pytest.raises(NotFound):
        reviews.access_review(
            actor=alice, month=MARCH, technician_id="00000000-0000-0000-0000-000000000001"
        )


# Sign-off of the access review


def all_expected(review) -> dict[str, tuple[str, str]]:
    return {finding.key: ("expected", "") for finding in review.open_findings}


@pytest.mark.django_db
def test_sign_off_records_one_event_and_keeps_the_findings_as_signed(march, alice):
    review = reviews.access_review(actor=alice, month=MARCH)
    dispositions = all_expected(review)
    dispositions["unassigned"] = ("incident", "Charlie had no business at Contoso")
    dispositions["bulk"] = ("investigating", "")
    before = AuditEvent.objects.count()
    sign_off = access_review_sign_off(
        actor=alice,
        month=date(2026, 3, 1),
        notes="Checked with the team.",
        dispositions=dispositions,
    )
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.get(action="review.signed_off")
    assert event.outcome == "success"
    assert event.actor_user_id == alice.pk
    assert event.client_id is None
    assert event.target_id == str(sign_off.pk)
    assert event.details["period"] == "2026-03"
    assert event.details["dispositions"]["unassigned"] == "incident"
    assert sign_off.kind == ReviewSignOff.Kind.ACCESS_REVIEW
    assert sign_off.period_start == date(2026, 3, 1)
    assert sign_off.signed_by == alice
    assert sign_off.notes == "Checked with the team."
    kept = {entry["key"]: entry for entry in sign_off.findings}
    assert kept["unassigned"]["count"] == 2
    assert kept["unassigned"]["disposition"] == "incident"
    assert kept["unassigned"]["note"] == "Charlie had no business at Contoso"
    assert kept["bulk"]["by_technician"] == [
        {"key": str(march.bulk[0].actor_user_id), "name": "Dave Tech", "count": 4}
    ]
    assert kept["mfa_failed"]["disposition"] == "expected"
    signed = reviews.access_review(actor=alice, month=MARCH)
    assert signed.signed.exists
    assert signed.signed.readable
    assert not signed.can_sign
    assert next(f for f in signed.findings if f.key == "unassigned").signed["disposition"] == (
        "incident"
    )


@pytest.mark.django_db
def test_second_sign_off_of_the_same_month_and_scope_is_refused(march, alice, client_a):
    dispositions = all_expected(reviews.access_review(actor=alice, month=MARCH))
    access_review_sign_off(actor=alice, month=date(2026, 3, 1), notes="", dispositions=dispositions)
    with pytest.raises(InvalidRequest, match="already signed off"):
        access_review_sign_off(
            actor=alice, month=date(2026, 3, 15), notes="again", dispositions=dispositions
        )
    assert ReviewSignOff.objects.count() == 1
    assert AuditEvent.objects.filter(action="review.signed_off").count() == 1
    # Another scope of the same month is its own review.
    one_client = reviews.access_review(actor=alice, month=MARCH, client_slug=client_a.slug)
    access_review_sign_off(
        actor=alice,
        month=date(2026, 3, 1),
        client=client_a,
        notes="",
        dispositions=all_expected(one_client),
    )
    assert ReviewSignOff.objects.count() == 2


@pytest.mark.django_db
def test_every_finding_needs_a_disposition(march, alice):
    review = reviews.access_review(actor=alice, month=MARCH)
    partial = all_expected(review)
    partial.pop("bulk")
    with pytest.raises(InvalidRequest, match="Bulk access"):
        access_review_sign_off(actor=alice, month=date(2026, 3, 1), notes="", dispositions=partial)
    wrong = {**all_expected(review), "bulk": ("fine", "")}
    with pytest.raises(InvalidRequest, match="every finding"):
        access_review_sign_off(actor=alice, month=date(2026, 3, 1), notes="", dispositions=wrong)
    with pytest.raises(InvalidRequest, match="no finding called"):
        access_review_sign_off(
            actor=alice,
            month=date(2026, 3, 1),
            notes="",
            dispositions={**all_expected(review), "made_up": ("expected", "")},
        )
    assert not ReviewSignOff.objects.exists()
    assert not AuditEvent.objects.filter(action="review.signed_off").exists()


@pytest.mark.django_db
def test_a_month_that_is_not_over_cannot_be_signed(review_settings, alice):
    with (
        time_machine.travel(utc(2026, 3, 31, 23, 59), tick=False),
        pytest.raises(InvalidRequest, match="not over yet"),
    ):
        access_review_sign_off(actor=alice, month=date(2026, 3, 1), notes="", dispositions={})
    assert not ReviewSignOff.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["bob", "auditor"])
def test_technicians_and_auditors_cannot_sign_and_the_attempt_is_recorded(march, request, who):
    actor = request.getfixturevalue(who)
    with pytest.raises(AccessDenied, match="Only managers can sign off"):
        access_review_sign_off(actor=actor, month=date(2026, 3, 1), notes="", dispositions={})
    assert not ReviewSignOff.objects.exists()
    event = AuditEvent.objects.get(action="review.signed_off")
    assert event.outcome == "denied"
    assert event.actor_user_id == actor.pk
    assert event.details == {"period": "2026-03"}


@pytest.mark.django_db
def test_signing_a_client_the_manager_cannot_see_is_denied_and_recorded(march, alice, client_b):
    with pytest.raises(NotFound):
        access_review_sign_off(
            actor=alice, month=date(2026, 3, 1), client=client_b, notes="", dispositions={}
        )
    event = AuditEvent.objects.get(action="review.signed_off")
    assert event.outcome == "denied"
    assert event.client_id == client_b.pk
    assert not ReviewSignOff.objects.exists()


@pytest.mark.django_db
def test_a_signed_review_cannot_be_changed_in_the_database(march, alice):
    review = reviews.access_review(actor=alice, month=MARCH)
    sign_off = access_review_sign_off(
        actor=alice, month=date(2026, 3, 1), notes="As found.", dispositions=all_expected(review)
    )
    with transaction.atomic(), pytest.raises(DatabaseError):
        ReviewSignOff.objects.filter(pk=sign_off.pk).update(notes="Rewritten")
    sign_off.notes = "Rewritten"
    with transaction.atomic(), pytest.raises(DatabaseError):
        sign_off.save()
    with transaction.atomic(), pytest.raises(DatabaseError):
        ReviewSignOff.objects.filter(pk=sign_off.pk).delete()
    assert ReviewSignOff.objects.get(pk=sign_off.pk).notes == "As found."


@pytest.mark.django_db
def test_sign_off_list_shows_only_readable_sign_offs(march, alice, mona, client_b):
    carla = UserFactory(full_name="Carla Manager", roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_b, user=carla, level=AccessLevel.MANAGE)
    backdate_assignments()
    # An all-clients sign-off by someone who sees A and B is not shown to a manager of A.
    wide = access_review_sign_off(
        actor=mona,
        month=date(2026, 3, 1),
        notes="Both clients",
        dispositions=all_expected(reviews.access_review(actor=mona, month=MARCH)),
    )
    only_b = reviews.access_review(actor=carla, month=MARCH, client_slug=client_b.slug)
    b_sign_off = access_review_sign_off(
        actor=carla,
        month=date(2026, 3, 1),
        client=client_b,
        notes="",
        dispositions=all_expected(only_b),
    )
    assert list(reviews.sign_off_list(actor=alice).object_list) == []
    alices_view = reviews.access_review(actor=alice, month=MARCH)
    assert alices_view.signed.exists
    assert not alices_view.signed.readable
    assert all(finding.signed is None for finding in alices_view.findings)
    seen_by_mona = {row.sign_off for row in reviews.sign_off_list(actor=mona).object_list}
    assert seen_by_mona == {wide, b_sign_off}
    assert [row.sign_off for row in reviews.sign_off_list(actor=carla).object_list] == [b_sign_off]


# Hygiene audit


NO_INVENTORY = hygiene.NoCredentialInventory()


@pytest.mark.django_db
def test_hygiene_coverage_works_from_tenants_data_and_credentials_say_no_data(
    alice, client_a, system_a
):
    empty = ClientFactory(name="Northwind Traders", slug="northwind")
    assignment_grant(actor=None, client=empty, user=alice, level=AccessLevel.MANAGE)
    SystemFactory(client=client_a, name="OLD01", status=System.Status.DECOMMISSIONED)
    audit = hygiene.hygiene_audit(actor=alice, quarter=Quarter(2026, 4), inventory=NO_INVENTORY)
    checks = {check.key: check for check in audit.checks}
    assert checks["clients_without_systems"].status == "findings"
    assert [row.client for row in checks["clients_without_systems"].rows] == ["Northwind Traders"]
    for key in (
        "systems_uncovered",
        "clients_uncovered",
        "stale",
        "unused",
        "orphaned",
        "shared",
        "mfa_coverage",
        "inherited_unrotated",
    ):
        assert checks[key].status == "no_data", key
        assert checks[key].count == 0
    assert not audit.credential_data
    coverage = {row.client.name: row for row in audit.coverage}
    assert coverage["Contoso Dental"].active_systems == 1
    assert coverage["Contoso Dental"].decommissioned_systems == 1
    assert coverage["Contoso Dental"].credentials is None
    assert [check.key for check in audit.open_findings] == ["clients_without_systems"]


class FakeInventory:
    """A vault stand-in: one stale credential and MFA on one of two; it notes what is asked."""

    available = True

    def __init__(self, system):
        self.system = system
        self.asked_rows = []

    def systems_without_credentials(self, *, client_ids):
        others = System.objects.filter(client_id__in=client_ids, status=System.Status.ACTIVE)
        return [
            hygiene.UncoveredSystem(each.pk, each.client_id, each.name, each.kind)
            for each in others.exclude(pk=self.system.pk).order_by("client__name", "name")
        ]

    def counts(self, *, client_ids, as_of, since):
        found = dict.fromkeys(hygiene.CREDENTIAL_CHECKS, 0) | {"stale": 1}
        return [hygiene.ClientCredentialCounts(self.system.client_id, 2, 1, found)]

    def rows(self, check, *, client_ids, as_of, since, limit):
        self.asked_rows.append((check, list(client_ids), limit))
        if check != "stale":
            return []
        return [hygiene.CredentialRow("1", "DC01 admin", self.system.client_id, self.system.pk)]


class ManyFindingsInventory:
    """Every client of `client_ids` holds `per_client` stale credentials; rows are made up."""

    available = True

    def __init__(self, per_client):
        self.per_client = per_client
        self.asked_rows = []

    def systems_without_credentials(self, *, client_ids):
        return []

    def counts(self, *, client_ids, as_of, since):
        found = dict.fromkeys(hygiene.CREDENTIAL_CHECKS, 0) | {"stale": self.per_client}
        return [
            hygiene.ClientCredentialCounts(each, self.per_client, 0, found) for each in client_ids
        ]

    def rows(self, check, *, client_ids, as_of, since, limit):
        self.asked_rows.append((check, list(client_ids)))
        made = [
            hygiene.CredentialRow(f"{each}-{n}", f"Login {n}", each)
            for each in client_ids
            for n in range(self.per_client)
        ]
        return made[:limit]


@pytest.fixture
def registered_inventory():
    """Lets a test register an inventory, and puts back the one registered before it."""
    before = hygiene.current_inventory()
    yield hygiene.credential_inventory_register
    hygiene.credential_inventory_register(before)


def test_the_audit_asks_the_registered_inventory_or_none(registered_inventory, system_a):
    fake = FakeInventory(system_a)
    registered_inventory(fake)
    assert hygiene.current_inventory() is fake
    registered_inventory(None)
    assert isinstance(hygiene.current_inventory(), hygiene.NoCredentialInventory)
    assert not hygiene.current_inventory().available


@pytest.mark.django_db
def test_hygiene_audit_uses_the_registered_inventory_by_default(
    registered_inventory, alice, client_a, system_a
):
    registered_inventory(FakeInventory(system_a))
    audit = hygiene.hygiene_audit(actor=alice, quarter=Quarter(2026, 4))
    assert audit.credential_data
    assert {check.key: check for check in audit.checks}["stale"].count == 1


@pytest.mark.django_db
def test_hygiene_checks_read_an_inventory_when_there_is_one(alice, client_a, system_a):
    SystemFactory(client=client_a, name="FW01")
    audit = hygiene.hygiene_audit(
        actor=alice, quarter=Quarter(2026, 4), inventory=FakeInventory(system_a)
    )
    checks = {check.key: check for check in audit.checks}
    assert [row.subject for row in checks["systems_uncovered"].rows] == ["FW01"]
    assert checks["clients_uncovered"].status == "ok"
    assert checks["stale"].count == 1
    assert checks["unused"].status == "ok"
    assert checks["mfa_coverage"].rows[0].subject == "1 of 2 without MFA"
    coverage = audit.coverage[0]
    assert (coverage.covered_systems, coverage.active_systems) == (1, 2)
    assert coverage.mfa_percent == 50


@pytest.mark.django_db
def test_a_check_reads_rows_only_from_the_first_clients_holding_its_findings():
    """A whole MSP's audit counts every finding but loads only the rows it shows."""
    manager = UserFactory(roles=[Role.MANAGER])
    clients = [ClientFactory(name=f"Client {n:02d}") for n in range(5)]
    for each in clients:
        assignment_grant(actor=None, client=each, user=manager, level=AccessLevel.MANAGE)
    inventory = ManyFindingsInventory(per_client=60)
    audit = hygiene.hygiene_audit(actor=manager, quarter=Quarter(2026, 4), inventory=inventory)
    stale = {check.key: check for check in audit.checks}["stale"]
    assert stale.count == 300
    assert len(stale.shown_rows) == hygiene.ROWS_SHOWN
    assert stale.more_rows == 300 - hygiene.ROWS_SHOWN
    # 60 + 60 already fill the 100 rows shown: the other three clients are never read.
    assert inventory.asked_rows == [("stale", [clients[0].pk, clients[1].pk])]
    assert [row.client for row in stale.shown_rows[:1]] == ["Client 00"]


@pytest.mark.django_db
def test_hygiene_sign_off_records_one_event_and_refuses_a_second(alice, client_a):
    ClientFactory(name="Northwind Traders", slug="northwind")
    with time_machine.travel(utc(2026, 11, 29, 12), tick=False):
        audit = hygiene.hygiene_audit(actor=alice, quarter=Quarter(2026, 4), inventory=NO_INVENTORY)
        assert [check.key for check in audit.open_findings] == ["clients_without_systems"]
        with pytest.raises(InvalidRequest, match="every finding"):
            hygiene_audit_sign_off(
                actor=alice,
                quarter=date(2026, 10, 1),
                notes="",
                dispositions={},
                inventory=NO_INVENTORY,
            )
        sign_off = hygiene_audit_sign_off(
            actor=alice,
            quarter=date(2026, 10, 1),
            notes="Contoso's systems to document.",
            dispositions={"clients_without_systems": ("investigating", "Ask the client")},
            inventory=NO_INVENTORY,
        )
        with pytest.raises(InvalidRequest, match="already signed off"):
            hygiene_audit_sign_off(
                actor=alice,
                quarter=date(2026, 11, 1),
                notes="",
                dispositions={"clients_without_systems": ("expected", "")},
                inventory=NO_INVENTORY,
            )
    event = AuditEvent.objects.get(action="hygiene_audit.signed_off")
    assert event.outcome == "success"
    assert event.details == {
        "period": "2026-Q4",
        "dispositions": {"clients_without_systems": "investigating"},
    }
    kept = {entry["key"]: entry for entry in sign_off.findings}
    assert kept["clients_without_systems"]["rows"] == [
        {"client": "Contoso Dental", "subject": "Contoso Dental", "detail": "Active"}
    ]
    assert kept["stale"]["status"] == "no_data"
    assert kept["stale"]["disposition"] is None
    assert sign_off.kind == ReviewSignOff.Kind.HYGIENE_AUDIT
    with transaction.atomic(), pytest.raises(DatabaseError):
        ReviewSignOff.objects.filter(pk=sign_off.pk).update(findings=[])


@pytest.mark.django_db
def test_hygiene_sign_off_only_for_this_quarter_or_the_last(alice, client_a, system_a):
    with time_machine.travel(utc(2026, 11, 29, 12), tick=False):
        with pytest.raises(InvalidRequest, match="only this quarter or the one just ended"):
            hygiene_audit_sign_off(actor=alice, quarter=date(2026, 4, 1), notes="", dispositions={})
        assert hygiene_audit_sign_off(
            actor=alice,
            quarter=date(2026, 7, 1),
            notes="",
            dispositions={},
            inventory=NO_INVENTORY,
        )


@pytest.mark.django_db
def test_auditor_cannot_sign_the_hygiene_audit_and_the_attempt_is_recorded(auditor):
    with pytest.raises(AccessDenied):
        hygiene_audit_sign_off(actor=auditor, quarter=date(2026, 10, 1), notes="", dispositions={})
    event = AuditEvent.objects.get(action="hygiene_audit.signed_off")
    assert event.outcome == "denied"
    assert not ReviewSignOff.objects.exists()


# Periods


def test_month_and_quarter_arithmetic():
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert Month(2026, 2).end == date(2026, 3, 1)
    assert Month(2026, 3).label == "March 2026"
    assert Quarter(2026, 4).next() == Quarter(2027, 1)
    assert Quarter(2026, 1).previous() == Quarter(2025, 4)
    assert Quarter(2026, 3).start == date(2026, 7, 1)
    assert Quarter.containing(utc(2026, 11, 29)) == Quarter(2026, 4)


def test_the_database_allows_one_sign_off_per_review_and_scope(alice, client_a):
    from django.db import IntegrityError

    def sign(client=None):
        return ReviewSignOff.objects.create(
            kind=ReviewSignOff.Kind.ACCESS_REVIEW,
            period_start=date(2026, 1, 1),
            client=client,
            signed_by=alice,
        )

    sign()
    sign(client=client_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        sign()
    with pytest.raises(IntegrityError), transaction.atomic():
        sign(client=client_a)
    assert ReviewSignOff.objects.count() == 2


# The kept pass of a settled month


@pytest.fixture
def passes(monkeypatch):
    """Counts the streamed passes actually run (each one still runs in full)."""
    ran = []
    real = reviews._stream_pass

    def counted(*args, **kwargs):
        ran.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(reviews, "_stream_pass", counted)
    return ran


@pytest.mark.django_db
def test_a_settled_months_pass_is_kept_and_gives_the_same_review(march, alice, passes):
    first = reviews.access_review(actor=alice, month=MARCH)
    again = reviews.access_review(actor=alice, month=MARCH)
    assert counts(again) == counts(first)
    assert [(row.key, row.opened, row.flagged) for row in again.technicians] == [
        (row.key, row.opened, row.flagged) for row in first.technicians
    ]
    flagged(alice, "off_hours")
    assert passes == [MARCH]
    # Another scope is another pass.
    reviews.access_review(actor=alice, month=MARCH, client_slug="contoso-dental")
    assert passes == [MARCH, MARCH]


@pytest.mark.django_db
def test_a_month_not_yet_settled_is_passed_over_on_every_view(march, alice, passes):
    with time_machine.travel(MARCH.end_at + timedelta(minutes=30), tick=False):
        reviews.access_review(actor=alice, month=MARCH)
        reviews.access_review(actor=alice, month=MARCH)
    assert passes == [MARCH, MARCH]


@pytest.mark.django_db
def test_a_changed_time_zone_or_assignment_history_is_passed_over_again(
    review_settings, alice, bob, client_a, passes
):
    backdate_assignments()
    seed(at=utc(2026, 2, 2, 14), actor=bob, client=client_a, credential="a-1", ticket="T")
    evening = seed(at=utc(2026, 3, 3, 20), actor=bob, client=client_a, credential="a", ticket="T")
    Client.objects.filter(pk=client_a.pk).update(business_time_zone="America/New_York")
    assert evening.sequence not in flagged(alice, "off_hours")  # 16:00 in New York
    Client.objects.filter(pk=client_a.pk).update(business_time_zone="UTC")
    assert evening.sequence in flagged(alice, "off_hours")  # 20:00 in UTC
    assert evening.sequence not in flagged(alice, "unassigned")
    # An assignment edited outside the services (bob's grant now starts in April).
    Assignment.objects.filter(user=bob, client=client_a).update(granted_at=utc(2026, 4, 1))
    assert evening.sequence in flagged(alice, "unassigned")
    assert len(passes) == 3
