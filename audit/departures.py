"""What the reviews know of offboarding: open cases, and when each departed person left.

The audit app never imports offboarding (offboarding uses audit, not the reverse):
offboarding registers an OffboardingSource with offboarding_source_register() when its app
is ready, as the vault registers its credential inventory. Without one there are no cases
and no departures, and the checks built on them find nothing.

"Access after departure" is read from the log itself: successful sign-ins, MFA passes,
credential openings and share links by a departed person after their departure was
confirmed. Each departure is one (actor_user, occurred_at) range, which the log's index on
those two columns answers, so the query stays one query however long the log grows.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.db.models import Q

from accounts.models import User
from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.models import Outcome

DEPARTED_ACCESS = "departed_access"
OPEN_CASES = "offboarding_open"
# An offboarding case should close within weeks; the hygiene audit flags older ones.
OPEN_CASE_DAYS = 30
DEPARTED_ACCESS_ACTIONS = frozenset(
    CREDENTIAL_ACCESS_ACTIONS | {"staff.signed_in", "mfa.verified", "share_link.created"}
)


@dataclass(frozen=True)
class OpenCase:
    """An offboarding case still waiting for confirmation or still open."""

    id: uuid.UUID
    kind_label: str
    name: str
    client_name: str
    status_label: str
    opened_at: datetime
    url: str


@dataclass(frozen=True)
class Departure:
    """A confirmed technician departure: who, and from when any access of theirs is a finding."""

    user_id: uuid.UUID
    name: str
    confirmed_at: datetime
    url: str


@dataclass(frozen=True)
class OffboardingState:
    open_cases: list[OpenCase]
    departures: list[Departure]


class OffboardingSource(Protocol):
    """What the reviews ask offboarding, in one query.

    Open cases are those the viewer may see (a client's exit needs view access to the
    client, or the auditor or administrator role); departures are every confirmed one, as a
    departed person's events are scoped by the review itself. `client_id` narrows the client
    exits to one client when the review is narrowed to it.
    """

    def review_state(self, *, actor: User, client_id: uuid.UUID | None) -> OffboardingState:
        """Open cases the viewer may see, and every confirmed departure."""
        ...


class NoOffboarding:
    """The source when none is registered: no cases, no departures."""

    def review_state(self, *, actor: User, client_id: uuid.UUID | None) -> OffboardingState:
        return OffboardingState(open_cases=[], departures=[])


_registered_source: OffboardingSource | None = None


def offboarding_source_register(source: OffboardingSource | None) -> None:
    """Make `source` the one the reviews ask (offboarding's, from its AppConfig.ready)."""
    global _registered_source
    _registered_source = source


def offboarding_state(*, actor: User, client_id: uuid.UUID | None = None) -> OffboardingState:
    """The registered source's answer, or nothing when offboarding is not installed."""
    source = _registered_source if _registered_source is not None else NoOffboarding()
    return source.review_state(actor=actor, client_id=client_id)


def departed_access_q(departures: list[Departure]) -> Q:
    """Events that are access by a departed person after their departure was confirmed.

    A person who departed more than once is judged from their first departure, so access
    after a rehire shows up for the reviewer to mark as expected.
    """
    first: dict[uuid.UUID, datetime] = {}
    for each in departures:
        if each.user_id not in first or each.confirmed_at < first[each.user_id]:
            first[each.user_id] = each.confirmed_at
    after = Q(pk__in=[])
    for user_id, confirmed_at in first.items():
        after |= Q(actor_user_id=user_id, occurred_at__gt=confirmed_at)
    return after & Q(action__in=sorted(DEPARTED_ACCESS_ACTIONS), outcome=Outcome.SUCCESS)
