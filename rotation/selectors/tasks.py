"""Reads of rotation tasks, always scoped to the clients the actor may see (metadata only)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from config.errors import NotFound
from rotation.models import RotationTask
from tenants.models import AccessLevel, Client
from tenants.reach import client_reach_q


def _visible_tasks(actor: User, level: AccessLevel = AccessLevel.VIEW) -> QuerySet[RotationTask]:
    return RotationTask.objects.filter(client__in=Client.objects.for_user(actor, level))


def _with_related(tasks: QuerySet[RotationTask]) -> QuerySet[RotationTask]:
    return tasks.select_related("client", "credential", "owner").defer(
        "credential__secret", "credential__notes", "credential__totp_seed"
    )


@dataclass
class MyRotationTasks:
    mine: list[RotationTask]
    queue: list[RotationTask]
    done: list[RotationTask]


RECENT_DONE = 20


def rotation_task_list_mine(*, actor: User) -> MyRotationTasks:
    """The actor's open tasks, the managers' queue of clients they manage, and recent work."""
    open_tasks = _visible_tasks(actor).filter(status=RotationTask.Status.OPEN)
    mine = _with_related(open_tasks.filter(owner=actor)).order_by("due_at", "pk")
    queue = _with_related(
        _visible_tasks(actor, AccessLevel.MANAGE).filter(
            status=RotationTask.Status.OPEN, owner__isnull=True
        )
    ).order_by("due_at", "pk")
    done = _with_related(_visible_tasks(actor).filter(completed_by=actor)).order_by(
        "-completed_at"
    )[:RECENT_DONE]
    return MyRotationTasks(mine=list(mine), queue=list(queue), done=list(done))


def rotation_task_get_for_user(*, actor: User, task_id: uuid.UUID | str) -> RotationTask:
    """One task of a client the actor may see; NotFound when missing or not theirs.

    The actor's level on the client is set as `my_level`.
    """
    if not actor.is_authenticated or not actor.is_active:
        raise NotFound()
    task = (
        _with_related(
            RotationTask.objects.filter(
                client_reach_q("client"),
                pk=task_id,
                client__assignments__user=actor,
                client__assignments__revoked_at__isnull=True,
            )
        )
        .select_related("completed_by", "cancelled_by", "replaced_version", "credential__system")
        .prefetch_related("reasons__added_by")
        .annotate(my_level=F("client__assignments__level"))
        .first()
    )
    if task is None:
        raise NotFound()
    return task


def rotation_tasks_for_credential(*, actor: User, credential_id) -> QuerySet[RotationTask]:
    """A credential's tasks, newest first, among the clients the actor may see."""
    return _visible_tasks(actor).filter(credential_id=credential_id).order_by("-created_at")


@dataclass
class OverdueRotations:
    by_client: list[dict]
    by_owner: list[dict]
    tasks: list[RotationTask]


def rotation_overdue_for_manager(*, actor: User) -> OverdueRotations:
    """Overdue open tasks of the clients the actor manages: counts by client and by owner.

    Three queries whatever the number of tasks.
    """
    overdue = _visible_tasks(actor, AccessLevel.MANAGE).filter(
        status=RotationTask.Status.OPEN, due_at__lt=timezone.now()
    )
    by_client = list(
        overdue.order_by()
        .values("client_id", "client__name", "client__slug")
        .annotate(total=Count("pk"))
        .order_by("-total", "client__name")
    )
    by_owner = list(
        overdue.order_by()
        .values("owner_id", "owner__full_name", "owner__email")
        .annotate(total=Count("pk"))
        .order_by("-total", "owner__full_name")
    )
    tasks = list(_with_related(overdue).order_by("client__name", "due_at", "pk"))
    return OverdueRotations(by_client=by_client, by_owner=by_owner, tasks=tasks)


def rotation_task_list_for_user(
    *,
    actor: User,
    client_id: uuid.UUID | None = None,
    status: str = "",
    overdue: bool | None = None,
    due_before: datetime | None = None,
    mine: bool = False,
) -> QuerySet[RotationTask]:
    """Tasks of the clients the actor may see, filtered for the API; soonest due first.

    `overdue` True keeps open tasks past their due time, False every other task; `mine`
    keeps the actor's own. Reasons come in one extra query, whatever the page size.
    """
    tasks = _visible_tasks(actor)
    if client_id is not None:
        tasks = tasks.filter(client_id=client_id)
    if status:
        tasks = tasks.filter(status=status)
    late = Q(status=RotationTask.Status.OPEN, due_at__lt=timezone.now())
    if overdue is True:
        tasks = tasks.filter(late)
    elif overdue is False:
        tasks = tasks.exclude(late)
    if due_before is not None:
        tasks = tasks.filter(due_at__lt=due_before)
    if mine:
        tasks = tasks.filter(owner=actor)
    return (
        _with_related(tasks)
        .select_related("completed_by", "cancelled_by")
        .prefetch_related("reasons")
        .order_by("due_at", "pk")
    )
