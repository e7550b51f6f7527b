"""Checkouts of high-privilege credentials: leases, approvals, ends, rotation, reveal, pages.

Actions covered here, each with exactly one event per operation:
credential.checkout_requested, credential.checked_out, credential.checkout_approved,
credential.checkout_denied, credential.checkout_cancelled, credential.checked_in,
credential.checkout_expired, credential.checkout_revoked.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.mfa import MFA_VERIFIED_AT
from accounts.models import Notification, OutboxMessage, Role
from audit.models import AuditEvent
from audit.services import AuditWriteError
from config.errors import AccessDenied, InvalidRequest, NotFound
from tenants.models import AccessLevel, Assignment
from tenants.services import assignment_grant, assignment_revoke
from tests.audit.helpers import break_audit_inserts
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault import services
from vault.models import Checkout, ClientVaultPolicy, Credential, CredentialType
from vault.services.checkouts import (
    checkout_approve,
    checkout_cancel,
    checkout_check_in,
    checkout_deny,
    checkout_request,
    checkout_revoke,
    checkouts_expire,
)


def events(action, outcome="success"):
    return AuditEvent.objects.filter(action=action, outcome=outcome)


@pytest.fixture
def pat(client_a):
    """Technician with privileged access to client A."""
    user = UserFactory(email="pat@msp.example", full_name="Pat Privileged", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.PRIVILEGED)
    return user


@pytest.fixture
def tess(client_a):
    """A second privileged technician of client A."""
    user = UserFactory(email="tess@msp.example", full_name="Tess Second", roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.PRIVILEGED)
    return user


@pytest.fixture
def mona(client_a):
    """A second manager of client A."""
    user = UserFactory(email="mona@msp.example", full_name="Mona Manager", roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.MANAGE)
    return user


@pytest.fixture
def domain_admin(client_a, alice):
    return make_credential(client=client_a, actor=alice)


@pytest.fixture
def approval_policy(client_a):
    return ClientVaultPolicy.objects.create(client=client_a, checkout_approval_required=True)


def request(actor, credential, **overrides):
    fields = {"ticket": "T-100", "reason": "Reset the DC trust", **overrides}
    return checkout_request(actor=actor, credential=credential, **fields)


def fresh(credential) -> Credential:
    return Credential.objects.get(pk=credential.pk)


# --- Requesting -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_privileged_technician_checks_out_at_once_with_one_event_each(pat, domain_admin):
    before = timezone.now()
    checkout = request(pat, domain_admin, ticket=" T-100 ")
    assert checkout.status == Checkout.Status.ACTIVE
    assert checkout.ticket == "T-100"
    assert checkout.duration_minutes == 60  # the default policy
    assert before <= checkout.starts_at <= timezone.now()
    assert checkout.expires_at == checkout.starts_at + timedelta(minutes=60)
    requested = events("credential.checkout_requested").get()
    started = events("credential.checked_out").get()
    assert (requested.actor_user_id, requested.ticket) == (pat.pk, "T-100")
    assert started.actor_user_id == pat.pk
    assert started.ticket == "T-100"
    assert started.details["checkout"] == str(checkout.pk)
    assert started.sequence > requested.sequence


@pytest.mark.django_db
def test_duration_is_capped_by_the_client_policy(pat, domain_admin, client_a):
    ClientVaultPolicy.objects.create(
        client=client_a, checkout_default_minutes=30, checkout_max_minutes=90
    )
    with pytest.raises(InvalidRequest, match="up to 90 minutes; you asked for 120"):
        request(pat, domain_admin, duration_minutes=120)
    assert not Checkout.objects.exists()
    assert request(pat, domain_admin).duration_minutes == 30


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ticket": "  "}, "Enter the ticket number"),
        ({"ticket": "T" * 65}, "at most 64"),
        ({"reason": " "}, "Say what you need"),
        ({"duration_minutes": 4}, "at least 5 minutes"),
    ],
)
def test_ticket_reason_and_duration_are_checked(pat, domain_admin, fields, message):
    with pytest.raises(InvalidRequest, match=message):
        request(pat, domain_admin, **fields)
    assert not Checkout.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="credential.check").exists()


@pytest.mark.django_db
def test_use_level_is_refused_and_audited(bob, domain_admin):
    with pytest.raises(AccessDenied, match="this needs privileged access"):
        request(bob, domain_admin)
    assert not Checkout.objects.exists()
    assert events("credential.checkout_requested", "denied").get().actor_user_id == bob.pk


@pytest.mark.django_db
def test_another_clients_technician_is_not_found_and_audited(charlie, domain_admin):
    with pytest.raises(NotFound):
        request(charlie, domain_admin)
    assert not Checkout.objects.exists()
    assert events("credential.checkout_requested", "denied").get().actor_user_id == charlie.pk


@pytest.mark.django_db
def test_only_live_high_privilege_credentials_are_checked_out(pat, alice, client_a):
    standard = make_credential(
        client=client_a, actor=alice, name="PC", credential_type=CredentialType.STANDARD_USER
    )
    with pytest.raises(InvalidRequest, match="reveal this one directly"):
        request(pat, standard)
    archived = make_credential(client=client_a, actor=alice, name="Old DA")
    services.credential_archive(actor=alice, credential=archived, reason="gone")
    with pytest.raises(InvalidRequest, match="archived"):
        request(pat, archived)
    sealed = make_credential(client=client_a, actor=alice, name="Break glass")
    Credential.objects.filter(pk=sealed.pk).update(is_emergency=True)
    with pytest.raises(InvalidRequest, match="emergency"):
        request(pat, fresh(sealed))
    assert not Checkout.objects.exists()


@pytest.mark.django_db
def test_a_held_credential_is_refused_with_holder_and_time(pat, tess, domain_admin):
    lease = request(pat, domain_admin)
    with pytest.raises(AccessDenied, match="Held by Pat Privileged until") as refusal:
        request(tess, domain_admin)
    assert lease.expires_at.strftime("%H:%M") in refusal.value.message
    assert Checkout.objects.filter(status="active").count() == 1
    denied = events("credential.checkout_requested", "denied").get()
    assert denied.actor_user_id == tess.pk
    assert "Held by Pat Privileged" in denied.reason
    assert events("credential.checked_out").count() == 1


@pytest.mark.django_db
def test_the_holder_asking_again_is_told_they_hold_it(pat, domain_admin):
    request(pat, domain_admin)
    with pytest.raises(AccessDenied, match="You already hold this credential"):
        request(pat, domain_admin)


# --- Approval ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_waits_and_notifies_the_clients_managers(
    pat, alice, mona, charlie, domain_admin, approval_policy
):
    checkout = request(pat, domain_admin, duration_minutes=45)
    assert checkout.status == Checkout.Status.REQUESTED
    assert checkout.starts_at is None
    assert set(Notification.objects.values_list("user__email", flat=True)) == {
        alice.email,
        mona.email,
    }
    mails = OutboxMessage.objects.filter(topic="credential.checkout_requested")
    assert sorted(mails.values_list("recipient", flat=True)) == [alice.email, mona.email]
    assert "T-100" in mails.first().body
    assert SECRET not in "".join(mails.values_list("body", flat=True))
    assert events("credential.checkout_requested").count() == 1
    assert not events("credential.checked_out").exists()
    with pytest.raises(InvalidRequest, match="already asked"):
        request(pat, domain_admin)


@pytest.mark.django_db
def test_a_manager_approves_and_the_lease_starts_for_the_requester(
    pat, mona, domain_admin, approval_policy
):
    checkout = request(pat, domain_admin, duration_minutes=45)
    approved = checkout_approve(actor=mona, checkout=checkout, note="Go ahead")
    assert approved.status == Checkout.Status.ACTIVE
    assert approved.decided_by == mona
    assert approved.expires_at - approved.starts_at == timedelta(minutes=45)
    event = events("credential.checkout_approved").get()
    assert (event.actor_user_id, event.reason) == (mona.pk, "Go ahead")
    started = events("credential.checked_out").get()
    assert started.actor_user_id == pat.pk
    assert started.details["approved_by"] == str(mona.pk)
    assert Notification.objects.filter(user=pat, message__contains="approved").exists()


@pytest.mark.django_db
def test_a_manager_cannot_approve_their_own_request(alice, mona, domain_admin, approval_policy):
    checkout = request(alice, domain_admin)
    with pytest.raises(AccessDenied, match="cannot approve your own"):
        checkout_approve(actor=alice, checkout=checkout)
    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.REQUESTED
    assert events("credential.checkout_approved", "denied").get().actor_user_id == alice.pk
    # Another manager may.
    checkout_approve(actor=mona, checkout=checkout)
    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.ACTIVE


@pytest.mark.django_db
def test_technicians_and_other_clients_managers_cannot_answer(
    pat, tess, domain_admin, approval_policy, client_b
):
    checkout = request(pat, domain_admin)
    with pytest.raises(AccessDenied, match="Only a manager"):
        checkout_approve(actor=tess, checkout=checkout)
    outsider = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_b, user=outsider, level=AccessLevel.MANAGE)
    with pytest.raises(NotFound):
        checkout_approve(actor=outsider, checkout=checkout)
    with pytest.raises(NotFound):
        checkout_deny(actor=outsider, checkout=checkout, note="no")
    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.REQUESTED
    assert events("credential.checkout_approved", "denied").count() == 2


@pytest.mark.django_db
def test_approval_is_refused_when_the_requester_lost_privileged_access(
    pat, alice, mona, domain_admin, approval_policy, client_a
):
    checkout = request(pat, domain_admin)
    assignment_revoke(
        actor=alice, assignment=Assignment.objects.get(user=pat, client=client_a, revoked_at=None)
    )
    with pytest.raises(InvalidRequest, match=r"no longer waiting \(cancelled\)"):
        checkout_approve(actor=mona, checkout=checkout)
    assert not Checkout.objects.filter(status="active").exists()


@pytest.mark.django_db
def test_approval_is_refused_while_someone_else_holds_it(
    pat, tess, mona, alice, domain_admin, approval_policy
):
    first = request(pat, domain_admin)
    second = request(tess, domain_admin)
    checkout_approve(actor=mona, checkout=first)
    with pytest.raises(InvalidRequest, match="Held by Pat Privileged"):
        checkout_approve(actor=alice, checkout=second)
    assert Checkout.objects.get(pk=second.pk).status == Checkout.Status.REQUESTED


@pytest.mark.django_db
def test_deny_needs_a_note_and_tells_the_requester(pat, mona, domain_admin, approval_policy):
    checkout = request(pat, domain_admin)
    with pytest.raises(InvalidRequest, match="Say why"):
        checkout_deny(actor=mona, checkout=checkout, note=" ")
    denied = checkout_deny(actor=mona, checkout=checkout, note="Use the break-glass account")
    assert denied.status == Checkout.Status.DENIED
    assert events("credential.checkout_denied").get().reason == "Use the break-glass account"
    assert Notification.objects.filter(user=pat, message__contains="break-glass").exists()
    with pytest.raises(InvalidRequest, match="no longer waiting"):
        checkout_approve(actor=mona, checkout=checkout)


@pytest.mark.django_db
def test_only_the_requester_cancels_a_pending_request(pat, tess, domain_admin, approval_policy):
    checkout = request(pat, domain_admin)
    with pytest.raises(AccessDenied, match="Only the person who asked"):
        checkout_cancel(actor=tess, checkout=checkout)
    cancelled = checkout_cancel(actor=pat, checkout=checkout)
    assert cancelled.status == Checkout.Status.CANCELLED
    assert events("credential.checkout_cancelled").get().actor_user_id == pat.pk
    assert events("credential.checkout_cancelled", "denied").get().actor_user_id == tess.pk
    with pytest.raises(InvalidRequest, match="no longer waiting"):
        checkout_cancel(actor=pat, checkout=checkout)


# --- Ends: check-in, revoke, expiry; each marks the credential for rotation -------------------


def assert_due_for_rotation(credential):
    row = fresh(credential)
    assert row.rotation_required_at is not None
    assert row.rotation_required_reason == "checkout_ended"


@pytest.mark.django_db
def test_check_in_by_the_holder_ends_the_lease_and_requires_rotation(
    pat, tess, alice, mona, domain_admin
):
    checkout = request(pat, domain_admin)
    assert fresh(domain_admin).rotation_required_at is None
    with pytest.raises(AccessDenied, match="Only the holder"):
        checkout_check_in(actor=tess, checkout=checkout)
    returned = checkout_check_in(actor=pat, checkout=checkout)
    assert returned.status == Checkout.Status.RETURNED
    assert returned.ended_by == pat
    assert_due_for_rotation(domain_admin)
    assert events("credential.checked_in").get().actor_user_id == pat.pk
    mails = OutboxMessage.objects.filter(topic="credential.checked_in")
    assert sorted(mails.values_list("recipient", flat=True)) == [alice.email, mona.email]
    assert "due for rotation" in mails.first().body
    with pytest.raises(InvalidRequest, match="not active"):
        checkout_check_in(actor=pat, checkout=checkout)
    # The next technician takes it at once.
    assert request(tess, domain_admin).status == Checkout.Status.ACTIVE


@pytest.mark.django_db
def test_a_manager_revokes_and_the_holder_is_told(pat, tess, mona, domain_admin):
    checkout = request(pat, domain_admin)
    with pytest.raises(AccessDenied, match="Only a manager"):
        checkout_revoke(actor=tess, checkout=checkout, note="mine now")
    with pytest.raises(InvalidRequest, match="Say why"):
        checkout_revoke(actor=mona, checkout=checkout, note="")
    revoked = checkout_revoke(actor=mona, checkout=checkout, note="Incident 77 is closed")
    assert revoked.status == Checkout.Status.REVOKED
    assert revoked.end_note == "Incident 77 is closed"
    assert_due_for_rotation(domain_admin)
    assert events("credential.checkout_revoked").get().actor_user_id == mona.pk
    assert Notification.objects.filter(user=pat, message__contains="Incident 77").exists()
    assert OutboxMessage.objects.filter(
        topic="credential.checkout_revoked", recipient=pat.email
    ).exists()


@pytest.mark.django_db
def test_an_expired_lease_refuses_reveal_before_the_job_runs(pat, domain_admin):
    checkout = request(pat, domain_admin)
    assert services.credential_reveal(actor=pat, credential=domain_admin, ticket="") == SECRET
    with time_machine.travel(checkout.expires_at + timedelta(seconds=1)):
        with pytest.raises(AccessDenied, match="holder of an active checkout"):
            services.credential_reveal(actor=pat, credential=domain_admin, ticket="")
        assert Checkout.objects.get(pk=checkout.pk).status == "active"  # the job has not run
        assert checkouts_expire() == 1
        assert checkouts_expire() == 0  # idempotent
    expired = Checkout.objects.get(pk=checkout.pk)
    assert expired.status == Checkout.Status.EXPIRED
    assert expired.ended_at == checkout.expires_at
    assert_due_for_rotation(domain_admin)
    event = events("credential.checkout_expired").get()
    assert event.actor_user_id is None
    assert event.details["checkout"] == str(checkout.pk)
    assert Notification.objects.filter(user=pat, message__contains="expired").exists()


@pytest.mark.django_db
def test_a_new_request_ends_an_overdue_lease_first(pat, tess, domain_admin):
    old = request(pat, domain_admin)
    with time_machine.travel(old.expires_at + timedelta(minutes=5)):
        new = request(tess, domain_admin)
    assert Checkout.objects.get(pk=old.pk).status == Checkout.Status.EXPIRED
    assert new.status == Checkout.Status.ACTIVE
    assert events("credential.checkout_expired").count() == 1
    assert_due_for_rotation(domain_admin)


@pytest.mark.django_db
def test_the_expiry_job_leaves_running_leases_alone(pat, domain_admin):
    request(pat, domain_admin)
    assert checkouts_expire() == 0
    assert Checkout.objects.get().status == Checkout.Status.ACTIVE
    assert fresh(domain_admin).rotation_required_at is None


@pytest.mark.django_db
def test_a_failing_audit_write_leaves_no_lease(pat, domain_admin):
    break_audit_inserts()
    with pytest.raises(AuditWriteError):
        request(pat, domain_admin)
    assert not Checkout.objects.exists()


# --- Reveal -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_the_holder_reveals_and_the_event_names_the_checkout(pat, tess, alice, domain_admin):
    with pytest.raises(AccessDenied, match="holder of an active checkout"):
        services.credential_reveal(actor=pat, credential=domain_admin, ticket="T-1")
    checkout = request(pat, domain_admin)
    assert services.credential_reveal(actor=pat, credential=domain_admin, ticket="") == SECRET
    revealed = events("credential.revealed").get()
    assert revealed.details["checkout"] == str(checkout.pk)
    assert revealed.ticket == "T-100"  # the lease's ticket when none is given
    for other in (tess, alice):
        with pytest.raises(AccessDenied):
            services.credential_reveal(actor=other, credential=domain_admin, ticket="T-1")
    assert events("credential.revealed", "denied").count() == 3
    checkout_check_in(actor=pat, checkout=checkout)
    with pytest.raises(AccessDenied):
        services.credential_reveal(actor=pat, credential=domain_admin, ticket="")


@pytest.mark.django_db
def test_a_holder_whose_access_was_lowered_cannot_reveal(pat, alice, domain_admin, client_a):
    request(pat, domain_admin)
    assignment_revoke(
        actor=alice, assignment=Assignment.objects.get(user=pat, client=client_a, revoked_at=None)
    )
    assignment_grant(actor=None, client=client_a, user=pat, level=AccessLevel.USE)
    with pytest.raises(AccessDenied, match="only to the holder of an active checkout"):
        services.credential_reveal(actor=pat, credential=domain_admin, ticket="")


@pytest.mark.django_db
def test_revoking_access_ends_the_lease_and_cancels_requests_in_the_same_change(
    pat, tess, alice, domain_admin, client_a
):
    lease = request(pat, domain_admin)
    other = make_credential(client=client_a, actor=alice, name="FW01 admin")
    ClientVaultPolicy.objects.create(client=client_a, checkout_approval_required=True)
    pending = request(pat, other)
    assert pending.status == Checkout.Status.REQUESTED

    assignment_revoke(
        actor=alice, assignment=Assignment.objects.get(user=pat, client=client_a, revoked_at=None)
    )

    lease.refresh_from_db()
    pending.refresh_from_db()
    assert (lease.status, lease.ended_by) == (Checkout.Status.REVOKED, alice)
    assert pending.status == Checkout.Status.CANCELLED
    assert fresh(domain_admin).rotation_required_reason == "checkout_ended"
    assert events("credential.checkout_revoked").get().details["holder"] == str(pat.pk)
    assert events("credential.checkout_cancelled").count() == 1
    assert events("assignment.revoked").count() == 1
    # The credential is free again for someone who still has privileged access.
    assert request(tess, domain_admin).status == Checkout.Status.REQUESTED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("new_level", "ends"),
    [(AccessLevel.USE, True), (AccessLevel.VIEW, True), (AccessLevel.MANAGE, False)],
)
def test_a_changed_level_ends_the_lease_only_below_privileged(
    pat, domain_admin, client_a, new_level, ends
):
    lease = request(pat, domain_admin)
    assignment_grant(actor=None, client=client_a, user=pat, level=new_level)
    lease.refresh_from_db()
    assert (lease.status == Checkout.Status.REVOKED) is ends
    assert (fresh(domain_admin).rotation_required_at is not None) is ends


@pytest.mark.django_db
def test_access_revoked_with_its_audit_event_failing_keeps_the_lease(
    pat, alice, domain_admin, client_a
):
    lease = request(pat, domain_admin)
    assignment = Assignment.objects.get(user=pat, client=client_a, revoked_at=None)
    break_audit_inserts()
    with pytest.raises(AuditWriteError):
        assignment_revoke(actor=alice, assignment=assignment)
    lease.refresh_from_db()
    assert lease.status == Checkout.Status.ACTIVE
    assert fresh(domain_admin).rotation_required_at is None


@pytest.mark.django_db
def test_a_new_secret_clears_the_rotation_mark_a_lease_end_left(pat, alice, domain_admin):
    checkout_check_in(actor=pat, checkout=request(pat, domain_admin))
    assert fresh(domain_admin).rotation_required_reason == "checkout_ended"
    services.credential_update(actor=alice, credential=domain_admin, name="Renamed")
    assert fresh(domain_admin).rotation_required_at is not None  # no new secret yet
    services.credential_update(actor=alice, credential=domain_admin, secret="Rotated-After-1")
    assert fresh(domain_admin).rotation_required_at is None
    assert fresh(domain_admin).rotation_required_reason == ""


@pytest.mark.django_db
def test_a_random_walk_never_reaches_two_active_leases(pat, tess, alice, mona, domain_admin):
    """C59, on a fixed seed: after any step there is at most one lease, and reveal agrees."""
    import random

    rng = random.Random(59)  # noqa: S311 - a reproducible walk, not a secret
    people = [pat, tess]
    now = timezone.now()
    with time_machine.travel(now, tick=False) as clock:
        for _ in range(60):
            step = rng.choice(["request", "check_in", "revoke", "expire", "wait", "policy"])
            person = rng.choice(people)
            try:
                if step == "request":
                    request(person, domain_admin, duration_minutes=rng.choice([5, 30]))
                elif step == "policy":
                    ClientVaultPolicy.objects.update_or_create(
                        client=domain_admin.client,
                        defaults={"checkout_approval_required": rng.random() < 0.3},
                    )
                elif step in ("check_in", "revoke"):
                    lease = Checkout.objects.filter(status="active").first()
                    pending = Checkout.objects.filter(status="requested").first()
                    if lease and step == "check_in":
                        checkout_check_in(actor=lease.requested_by, checkout=lease)
                    elif lease:
                        checkout_revoke(actor=mona, checkout=lease, note="walk")
                    elif pending:
                        checkout_approve(actor=alice, checkout=pending)
                elif step == "expire":
                    checkouts_expire()
                else:
                    clock.shift(timedelta(minutes=rng.choice([1, 10, 40])))
            except (AccessDenied, InvalidRequest):
                pass
            active = list(Checkout.objects.filter(status="active"))
            assert len(active) <= 1
            live = [c for c in active if c.expires_at > timezone.now()]
            for person in people:
                holds = any(c.requested_by_id == person.pk for c in live)
                try:
                    services.credential_reveal(actor=person, credential=domain_admin, ticket="W")
                    revealed = True
                except AccessDenied:
                    revealed = False
                assert revealed == holds
    # The walk went through every kind of end, and reveals both succeeded and were refused.
    ended = set(Checkout.objects.values_list("status", flat=True))
    assert {"returned", "expired", "revoked"} <= ended
    assert_due_for_rotation(domain_admin)
    assert events("credential.revealed").exists()
    assert events("credential.revealed", "denied").exists()


# --- Pages ------------------------------------------------------------------------------------


def detail_url(credential):
    return f"/clients/{credential.client.slug}/credentials/{credential.pk}/"


def reveal_url(credential):
    return f"{detail_url(credential)}reveal/"


@pytest.mark.django_db
def test_detail_page_offers_the_checkout_form_to_privileged_staff(client, pat, domain_admin):
    sign_in(client, pat)
    html = client.get(detail_url(domain_admin)).content.decode()
    assert "data-checkout-panel" in html
    assert f'action="{detail_url(domain_admin)}checkout/"' in html
    assert ">Check out</button>" in html
    assert 'name="ticket"' in html
    assert "hx-post" not in html
    assert SECRET not in html


@pytest.mark.django_db
def test_use_level_sees_why_there_is_no_checkout(client, bob, domain_admin):
    sign_in(client, bob)
    html = client.get(detail_url(domain_admin)).content.decode()
    assert "Opened through a checkout" in html
    assert "ask a manager for privileged access" in html
    assert "/checkout/" not in html


@pytest.mark.django_db
def test_posting_the_form_checks_out_and_the_holder_sees_reveal_and_check_in(
    client, pat, domain_admin
):
    sign_in(client, pat)
    response = client.post(
        f"{detail_url(domain_admin)}checkout/",
        {"ticket": "INC-9", "reason": "Patch DC01", "duration_minutes": "30"},
    )
    assert response.status_code == 302
    checkout = Checkout.objects.get()
    assert (checkout.status, checkout.ticket, checkout.duration_minutes) == ("active", "INC-9", 30)
    html = client.get(detail_url(domain_admin)).content.decode()
    assert "Checked out</span> by <strong>you</strong>" in html
    assert f'hx-post="{reveal_url(domain_admin)}"' in html
    assert f'action="/checkouts/{checkout.pk}/check-in/"' in html
    assert SECRET not in html
    response = client.post(reveal_url(domain_admin), {"purpose": "reveal"})
    assert response.status_code == 200
    assert SECRET in response.content.decode()
    assert client.post(f"/checkouts/{checkout.pk}/check-in/").status_code == 302
    assert Checkout.objects.get().status == "returned"
    assert_due_for_rotation(domain_admin)


@pytest.mark.django_db
def test_the_next_technician_sees_that_rotation_is_due(client, pat, tess, domain_admin):
    checkout_check_in(actor=pat, checkout=request(pat, domain_admin))
    sign_in(client, tess)
    html = client.get(detail_url(domain_admin)).content.decode()
    assert "Rotation due</span> Checkout ended on" in html


@pytest.mark.django_db
def test_a_refused_request_keeps_what_was_typed(client, pat, domain_admin, client_a):
    ClientVaultPolicy.objects.create(client=client_a, checkout_max_minutes=60)
    sign_in(client, pat)
    response = client.post(
        f"{detail_url(domain_admin)}checkout/",
        {"ticket": "INC-42", "reason": "Long job", "duration_minutes": "600"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "allows checkouts of up to 60 minutes" in html
    assert 'value="INC-42"' in html
    assert "Long job" in html
    assert not Checkout.objects.exists()


@pytest.mark.django_db
def test_high_privilege_reveal_needs_recent_mfa(client, pat, domain_admin, settings):
    request(pat, domain_admin)
    sign_in(client, pat)
    session = client.session
    session[MFA_VERIFIED_AT] = (
        timezone.now() - timedelta(minutes=settings.MFA_STEP_UP_MINUTES + 1)
    ).timestamp()
    session.save()
    response = client.post(reveal_url(domain_admin), {"purpose": "reveal"})
    assert response.status_code == 403
    html = response.content.decode()
    assert SECRET not in html
    assert "data-step-up" in html
    assert "/mfa/?next=" in html
    assert "step_up=1" in html
    assert "no-store" in response["Cache-Control"]
    assert not events("credential.revealed").exists()


@pytest.mark.django_db
def test_standard_reveal_does_not_ask_for_step_up(client, bob, client_a, alice, settings):
    credential = make_credential(
        client=client_a, actor=alice, name="PC", credential_type=CredentialType.STANDARD_USER
    )
    sign_in(client, bob)
    session = client.session
    session[MFA_VERIFIED_AT] = (timezone.now() - timedelta(hours=2)).timestamp()
    session.save()
    response = client.post(reveal_url(credential), {"purpose": "reveal"})
    assert response.status_code == 200
    assert SECRET in response.content.decode()


@pytest.mark.django_db
def test_manager_approves_from_the_queue_and_cannot_approve_their_own(
    client, pat, alice, mona, domain_admin, approval_policy
):
    theirs = request(pat, domain_admin)
    sign_in(client, alice)
    html = client.get("/checkouts/approvals/").content.decode()
    assert "Pat Privileged" in html
    assert f'action="/checkouts/{theirs.pk}/approve/"' in html
    response = client.post(f"/checkouts/{theirs.pk}/approve/", {"note": "ok", "next": "approvals"})
    assert response["Location"] == "/checkouts/approvals/"
    assert Checkout.objects.get(pk=theirs.pk).status == "active"
    checkout_check_in(actor=pat, checkout=Checkout.objects.get(pk=theirs.pk))
    own = request(alice, domain_admin)
    html = client.get("/checkouts/approvals/").content.decode()
    assert "Your own request: another manager answers it." in html
    assert f'action="/checkouts/{own.pk}/approve/"' not in html
    client.post(f"/checkouts/{own.pk}/approve/", {"note": ""})
    assert Checkout.objects.get(pk=own.pk).status == "requested"
    assert "cannot approve your own" in client.get("/checkouts/approvals/").content.decode()


@pytest.mark.django_db
def test_the_queue_is_for_managers(client, pat, alice):
    sign_in(client, pat)
    response = client.get("/checkouts/approvals/")
    assert response.status_code == 403
    assert "for managers" in response.content.decode()
    home = client.get("/checkouts/").content.decode()
    assert 'href="/checkouts/" aria-current="page">Checkouts</a>' in home
    assert 'href="/checkouts/approvals/"' not in home
    sign_in(client, alice)
    assert 'href="/checkouts/approvals/"' in client.get("/checkouts/").content.decode()


@pytest.mark.django_db
def test_another_clients_staff_get_404_on_every_checkout_address(
    client, pat, charlie, domain_admin, approval_policy, client_b
):
    checkout = request(pat, domain_admin)
    sign_in(client, charlie)
    assert client.get(f"{detail_url(domain_admin)}checkout/").status_code == 404
    for action in ("cancel", "check-in", "approve", "deny", "revoke"):
        response = client.post(f"/checkouts/{checkout.pk}/{action}/", {"note": "x"})
        assert response.status_code == 404, action
        assert domain_admin.client.name not in response.content.decode()
    assert Checkout.objects.get(pk=checkout.pk).status == "requested"
    outsider = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_b, user=outsider, level=AccessLevel.MANAGE)
    sign_in(client, outsider)
    html = client.get("/checkouts/approvals/").content.decode()
    assert domain_admin.name not in html
    assert client.post(f"/checkouts/{checkout.pk}/approve/").status_code == 404


def _many_checkouts(client_a, alice, people, count):
    for index in range(count):
        credential = make_credential(client=client_a, actor=alice, name=f"DA {index}")
        person = people[index % len(people)]
        if index % 3 == 0:
            ClientVaultPolicy.objects.update_or_create(
                client=client_a, defaults={"checkout_approval_required": True}
            )
        else:
            ClientVaultPolicy.objects.filter(client=client_a).delete()
        checkout = request(person, credential)
        if index % 3 == 1:
            checkout_check_in(actor=person, checkout=checkout)


@pytest.mark.django_db
def test_lists_issue_a_constant_number_of_queries(
    client, pat, tess, alice, mona, client_a, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(path):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    paths = ["/checkouts/", "/checkouts/approvals/"]
    _many_checkouts(client_a, alice, [pat], 1)
    sign_in(client, pat)
    mine_one = count(paths[0])
    sign_in(client, mona)
    queue_one = count(paths[1])
    _many_checkouts(client_a, alice, [pat, tess], 12)
    sign_in(client, pat)
    with django_assert_num_queries(mine_one):
        html = client.get(paths[0]).content.decode()
    assert html.count("Check in</button>") >= 2
    sign_in(client, mona)
    with django_assert_num_queries(queue_one):
        html = client.get(paths[1]).content.decode()
    assert html.count(">Approve</button>") >= 4
    assert html.count(">Revoke</button>") >= 4


@pytest.mark.django_db
def test_detail_page_of_a_held_credential_costs_two_more_queries_than_a_standard_one(
    client, pat, alice, client_a, domain_admin, django_assert_max_num_queries
):
    request(pat, domain_admin)
    sign_in(client, alice)
    with django_assert_max_num_queries(14):
        html = client.get(detail_url(domain_admin)).content.decode()
    assert "Checked out</span> by <strong>Pat Privileged</strong>" in html
    assert ">Revoke checkout</button>" in html


@pytest.mark.django_db
def test_the_request_page_is_for_privileged_staff(client, pat, bob, domain_admin):
    sign_in(client, pat)
    html = client.get(f"{detail_url(domain_admin)}checkout/").content.decode()
    assert "Check out DC01 domain admin" in html
    assert "up to 480 minutes" in html
    sign_in(client, bob)
    response = client.get(f"{detail_url(domain_admin)}checkout/")
    assert response.status_code == 403
    assert "this needs privileged access" in response.content.decode()


@pytest.mark.django_db
def test_deny_and_cancel_from_the_pages(client, pat, tess, mona, domain_admin, approval_policy):
    first = request(pat, domain_admin)
    second = request(tess, domain_admin)
    sign_in(client, mona)
    response = client.post(f"/checkouts/{first.pk}/deny/", {"note": "", "next": "approvals"})
    assert Checkout.objects.get(pk=first.pk).status == "requested"
    assert "Say why" in client.get(response["Location"]).content.decode()
    client.post(f"/checkouts/{first.pk}/deny/", {"note": "Not this week"})
    assert Checkout.objects.get(pk=first.pk).status == "denied"
    sign_in(client, tess)
    response = client.post(f"/checkouts/{second.pk}/cancel/", {"next": "mine"})
    assert response["Location"] == "/checkouts/"
    assert Checkout.objects.get(pk=second.pk).status == "cancelled"
    html = client.get("/checkouts/").content.decode()
    assert "Cancelled" in html
