"""Rotation tasks: request (or join) the open task of a credential, complete it with a new
secret, cancel it with a reason; the beat jobs' due scan, reminders and escalation.

Each action is one transaction whose audit event is its last write. Nothing here holds a
secret past the vault call that seals it; events carry ids and version numbers only.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Role, User
from accounts.services import alert_send, require_role
from audit.services import Attempt, Target, record, recording_failures
from config.bulk import bulk_insert
from config.errors import InvalidRequest, NotFound
from rotation.models import (
    PsaCall,
    PsaConnection,
    RotationReason,
    RotationTarget,
    RotationTask,
    RotationTaskReason,
)
from rotation.selectors.policies import effective_interval_days, rotation_policy_for
from rotation.services.policies import (
    rotation_next_due_fill_missing,
    rotation_next_due_recompute,
    rotation_password_generate,
)
from rotation.services.psa import _open_key, psa_call_enqueue
from tenants.models import AccessLevel, Assignment, Client
from tenants.selectors import client_get_for_user
from vault import generator
from vault.models import Credential, CredentialSecretVersion, PrivilegeTier, RotationRequiredReason

CANCEL_REASON_MAX = 500
DETAIL_MAX = 500
SCAN_ACTOR_LABEL = "rotation scheduler"
AUTOMATED_ACTOR_LABEL = "automated rotation"
# Vault marks and the reasons they become.
MARK_REASONS = {
    RotationRequiredReason.CHECKOUT_ENDED: RotationReason.CHECKOUT_ENDED,
    RotationRequiredReason.EMERGENCY_OPENED: RotationReason.EMERGENCY_OPENED,
}


@dataclass(frozen=True)
class GenerateOptions:
    """How to generate the new secret when the person ticks Generate.

    `length` and `symbols` None follow the client's rotation policy; a password always
    leaves out the characters the policy excludes.
    """

    passphrase: bool = False
    length: int | None = None
    symbols: bool | None = None
    words: int = 5


def _task_target(task: RotationTask, credential: Credential) -> Target:
    return Target(type="rotation.task", id=str(task.pk), label=credential.name[:254])


def _required_level(credential: Credential) -> AccessLevel:
    if credential.privilege_tier == PrivilegeTier.HIGH:
        return AccessLevel.PRIVILEGED
    return AccessLevel.USE


def _owner_for(*, client: Client, credential: Credential) -> User | None:
    """The client's primary technician while still assigned at the level the task needs."""
    if client.primary_technician_id is None:
        return None
    assigned = Assignment.objects.filter(
        client_id=client.pk,
        user_id=client.primary_technician_id,
        user__is_active=True,
        revoked_at__isnull=True,
        level__gte=_required_level(credential),
    ).exists()
    return client.primary_technician if assigned else None


def _open_task_locked(credential: Credential) -> RotationTask | None:
    return (
        RotationTask.objects.select_for_update()
        .filter(credential_id=credential.pk, status=RotationTask.Status.OPEN)
        .first()
    )


def _actor_fields(actor: User | None) -> dict:
    return {} if actor is not None else {"actor_label": SCAN_ACTOR_LABEL}


def _reason_choice(reason: str) -> str:
    if reason not in RotationReason.values:
        raise InvalidRequest(f"{reason!r} is not a known reason for a rotation.")
    return reason


def rotation_task_request(
    *,
    actor: User | None,
    credential: Credential,
    reason: str,
    due_at: datetime | None = None,
    detail: str = "",
) -> RotationTask:
    """Open a rotation task for the credential, or add the reason to its open one.

    A joining reason may only move the due time earlier. `actor` None is the scheduler;
    a person needs use level on the client. Safe under concurrent calls: the one open
    task per credential is a unique index, and the loser joins the winner's task.
    """
    task, _ = _task_request(
        actor=actor, credential=credential, reason=reason, due_at=due_at, detail=detail
    )
    return task


