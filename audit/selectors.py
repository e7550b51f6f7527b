"""Reads of single audit events and filtered lists of them, for the REST API.

Scope, as on the review pages and the export: managers and auditors read the events of the
clients they are assigned to, plus the events that belong to no client (sign-ins, tokens,
system jobs). A request limited to some clients (an API token limited to client A) reads
only those clients' events: no-client events are outside every client limit.
"""

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import Role, User
from accounts.services import require_role
from audit.models import AuditEvent
from config.errors import NotFound
from tenants.models import AccessLevel, Client
from tenants.reach import client_reach_limit

READER_ROLES = (Role.MANAGER, Role.AUDITOR)


def _readable_events(actor: User) -> QuerySet[AuditEvent]:
    require_role(actor, *READER_ROLES, action="read the audit log")
    visible = Q(client_id__in=Client.objects.for_user(actor, AccessLevel.VIEW).values("pk"))
    if client_reach_limit() is None:
        visible |= Q(client_id__isnull=True)
    return AuditEvent.objects.filter(visible)


def audit_event_list_for_user(
    *,
    actor: User,
    client_id: uuid.UUID | None = None,
    action: str = "",
    outcome: str = "",
    actor_email: str = "",
    target_type: str = "",
    target_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """The events the actor may read, newest first; filters only narrow (since ≤ t < until).

    AccessDenied unless the actor is a manager or an auditor.
    """
    events = _readable_events(actor)
    if client_id is not None:
        events = events.filter(client_id=client_id)
    if action:
        events = events.filter(action=action)
    if outcome:
        events = events.filter(outcome=outcome)
    if actor_email:
        # Events of people, and attempts made with their email before signing in.
        events = events.filter(actor_label__iexact=actor_email)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events.order_by("-sequence")


def audit_event_get_for_user(*, actor: User, sequence: int) -> AuditEvent:
    """One event the actor may read; NotFound when missing or outside their clients."""
    event = _readable_events(actor).filter(sequence=sequence).first()
    if event is None:
        raise NotFound()
    return event
