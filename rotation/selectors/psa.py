"""Reads of the PSA connection and its calls: administrators see them; a task's own calls go
to whoever may already see the task (the caller scoped it)."""

from accounts.models import Role, User
from accounts.services import require_role
from rotation.models import PsaCall, PsaConnection, RotationTask
from tenants.models import AccessLevel, Client

RECENT_CALLS = 50


def psa_connection_get_active(*, actor: User) -> PsaConnection | None:
    """The active PSA connection, for an administrator's settings page."""
    require_role(actor, Role.ADMINISTRATOR, action="see the PSA connection")
    return PsaConnection.objects.filter(is_active=True).first()


def psa_call_list_recent(*, actor: User, limit: int = RECENT_CALLS) -> list[PsaCall]:
    """The newest PSA calls of the clients the administrator is assigned to, with their state."""
    require_role(actor, Role.ADMINISTRATOR, action="see the PSA calls")
    return list(
        PsaCall.objects.filter(task__client__in=Client.objects.for_user(actor, AccessLevel.VIEW))
        .select_related("task__client", "task__credential", "connection")
        .defer("connection__sealed_secret")
        .order_by("-created_at")[:limit]
    )


def psa_call_list_for_task(*, actor: User, task: RotationTask) -> list[PsaCall]:
    """A task's PSA calls, oldest first; `task` comes from a selector scoped to `actor`."""
    return list(PsaCall.objects.filter(task=task).order_by("created_at"))