def _task_request(
    *,
    actor: User | None,
    credential: Credential,
    reason: str,
    due_at: datetime | None,
    detail: str,
) -> tuple[RotationTask, bool]:
    """rotation_task_request, also saying whether anything changed (a task or a reason)."""
    client = credential.client
    attempt = Attempt(
        actor=actor,
        action="rotation.task_created",
        client=client,
        target=Target(type="vault.credential", id=str(credential.pk), label=credential.name[:254]),
        details={"reason": str(reason)[:32]},
        **_actor_fields(actor),
    )
    with recording_failures(attempt):
        if actor is not None:
            client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.USE)
        _reason_choice(reason)
        detail = detail.strip()
        if len(detail) > DETAIL_MAX:
            raise InvalidRequest(f"The detail is at most {DETAIL_MAX} characters.")
        now = timezone.now()
        due_at = due_at or now
        with transaction.atomic():
            current = (
                Credential.objects.filter(pk=credential.pk, client_id=client.pk)
                .defer("secret", "notes", "totp_seed")
                .first()
            )
            if current is None:
                raise NotFound()
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is archived; it is no longer rotated.")
            task = _open_task_locked(current)
            if task is None:
                try:
                    with transaction.atomic():
                        task = RotationTask.objects.create(
                            id=uuid.uuid4(),
                            client=client,
                            credential=current,
                            due_at=due_at,
                            owner=_owner_for(client=client, credential=current),
                            created_at=now,
                        )
                        RotationTaskReason.objects.create(
                            task=task, reason=reason, detail=detail, added_at=now, added_by=actor
                        )
                except IntegrityError:
                    # Another request opened the task first: join it.
                    task = _open_task_locked(current)
                    if task is None:
                        raise
                else:
                    psa_call_enqueue(
                        task=task,
                        operation="open",
                        note=f"Rotate {current.name}: {RotationReason(reason).label}",
                    )
                    record(
                        actor=actor,
                        action="rotation.task_created",
                        client=client,
                        target=_task_target(task, current),
                        details={
                            "vault_item_id": str(current.pk),
                            "reason": str(reason),
                            "due_at": due_at.isoformat(),
                            "owner": str(task.owner_id or ""),
                        },
                        **_actor_fields(actor),
                    )
                    _automated_run_on_commit(task=task, credential=current)
                    return task, True
            return _task_join(
                actor=actor,
                task=task,
                credential=current,
                reason=reason,
                due_at=due_at,
                detail=detail,
                now=now,
            )


@dataclass(frozen=True)
class TaskRequest:
    """One credential of a bulk request, with the time its task is due."""

    credential: Credential
    due_at: datetime


def rotation_tasks_open_bulk(
    *,
    actor: User,
    client: Client,
    requests: Sequence[TaskRequest],
    reason: str,
    detail: str = "",
) -> list[RotationTask]:
    """Open the tasks of many credentials of one client at once (an import of thousands).

    The invariants of rotation_task_request: one open task per credential (one that already
    has one joins it, with its own event), the owner by the same rule, a PSA "open" call per
    new task, automated rotation started after commit. The new tasks are inserted in bulk
    and recorded as one rotation.tasks_created event listing them, in the caller's
    transaction or its own.
    """
    client_target = Target(type="tenants.client", id=str(client.pk), label=client.name[:254])
    attempt = Attempt(
        actor=actor,
        action="rotation.tasks_created",
        client=client,
        target=client_target,
        details={"reason": str(reason)[:32], "count": len(requests)},
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.USE)
        _reason_choice(reason)
        detail = detail.strip()
        if len(detail) > DETAIL_MAX:
            raise InvalidRequest(f"The detail is at most {DETAIL_MAX} characters.")
        due = {request.credential.pk: request.due_at for request in requests}
        now = timezone.now()
        with transaction.atomic():
            statuses = dict(
                Credential.objects.filter(pk__in=list(due), client_id=client.pk).values_list(
                    "pk", "status"
                )
            )
            if len(statuses) != len(due):
                raise NotFound()
            if Credential.Status.ARCHIVED in statuses.values():
                raise InvalidRequest("An archived credential is no longer rotated.")
            credentials = [request.credential for request in requests]
            open_tasks = {
                task.credential_id: task
                for task in RotationTask.objects.select_for_update().filter(
                    credential_id__in=list(due), status=RotationTask.Status.OPEN
                )
            }
            owners: dict[str, User | None] = {}
            created = []
            for credential in credentials:
                if credential.pk in open_tasks:
                    continue
                if credential.privilege_tier not in owners:
                    owners[credential.privilege_tier] = _owner_for(
                        client=client, credential=credential
                    )
                created.append(
                    RotationTask(
                        id=uuid.uuid4(),
                        client=client,
                        credential=credential,
                        due_at=due[credential.pk],
                        owner=owners[credential.privilege_tier],
                        created_at=now,
                    )
                )
            try:
                with transaction.atomic():
                    bulk_insert(RotationTask, created)
            except IntegrityError:
                # A concurrent request opened one of these tasks first: one at a time, joining.
                return [
                    rotation_task_request(
                        actor=actor,
                        credential=request.credential,
                        reason=reason,
                        due_at=request.due_at,
                        detail=detail,
                    )
                    for request in requests
                ]
            bulk_insert(
                RotationTaskReason,
                [
                    RotationTaskReason(
                        task=task, reason=reason, detail=detail, added_at=now, added_by=actor
                    )
                    for task in created
                ],
            )
            psa = PsaConnection.objects.filter(is_active=True).first()
            if psa is not None:
                label = RotationReason(reason).label
                PsaCall.objects.bulk_create(
                    [
                        PsaCall(
                            task=task,
                            connection=psa,
                            operation=PsaCall.Operation.OPEN,
                            idempotency_key=_open_key(task_id=task.id),
                            note=f"Rotate {task.credential.name}: {label}"[:1000],
                        )
                        for task in created
                    ],
                    batch_size=500,
                )
            automatic = set(
                RotationTarget.objects.filter(
                    credential_id__in=[task.credential_id for task in created],
                    rotate_automatically=True,
                ).values_list("credential_id", flat=True)
            )
            for task in created:
                if task.credential_id in automatic:
                    _automated_run_on_commit(task=task, credential=task.credential)
            joined = [
                _task_join(
                    actor=actor,
                    task=open_tasks[credential.pk],
                    credential=credential,
                    reason=reason,
                    due_at=due[credential.pk],
                    detail=detail,
                    now=now,
                )[0]
                for credential in credentials
                if credential.pk in open_tasks
            ]
            if created:
                record(
                    actor=actor,
                    action="rotation.tasks_created",
                    client=client,
                    target=client_target,
                    details={
                        "reason": str(reason),
                        "count": len(created),
                        "task_ids": [str(task.pk) for task in created],
                        "vault_item_ids": [str(task.credential_id) for task in created],
                        "due_at_earliest": min(task.due_at for task in created).isoformat(),
                        "due_at_latest": max(task.due_at for task in created).isoformat(),
                        "owners": {tier: str(o.pk) if o else "" for tier, o in owners.items()},
                    },
                )
    return created + joined


