"""Check C59: no sequence of checkout operations breaks the lease invariants.

Hypothesis drives requests, approvals (self-approval included), check-ins, revocations,
expiry, access changes, policy changes, the passing of time and reveals, in any order,
through the real services; after every step: at most one active lease, nobody approved their
own request, and a reveal succeeds exactly for the holder of a running lease who still has
privileged access, with one audit event per successful reveal.
"""

import contextlib
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from accounts.models import Role
from audit.models import AuditEvent
from config.errors import KeyholdError
from tenants.models import AccessLevel, Assignment
from tenants.services import assignment_grant
from tests.factories import ClientFactory, UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault import services
from vault.models import Checkout
from vault.services.checkouts import (
    checkout_approve,
    checkout_check_in,
    checkout_request,
    checkout_revoke,
    checkouts_expire,
    client_vault_policy_update,
)

PEOPLE = st.integers(min_value=0, max_value=2)  # two technicians and a manager


class CheckoutMachine(RuleBasedStateMachine):
    # Across all examples: the walk reached the interesting states, not only refusals.
    reached = {"revealed": 0, "refused": 0, "approved": 0}

    def __init__(self):
        super().__init__()
        self.clock = time_machine.travel(timezone.now(), tick=False)
        self.traveller = self.clock.start()
        self.client = ClientFactory()
        self.manager = UserFactory(roles=[Role.MANAGER])
        assignment_grant(
            actor=None, client=self.client, user=self.manager, level=AccessLevel.MANAGE
        )
        self.people = [UserFactory(roles=[Role.TECHNICIAN]) for _ in range(2)] + [self.manager]
        for person in self.people[:2]:
            assignment_grant(
                actor=None, client=self.client, user=person, level=AccessLevel.PRIVILEGED
            )
        self.credential = make_credential(client=self.client, actor=self.manager)

    def teardown(self):
        self.clock.stop()

    def _level(self, person) -> int:
        assignment = Assignment.objects.filter(
            client=self.client, user=person, revoked_at__isnull=True
        ).first()
        return assignment.level if assignment else 0

    def _running_lease(self) -> Checkout | None:
        return Checkout.objects.filter(
            credential=self.credential, status="active", expires_at__gt=timezone.now()
        ).first()

    @rule(person=PEOPLE, minutes=st.sampled_from([5, 30, 60, 600]))
    def request(self, person, minutes):
        with contextlib.suppress(KeyholdError):
            checkout_request(
                actor=self.people[person],
                credential=self.credential,
                ticket="T-59",
                reason="state machine",
                duration_minutes=minutes,
            )

    @rule(approver=PEOPLE)
    def approve_oldest_request(self, approver):
        pending = Checkout.objects.filter(credential=self.credential, status="requested").first()
        if pending is None:
            return
        with contextlib.suppress(KeyholdError):
            checkout_approve(actor=self.people[approver], checkout=pending)
            self.reached["approved"] += 1

    @rule()
    def manager_approves_oldest_request(self):
        self.approve_oldest_request(approver=2)

    @rule(person=PEOPLE)
    def check_in(self, person):
        lease = Checkout.objects.filter(credential=self.credential, status="active").first()
        if lease is not None:
            with contextlib.suppress(KeyholdError):
                checkout_check_in(actor=self.people[person], checkout=lease)

    @rule()
    def revoke(self):
        lease = Checkout.objects.filter(credential=self.credential, status="active").first()
        if lease is not None:
            checkout_revoke(actor=self.manager, checkout=lease, note="state machine")

    @rule(minutes=st.sampled_from([1, 20, 45, 120]))
    def time_passes(self, minutes):
        self.traveller.shift(timedelta(minutes=minutes))

    @rule()
    def expiry_job(self):
        checkouts_expire()

    @rule(person=st.integers(min_value=0, max_value=1), level=st.sampled_from([20, 30]))
    def access_changes(self, person, level):
        assignment_grant(
            actor=None, client=self.client, user=self.people[person], level=AccessLevel(level)
        )

    @rule(approval=st.booleans())
    def policy_changes(self, approval):
        client_vault_policy_update(
            actor=self.manager,
            client=self.client,
            reveal_ticket_required=False,
            checkout_approval_required=approval,
            checkout_default_minutes=60,
            checkout_max_minutes=600,
        )

    @initialize(approval=st.booleans())
    def starting_policy(self, approval):
        self.policy_changes(approval)

    @rule()
    def holder_reveals(self):
        lease = Checkout.objects.filter(credential=self.credential, status="active").first()
        if lease is not None:
            self.reveal([person.pk for person in self.people].index(lease.requested_by_id))

    @rule(person=PEOPLE)
    def reveal(self, person):
        actor = self.people[person]
        lease = self._running_lease()
        expected = (
            lease is not None
            and lease.requested_by_id == actor.pk
            and self._level(actor) >= AccessLevel.PRIVILEGED
        )
        successes = AuditEvent.objects.filter(action="credential.revealed", outcome="success")
        before = successes.count()
        try:
            secret = services.credential_reveal(
                actor=actor, credential=self.credential, ticket="T-59"
            )
        except KeyholdError:
            secret = None
        assert (secret == SECRET) is expected
        self.reached["revealed" if expected else "refused"] += 1
        assert successes.count() == before + (1 if expected else 0)

    @invariant()
    def at_most_one_active_lease(self):
        assert Checkout.objects.filter(credential=self.credential, status="active").count() <= 1

    @invariant()
    def nobody_approved_their_own_request(self):
        own = Checkout.objects.filter(credential=self.credential, decided_by=self.manager)
        assert not own.filter(requested_by=self.manager).exclude(status="cancelled").exists()


@pytest.mark.django_db
def test_no_sequence_of_operations_breaks_the_lease_invariants():
    run_state_machine_as_test(
        CheckoutMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            # The same walks on every run and database, so the reach check below is stable.
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,
        ),
    )
    assert all(count > 0 for count in CheckoutMachine.reached.values()), CheckoutMachine.reached
