"""Audit events placed in time and space, for the review tests and the review journey.

Events are written by audit.services.record, as services write them; time-machine puts
them at a moment, and the request context (what AuditContextMiddleware sets for a real
request) gives them an address.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import time_machine
from django.db import transaction

from audit.context import RequestContext, _current
from audit.models import AuditEvent
from audit.services import Target, record
from tenants.models import Assignment

CREDENTIAL_TYPE = "vault.credential"
KNOWN_IP = "203.0.113.5"
SINCE = datetime(2025, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@contextmanager
def request_from(ip: str | None) -> Iterator[None]:
    """What AuditContextMiddleware does for a request from `ip`."""
    token = _current.set(RequestContext(ip_address=ip, user_agent="pytest", request_id="seed"))
    try:
        yield
    finally:
        _current.reset(token)


def seed(
    *,
    at: datetime,
    actor,
    action: str = "credential.revealed",
    client=None,
    credential: str = "",
    ticket: str = "",
    ip: str | None = KNOWN_IP,
    outcome: str = "success",
    reason: str = "",
    actor_kind: str | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """One event at `at`, as the service behind `action` would have recorded it."""
    target = (
        Target(type=CREDENTIAL_TYPE, id=credential, label=f"Credential {credential}")
        if credential
        else None
    )
    with time_machine.travel(at, tick=False), request_from(ip), transaction.atomic():
        return record(
            actor=actor,
            action=action,
            client=client,
            target=target,
            ticket=ticket,
            outcome=outcome,
            reason=reason,
            actor_kind=actor_kind,
            actor_label=actor_label,
        )


def backdate_assignments() -> None:
    """Everyone assigned so far has been assigned since SINCE (long before the months seeded)."""
    Assignment.objects.update(granted_at=SINCE)