def _automated_run_on_commit(*, task: RotationTask, credential: Credential) -> None:
    """A new task of a credential whose target rotates automatically starts its rotation.

    The job runs as the system after this transaction commits, with the task's id only;
    its failure stays on the attempt and the task stays open for a retry.
    """
    automatic = RotationTarget.objects.filter(
        credential_id=credential.pk, rotate_automatically=True
    ).exists()
    if automatic:
        from rotation.tasks import rotation_automated_run

        task_id = str(task.pk)
        transaction.on_commit(lambda: rotation_automated_run.delay(task_id, None))


def _task_join(
    *,
    actor: User | None,
    task: RotationTask,
    credential: Credential,
    reason: str,
    due_at: datetime,
    detail: str,
    now: datetime,
) -> tuple[RotationTask, bool]:
    known = task.reasons.filter(reason=reason).exists()
    earlier = due_at < task.due_at
    if known and not earlier:
        return task, False
    previous_due = task.due_at
    if not known:
        RotationTaskReason.objects.create(
            task=task, reason=reason, detail=detail, added_at=now, added_by=actor
        )
    if earlier:
        task.due_at = due_at
        task.save(update_fields=["due_at"])
    psa_call_enqueue(
        task=task,
        operation="update",
        note=f"New reason: {RotationReason(reason).label}",
    )
    record(
        actor=actor,
        action="rotation.task_reason_added",
        client=task.client,
        target=_task_target(task, credential),
        details={
            "vault_item_id": str(credential.pk),
            "reason": str(reason),
            "new_reason": not known,
            "due_at_before": previous_due.isoformat(),
            "due_at": task.due_at.isoformat(),
        },
        **_actor_fields(actor),
    )
    return task, True


