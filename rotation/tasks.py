"""Rotation beat jobs: ids only, one service call each, idempotent."""

from celery import shared_task

from rotation.services import tasks as task_services


@shared_task
def rotation_due_scan() -> int:
    """Open rotation tasks for credentials coming due and for the vault's marks (hourly)."""
    return task_services.rotation_due_scan(actor=None)


@shared_task
def rotation_reminders_send() -> int:
    """Remind owners of tasks due soon, once per task (hourly)."""
    return task_services.rotation_reminders_send(actor=None)


@shared_task
def rotation_escalate_overdue() -> int:
    """Alert the client's managers about overdue tasks, once per task (hourly)."""
    return task_services.rotation_escalate_overdue(actor=None)


# PSA


@shared_task
def psa_calls_send() -> int:
    """Send due PSA ticket calls, retrying failures with backoff (every minute)."""
    from rotation.services import psa as psa_services

    return psa_services.psa_calls_send()


# Automated rotation


@shared_task(acks_late=True)
def rotation_automated_run(task_id: str, actor_id: str | int | None = None) -> str:
    """Rotate (or resume rotating) one task's credential on its target; ids only, never secrets.

    `actor_id` None is the system (a task opened for a target that rotates automatically).
    Safe to redeliver: the service locks the task and resumes its unfinished attempt. A
    refused step is kept on the attempt, audited, and the task stays open for a retry, so it
    is the job's result rather than a worker error.
    """
    from config.errors import KeyholdError
    from rotation.services import automation

    try:
        attempt = automation.rotation_automated_run_by_id(task_id=task_id, actor_id=actor_id)
    except KeyholdError as error:
        return f"failed: {error.message}"
    return str(attempt.pk)
