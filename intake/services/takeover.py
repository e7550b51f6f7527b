"""The takeover checklist of a client taken over from a previous provider: its validation
steps, each with a written finding, marked done or reopened, each change audited.

Who: onboarding staff, managers and administrators with manage access to the client.
"Every inherited credential rotated" cannot be marked done while an inherited credential
of the client still waits for its rotation.
"""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import require_role
from audit.services import Attempt, Target, record, recording_failures
from config.errors import FieldInvalid, InvalidRequest, NotFound
from intake.models import TakeoverStep
from intake.selectors.takeover import takeover_inherited_waiting
from intake.services.intakes import INTAKE_ROLES
from tenants.models import AccessLevel, Client
from tenants.selectors import client_get_for_user

FINDING_MAX = 4000


def _takeover_client(actor: User, client: Client) -> Client:
    client = client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
    require_role(actor, *INTAKE_ROLES, action="work on a client's takeover checklist")
    return client


def _step_target(step: TakeoverStep) -> Target:
    return Target(
        type="intake.takeover_step",
        id=str(step.pk),
        label=TakeoverStep.Key(step.key).label[:254],
    )


def _step_locked(step: TakeoverStep, client: Client) -> TakeoverStep:
    current = TakeoverStep.objects.select_for_update().filter(pk=step.pk, client=client).first()
    if current is None:
        raise NotFound()
    return current


def _finding_clean(finding: str) -> str:
    finding = finding.replace("\r\n", "\n").strip()
    if len(finding) > FINDING_MAX:
        raise FieldInvalid("finding", f"A finding is at most {FINDING_MAX} characters.")
    return finding


def takeover_steps_ensure(*, actor: User, client: Client) -> list[TakeoverStep]:
    """The client's takeover steps in checklist order, creating the missing ones.

    Called on the first view of the checklist and by a previous-provider import.
    """
    attempt = Attempt(
        actor=actor,
        action="intake.takeover_started",
        client=client,
        target=Target(type="tenants.client", id=str(client.pk), label=client.name[:254]),
    )
    with recording_failures(attempt):
        client = _takeover_client(actor, client)
        with transaction.atomic():
            # The client row serialises two first views of the checklist.
            Client.objects.select_for_update().filter(pk=client.pk).first()
            existing = set(TakeoverStep.objects.filter(client=client).values_list("key", flat=True))
            missing = [key for key in TakeoverStep.Key.values if key not in existing]
            if missing:
                TakeoverStep.objects.bulk_create(
                    [TakeoverStep(client=client, key=key) for key in missing]
                )
                record(
                    actor=actor,
                    action="intake.takeover_started",
                    client=client,
                    target=attempt.target,
                    details={"steps": missing},
                )
        order = {key: index for index, key in enumerate(TakeoverStep.Key.values)}
        steps = TakeoverStep.objects.filter(client=client).select_related("completed_by")
        return sorted(steps, key=lambda step: order[step.key])


def takeover_finding_save(*, actor: User, step: TakeoverStep, finding: str) -> TakeoverStep:
    """Write down what was checked and found for a step, done or not."""
    attempt = Attempt(
        actor=actor,
        action="intake.takeover_finding_saved",
        client=step.client,
        target=_step_target(step),
    )
    with recording_failures(attempt):
        client = _takeover_client(actor, step.client)
        finding = _finding_clean(finding)
        with transaction.atomic():
            current = _step_locked(step, client)
            current.finding = finding
            current.save(update_fields=["finding"])
            record(
                actor=actor,
                action="intake.takeover_finding_saved",
                client=client,
                target=_step_target(current),
                details={"step": current.key, "length": len(finding)},
            )
    return current


def takeover_step_complete(
    *, actor: User, step: TakeoverStep, finding: str | None = None
) -> TakeoverStep:
    """Mark a step done with its finding; the inherited-rotation step only once none waits.

    `finding` None keeps the saved one. Every step but the inherited-rotation one (which
    Keyhold checks itself) needs a finding: what was checked and what was found.
    """
    attempt = Attempt(
        actor=actor,
        action="intake.takeover_step_completed",
        client=step.client,
        target=_step_target(step),
        details={"step": step.key},
    )
    with recording_failures(attempt):
        client = _takeover_client(actor, step.client)
        if finding is not None:
            finding = _finding_clean(finding)
        with transaction.atomic():
            current = _step_locked(step, client)
            if current.status == TakeoverStep.Status.DONE:
                raise InvalidRequest("This step is already done.")
            if finding is not None:
                current.finding = finding
            if current.key == TakeoverStep.Key.INHERITED_ROTATED:
                waiting = takeover_inherited_waiting(actor=actor, client=client)
                if waiting:
                    noun = "credential still waits" if waiting == 1 else "credentials still wait"
                    raise InvalidRequest(
                        f"{waiting} inherited {noun} for rotation at {client.name}: "
                        "complete their rotation tasks first."
                    )
            elif not current.finding:
                raise FieldInvalid(
                    "finding",
                    "Write what you checked and what you found, then mark the step done.",
                )
            current.status = TakeoverStep.Status.DONE
            current.completed_at = timezone.now()
            current.completed_by = actor
            current.save(update_fields=["finding", "status", "completed_at", "completed_by"])
            record(
                actor=actor,
                action="intake.takeover_step_completed",
                client=client,
                target=_step_target(current),
                details={"step": current.key},
            )
    return current


def takeover_step_reopen(*, actor: User, step: TakeoverStep) -> TakeoverStep:
    """Open a done step again (something new was found); its finding stays."""
    attempt = Attempt(
        actor=actor,
        action="intake.takeover_step_reopened",
        client=step.client,
        target=_step_target(step),
        details={"step": step.key},
    )
    with recording_failures(attempt):
        client = _takeover_client(actor, step.client)
        with transaction.atomic():
            current = _step_locked(step, client)
            if current.status != TakeoverStep.Status.DONE:
                raise InvalidRequest("This step is not done, so it cannot be reopened.")
            current.status = TakeoverStep.Status.OPEN
            current.completed_at = None
            current.completed_by = None
            current.save(update_fields=["status", "completed_at", "completed_by"])
            record(
                actor=actor,
                action="intake.takeover_step_reopened",
                client=client,
                target=_step_target(current),
                details={"step": current.key},
            )
    return current