@sensitive_variables("new_secret", "secret")
def rotation_task_complete(
    *,
    actor: User | None,
    task: RotationTask,
    new_secret: str = "",
    generate: GenerateOptions | None = None,
) -> RotationTask:
    """Complete a task with a new secret, typed or generated; it becomes the current version.

    Use level on the client (privileged for high-privilege credentials); no checkout is
    needed to rotate. `actor` None is automated rotation, which verified the new secret on
    the target. The old secret stays as a version, the next due date follows the policy and
    the vault's "rotation required" mark is cleared.
    """
    from vault.services import credential_update

    credential = task.credential
    client = task.client
    automated = {} if actor is not None else {"actor_label": AUTOMATED_ACTOR_LABEL}
    attempt = Attempt(
        actor=actor,
        action="rotation.task_completed",
        client=client,
        target=_task_target(task, credential),
        details={"vault_item_id": str(credential.pk)},
        **automated,
    )
    with recording_failures(attempt):
        if actor is not None:
            client_get_for_user(actor=actor, slug=client.slug, level=_required_level(credential))
        if generate is not None:
            if generate.passphrase:
                secret = generator.passphrase_generate(words=generate.words)
            else:
                secret = rotation_password_generate(
                    client=client, length=generate.length, symbols=generate.symbols
                )
        else:
            secret = new_secret
        if not secret:
            raise InvalidRequest("Enter the new secret, or tick Generate to let Keyhold make one.")
        with transaction.atomic():
            current = (
                RotationTask.objects.select_for_update().filter(pk=task.pk, client=client).first()
            )
            if current is None:
                raise NotFound()
            if current.status != RotationTask.Status.OPEN:
                raise InvalidRequest(
                    f"This task is already {current.get_status_display().lower()}."
                )
            reasons = list(current.reasons.values_list("reason", flat=True))
            highest = _highest_version(credential)
            credential_update(
                actor=actor,
                credential=credential,
                secret=secret,
                reason=f"rotation: {', '.join(reasons)}",
                rotating=True,
            )
            replaced = (
                CredentialSecretVersion.objects.filter(credential_id=credential.pk)
                .order_by("-version")
                .first()
            )
            if replaced is None or replaced.version == highest:
                raise InvalidRequest(
                    "The new secret is the same as the current one. A rotation needs a new one."
                )
            now = timezone.now()
            current.status = RotationTask.Status.DONE
            current.completed_at = now
            current.completed_by = actor
            current.replaced_version = replaced
            current.save(
                update_fields=["status", "completed_at", "completed_by", "replaced_version"]
            )
            _rotated(credential=credential, client=client, now=now)
            by = AUTOMATED_ACTOR_LABEL if actor is None else actor.full_name or actor.email
            psa_call_enqueue(task=current, operation="close", note=f"Rotated by {by}")
            record(
                actor=actor,
                action="rotation.task_completed",
                client=client,
                target=_task_target(current, credential),
                details={
                    "vault_item_id": str(credential.pk),
                    "reasons": reasons,
                    "old_version_id": str(replaced.pk),
                    "old_version": replaced.version,
                    "new_version": replaced.version + 1,
                    "generated": generate is not None,
                },
                **automated,
            )
    return current


def _highest_version(credential: Credential) -> int:
    return (
        CredentialSecretVersion.objects.filter(credential_id=credential.pk).aggregate(
            highest=Max("version")
        )["highest"]
        or 0
    )


def _rotated(*, credential: Credential, client: Client, now: datetime) -> None:
    """After a new secret: rotated now, next due from the policy, the vault's mark cleared."""
    Credential.objects.filter(pk=credential.pk).update(last_rotated_at=now)
    Credential.objects.filter(pk=credential.pk, rotation_required_at__lte=now).update(
        rotation_required_at=None, rotation_required_reason=""
    )
    rotation_next_due_recompute(actor=None, client=client, credential_ids=[credential.pk])


