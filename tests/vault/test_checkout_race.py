"""C56: two technicians race for the same credential; the database lets exactly one win.

Each thread has its own database connection. A barrier releases both requests at once; the
credential's row lock and the partial unique index on active leases leave one active lease,
and the loser gets "Held by … until …" with a denied event.
"""

import threading

import pytest
from django.db import connection

from accounts.models import Role
from audit.models import AuditEvent
from config.errors import AccessDenied
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.factories import UserFactory
from tests.vault.test_credentials import make_credential
from vault.models import Checkout
from vault.services.checkouts import checkout_check_in, checkout_request

ROUNDS = 100


def _race(credential, people, round_number):
    barrier = threading.Barrier(len(people))
    outcomes: dict[str, object] = {}

    def attempt(person):
        try:
            barrier.wait(timeout=10)
            outcomes[person.email] = checkout_request(
                actor=person,
                credential=credential,
                ticket=f"RACE-{round_number}",
                reason="Race test",
            )
        except AccessDenied as refusal:
            outcomes[person.email] = refusal
        except Exception as error:  # reported by the assertion below
            outcomes[person.email] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_technicians_racing_for_one_credential_leave_exactly_one_lease(client_a):
    manager = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_a, user=manager, level=AccessLevel.MANAGE)
    people = []
    for name in ("Rae One", "Ray Two"):
        person = UserFactory(full_name=name, roles=[Role.TECHNICIAN])
        assignment_grant(actor=None, client=client_a, user=person, level=AccessLevel.PRIVILEGED)
        people.append(person)
    credential = make_credential(client=client_a, actor=manager)

    for round_number in range(ROUNDS):
        outcomes = _race(credential, people, round_number)
        winners = [o for o in outcomes.values() if isinstance(o, Checkout)]
        losers = [o for o in outcomes.values() if isinstance(o, AccessDenied)]
        assert len(outcomes) == 2, outcomes
        assert len(winners) == 1, outcomes
        assert len(losers) == 1, outcomes
        winner = winners[0]
        assert f"Held by {winner.requested_by.full_name} until" in losers[0].message
        active = Checkout.objects.filter(credential=credential, status="active")
        assert list(active.values_list("pk", flat=True)) == [winner.pk]
        checkout_check_in(actor=winner.requested_by, checkout=winner)

    assert AuditEvent.objects.filter(action="credential.checked_out").count() == ROUNDS
    denied = AuditEvent.objects.filter(action="credential.checkout_requested", outcome="denied")
    assert denied.count() == ROUNDS
    assert all("Held by" in reason for reason in denied.values_list("reason", flat=True))
    assert not Checkout.objects.filter(status="active").exists()