def rotation_task_cancel(*, actor: User, task: RotationTask, reason: str) -> RotationTask:
    """Cancel an open task with a reason (managers of the client only).

    The vault's mark is cleared, and a scheduled rotation moves one interval on, so the
    next due scan does not open the same task again.
    """
    credential = task.credential
    client = task.client
    attempt = Attempt(
        actor=actor,
        action="rotation.task_cancelled",
        client=client,
        target=_task_target(task, credential),
        details={"vault_item_id": str(credential.pk)},
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        require_role(actor, Role.MANAGER, action="cancel rotation tasks")
        reason = reason.strip()
        if not reason:
            raise InvalidRequest("Say why this rotation is not needed.")
        if len(reason) > CANCEL_REASON_MAX:
            raise InvalidRequest(f"The reason is at most {CANCEL_REASON_MAX} characters.")
        with transaction.atomic():
            current = (
                RotationTask.objects.select_for_update().filter(pk=task.pk, client=client).first()
            )
            if current is None:
                raise NotFound()
            if current.status != RotationTask.Status.OPEN:
                raise InvalidRequest(
                    f"This task is already {current.get_status_display().lower()}."
                )
            now = timezone.now()
            current.status = RotationTask.Status.CANCELLED
            current.cancelled_at = now
            current.cancelled_by = actor
            current.cancel_reason = reason
            current.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason"])
            Credential.objects.filter(pk=credential.pk, rotation_required_at__lte=now).update(
                rotation_required_at=None, rotation_required_reason=""
            )
            postponed = _postpone(credential=credential, client=client, now=now)
            psa_call_enqueue(task=current, operation="close", note=f"Cancelled: {reason}")
            record(
                actor=actor,
                action="rotation.task_cancelled",
                client=client,
                target=_task_target(current, credential),
                reason=reason,
                details={
                    "vault_item_id": str(credential.pk),
                    "next_rotation_due": postponed.isoformat() if postponed else "",
                },
            )
    return current


def _postpone(*, credential: Credential, client: Client, now: datetime) -> datetime | None:
    row = Credential.objects.filter(pk=credential.pk).only(
        "privilege_tier", "rotation_interval_days", "next_rotation_due"
    )[0]
    days = effective_interval_days(
        policy=rotation_policy_for(actor=None, client=client),
        tier=row.privilege_tier,
        own_days=row.rotation_interval_days,
    )
    if days is None or row.next_rotation_due is None or row.next_rotation_due > now:
        return row.next_rotation_due
    due = now + timedelta(days=days)
    Credential.objects.filter(pk=credential.pk).update(next_rotation_due=due)
    return due


# --- Beat jobs -------------------------------------------------------------------------------


def _lead_time() -> timedelta:
    return timedelta(days=settings.ROTATION_TASK_LEAD_DAYS)


def rotation_due_scan(*, actor: User | None = None) -> int:
    """Open tasks for credentials due within the lead time and for the vault's marks.

    Idempotent and safe under concurrent runs; returns how many tasks were opened or joined.
    """
    rotation_next_due_fill_missing(actor=actor)
    now = timezone.now()
    open_tasks = RotationTask.objects.filter(status=RotationTask.Status.OPEN)
    due = (
        Credential.objects.filter(next_rotation_due__lte=now + _lead_time())
        .exclude(status=Credential.Status.ARCHIVED)
        .exclude(pk__in=open_tasks.values("credential_id"))
        .select_related("client", "client__primary_technician")
        .only(
            "id",
            "name",
            "client",
            "status",
            "privilege_tier",
            "next_rotation_due",
            "client__id",
            "client__name",
            "client__slug",
            "client__primary_technician",
        )
        .order_by("next_rotation_due", "pk")
    )
    touched = 0
    for credential in due:
        touched += _scan_request(
            credential=credential,
            reason=RotationReason.SCHEDULE,
            due_at=credential.next_rotation_due,
        )
    marked = (
        Credential.objects.filter(rotation_required_at__isnull=False)
        .exclude(status=Credential.Status.ARCHIVED)
        .select_related("client", "client__primary_technician")
        .defer("secret", "notes", "totp_seed")
        .order_by("rotation_required_at", "pk")
    )
    # One read of which marked credentials already have an open task for their reason,
    # rather than one query per marked credential.
    already_open = set(
        open_tasks.filter(credential__rotation_required_at__isnull=False).values_list(
            "credential_id", "reasons__reason"
        )
    )
    for credential in marked:
        reason = MARK_REASONS.get(credential.rotation_required_reason)
        if reason is None:
            continue
        if (credential.pk, reason) not in already_open:
            touched += _scan_request(
                credential=credential, reason=reason, due_at=credential.rotation_required_at
            )
    return touched


def _scan_request(*, credential: Credential, reason: str, due_at: datetime) -> int:
    try:
        _, changed = _task_request(
            actor=None, credential=credential, reason=reason, due_at=due_at, detail=""
        )
    except InvalidRequest:
        # The credential was archived since the scan read it.
        return 0
    return int(changed)


def _client_managers(client_id) -> list[User]:
    return list(
        User.objects.filter(
            is_active=True,
            groups__name=Role.MANAGER,
            assignments__client_id=client_id,
            assignments__revoked_at__isnull=True,
            assignments__level__gte=AccessLevel.MANAGE,
        ).distinct()
    )


def _task_link(task: RotationTask) -> str:
    return f"/rotation/tasks/{task.pk}/"


def rotation_reminders_send(*, actor: User | None = None) -> int:
    """Remind owners (or, for the managers' queue, the client's managers) once per task."""
    now = timezone.now()
    window = now + timedelta(days=settings.ROTATION_REMINDER_DAYS)
    candidates = list(
        RotationTask.objects.filter(
            status=RotationTask.Status.OPEN, reminded_at__isnull=True, due_at__lte=window
        ).values_list("pk", flat=True)
    )
    sent = 0
    for task_id in candidates:
        with transaction.atomic():
            claimed = RotationTask.objects.filter(
                pk=task_id, status=RotationTask.Status.OPEN, reminded_at__isnull=True
            ).update(reminded_at=now)
            if not claimed:
                continue
            task = RotationTask.objects.select_related("credential", "client", "owner").get(
                pk=task_id
            )
            recipients = [task.owner] if task.owner_id else _client_managers(task.client_id)
            subject = f"Rotation due: {task.credential.name} ({task.client.name})"
            alerted = alert_send(
                actor=actor,
                topic="rotation.reminder_sent",
                recipients=recipients,
                subject=subject,
                body=(
                    f"The credential {task.credential.name} of {task.client.name} is due for "
                    f"rotation on {task.due_at:%d %b %Y %H:%M} UTC."
                ),
                link=_task_link(task),
            )
            record(
                actor=actor,
                action="rotation.reminder_sent",
                client=task.client,
                target=_task_target(task, task.credential),
                details={
                    "vault_item_id": str(task.credential_id),
                    "owner": str(task.owner_id or ""),
                    "alerted": alerted,
                    "due_at": task.due_at.isoformat(),
                },
                **_actor_fields(actor),
            )
            sent += 1
    return sent


def rotation_escalate_overdue(*, actor: User | None = None) -> int:
    """Alert the client's managers once about each overdue task."""
    now = timezone.now()
    candidates = list(
        RotationTask.objects.filter(
            status=RotationTask.Status.OPEN, escalated_at__isnull=True, due_at__lt=now
        ).values_list("pk", flat=True)
    )
    escalated = 0
    for task_id in candidates:
        with transaction.atomic():
            claimed = RotationTask.objects.filter(
                Q(pk=task_id) & Q(status=RotationTask.Status.OPEN) & Q(escalated_at__isnull=True)
            ).update(escalated_at=now)
            if not claimed:
                continue
            task = RotationTask.objects.select_related("credential", "client", "owner").get(
                pk=task_id
            )
            owner = task.owner.full_name if task.owner_id else "the managers' queue"
            alerted = alert_send(
                actor=actor,
                topic="rotation.task_escalated",
                recipients=_client_managers(task.client_id),
                subject=f"Rotation overdue: {task.credential.name} ({task.client.name})",
                body=(
                    f"The rotation of {task.credential.name} of {task.client.name} was due on "
                    f"{task.due_at:%d %b %Y %H:%M} UTC and is not done. Owner: {owner}."
                ),
                link=_task_link(task),
            )
            record(
                actor=actor,
                action="rotation.task_escalated",
                client=task.client,
                target=_task_target(task, task.credential),
                details={
                    "vault_item_id": str(task.credential_id),
                    "owner": str(task.owner_id or ""),
                    "alerted": alerted,
                    "due_at": task.due_at.isoformat(),
                },
                **_actor_fields(actor),
            )
            escalated += 1
    return escalated


def rotation_staff_change(*, actor: User | None, client: Client, detail: str = "") -> int:
    """Open (or join) tasks for the client's high-privilege credentials after a staff change.

    Only when the client's policy asks for it (the default); returns how many tasks.
    """
    policy = rotation_policy_for(actor=actor, client=client)
    if not policy.rotate_high_privilege_on_staff_change:
        return 0
    credentials = (
        Credential.objects.filter(client_id=client.pk, privilege_tier=PrivilegeTier.HIGH)
        .exclude(status=Credential.Status.ARCHIVED)
        .select_related("client", "client__primary_technician")
        .defer("secret", "notes", "totp_seed")
    )
    count = 0
    for credential in credentials:
        rotation_task_request(
            actor=actor, credential=credential, reason=RotationReason.STAFF_CHANGE, detail=detail
        )
        count += 1
    return count
