"""Automated rotation: generate → seal as pending → change on the target → verify → promote.

The protocol never loses a secret (issue 5, item 5; ecosystem.md 4.1):
1. generate the new secret and seal it on a RotationAttempt in a committed transaction of
   its own BEFORE the target is touched;
2. apply it on the target with the privileged credential, then mark the attempt applied
   (committed);
3. verify it by a fresh login as the account, then mark it verified (committed);
4. promote it: complete the rotation task with it (rotation_task_complete), so it becomes
   the credential's current version and the old one is kept as a version.

Each step runs under the task row's lock (select_for_update), so one credential is rotated
by one worker at a time. A retry resumes the task's unpromoted attempt with its pending
secret (re-applying is idempotent; an attempt already applied is verified and promoted),
and never generates a second one: a crash anywhere leaves the old secret current and the
pending one recoverable. A failure marks the attempt failed with a readable reason and is
audited; events carry ids and step names, never values.
"""

import uuid

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from audit.models import Outcome
from audit.services import Attempt, Target, record, recording_failures
from config.errors import InvalidRequest, KeyholdError, NotFound
from rotation.connectors import ConnectorError, connector_for
from rotation.connectors.base import Endpoint
from rotation.models import (
    ROTATION_ATTEMPT_RECORD_TYPE,
    RotationAttempt,
    RotationTarget,
    RotationTask,
)
from rotation.services.policies import rotation_password_generate
from rotation.services.tasks import (
    AUTOMATED_ACTOR_LABEL,
    _required_level,
    rotation_task_complete,
)
from tenants.selectors import client_get_for_user
from vault.envelope import field_decrypt, field_encrypt
from vault.models import CREDENTIAL_RECORD_TYPE, Credential

ACTION = "rotation.automated_attempted"
PENDING_FIELD = "pending_secret"
ERROR_MAX = 500


def _actor_fields(actor: User | None) -> dict:
    return {} if actor is not None else {"actor_label": AUTOMATED_ACTOR_LABEL}


def _target_of(task: RotationTask) -> Target:
    return Target(type="rotation.task", id=str(task.pk), label=task.credential.name[:254])


def _locked_task(task: RotationTask) -> RotationTask:
    current = (
        RotationTask.objects.select_for_update()
        .filter(pk=task.pk, client_id=task.client_id)
        .first()
    )
    if current is None:
        raise NotFound()
    return current


def _locked_attempt(attempt: RotationAttempt) -> RotationAttempt:
    return RotationAttempt.objects.select_for_update().get(pk=attempt.pk)


def _endpoint(target: RotationTarget) -> Endpoint:
    return Endpoint(
        host=target.host,
        port=target.port,
        database=target.database,
        base_dn=target.base_dn,
        tls_mode=target.tls_mode,
        host_key=target.host_key,
    )


@sensitive_variables("secret")
def _pending_secret(attempt: RotationAttempt) -> str:
    return field_decrypt(
        client=attempt.client,
        record_type=ROTATION_ATTEMPT_RECORD_TYPE,
        record_id=str(attempt.pk),
        field=PENDING_FIELD,
        sealed=attempt.pending_secret,
    ).decode("utf-8")


def _current_secret(credential: Credential) -> str:
    row = Credential.objects.get(pk=credential.pk)
    return field_decrypt(
        client=row.client,
        record_type=CREDENTIAL_RECORD_TYPE,
        record_id=str(row.pk),
        field="secret",
        sealed=row.secret,
    ).decode("utf-8")


@sensitive_variables("secret")
def _attempt_claim(*, task: RotationTask, target: RotationTarget) -> tuple[RotationAttempt, bool]:
    """Step 1 (committed on its own): the task's unpromoted attempt, or a new sealed one."""
    with transaction.atomic():
        current = _locked_task(task)
        existing = (
            RotationAttempt.objects.select_for_update()
            .filter(task_id=current.pk)
            .exclude(status=RotationAttempt.Status.PROMOTED)
            .first()
        )
        if existing is not None:
            existing.runs += 1
            existing.save(update_fields=["runs"])
            return existing, True
        if current.status != RotationTask.Status.OPEN:
            raise InvalidRequest(f"This task is already {current.get_status_display().lower()}.")
        attempt_id = uuid.uuid4()
        secret = rotation_password_generate(client=current.client)
        sealed = field_encrypt(
            client=current.client,
            record_type=ROTATION_ATTEMPT_RECORD_TYPE,
            record_id=str(attempt_id),
            field=PENDING_FIELD,
            plaintext=secret.encode("utf-8"),
        )
        attempt = RotationAttempt.objects.create(
            id=attempt_id,
            client_id=current.client_id,
            task=current,
            target=target,
            connector=target.connector,
            pending_secret=sealed,
            runs=1,
        )
    return attempt, False


def _readable(error: Exception) -> str:
    if isinstance(error, KeyholdError):
        return str(error.message)[:ERROR_MAX]
    return (
        f"Keyhold stopped unexpectedly ({type(error).__name__}). The old secret is still "
        "current and the new one is kept on the attempt; retry the rotation."
    )[:ERROR_MAX]


@sensitive_variables("pending", "privileged_secret")
def rotation_automated_run(*, actor: User | None, task: RotationTask) -> RotationAttempt:
    """Rotate the task's credential on its target, or resume its unfinished attempt.

    A person needs the level the task needs on the client (privileged for high-privilege
    credentials); `actor` None is the system, when a task opens for a target that rotates
    automatically. Raises the step's error after recording it; the old secret stays current
    until the new one is verified on the target.
    """
    credential = task.credential
    client = task.client
    attempt_info = Attempt(
        actor=actor,
        action=ACTION,
        client=client,
        target=_target_of(task),
        details={"vault_item_id": str(credential.pk), "step": "start"},
        **_actor_fields(actor),
    )
    with recording_failures(attempt_info):
        if actor is not None:
            client_get_for_user(actor=actor, slug=client.slug, level=_required_level(credential))
        target = (
            RotationTarget.objects.select_related("privileged_credential")
            .filter(credential_id=credential.pk, client_id=client.pk)
            .first()
        )
        if target is None:
            raise InvalidRequest("This credential has no automated rotation target configured.")
        privileged = target.privileged_credential
        if privileged.client_id != client.pk:
            raise NotFound()
        attempt, resumed = _attempt_claim(task=task, target=target)

    connector = connector_for(target.connector)
    endpoint = _endpoint(target)
    step = "apply"
    try:
        pending = _pending_secret(attempt)
        if attempt.applied_at is None:
            with transaction.atomic():
                _locked_task(task)
                attempt = _locked_attempt(attempt)
                privileged_secret = _current_secret(privileged)
                connector.check(
                    endpoint,
                    privileged_username=privileged.username,
                    privileged_secret=privileged_secret,
                )
                connector.apply(
                    endpoint,
                    privileged_username=privileged.username,
                    privileged_secret=privileged_secret,
                    username=credential.username,
                    new_secret=pending,
                )
                attempt.status = RotationAttempt.Status.APPLIED
                attempt.applied_at = timezone.now()
                attempt.save(update_fields=["status", "applied_at"])
        step = "verify"
        with transaction.atomic():
            _locked_task(task)
            attempt = _locked_attempt(attempt)
            connector.verify(endpoint, username=credential.username, new_secret=pending)
            attempt.status = RotationAttempt.Status.VERIFIED
            attempt.verified_at = attempt.verified_at or timezone.now()
            attempt.save(update_fields=["status", "verified_at"])
        step = "promote"
        current = RotationTask.objects.get(pk=task.pk)
        if current.status == RotationTask.Status.OPEN:
            current = rotation_task_complete(actor=actor, task=current, new_secret=pending)
        elif _current_secret(credential) != pending:
            # Done meanwhile by other means: the target holds the pending secret, kept here.
            raise ConnectorError(
                "This task was completed by other means while the target already held the "
                "new secret; that secret is kept on this attempt. Set it as the credential's "
                "secret by hand."
            )
        with transaction.atomic():
            _locked_task(task)
            attempt = _locked_attempt(attempt)
            attempt.status = RotationAttempt.Status.PROMOTED
            attempt.promoted_at = timezone.now()
            attempt.save(update_fields=["status", "promoted_at"])
            record(
                actor=actor,
                action=ACTION,
                client=client,
                target=_target_of(current),
                details={
                    "vault_item_id": str(credential.pk),
                    "privileged_item_id": str(privileged.pk),
                    "attempt_id": str(attempt.pk),
                    "connector": target.connector,
                    "step": "promote",
                    "resumed": resumed,
                    "old_version_id": str(current.replaced_version_id or ""),
                },
                **_actor_fields(actor),
            )
    except Exception as error:
        reason = _readable(error)
        with transaction.atomic():
            failed = _locked_attempt(attempt)
            failed.status = RotationAttempt.Status.FAILED
            failed.failed_at = timezone.now()
            failed.failed_step = step
            failed.error = reason
            failed.save(update_fields=["status", "failed_at", "failed_step", "error"])
            record(
                actor=actor,
                action=ACTION,
                outcome=Outcome.ERROR,
                client=client,
                target=_target_of(task),
                reason=reason,
                details={
                    "vault_item_id": str(credential.pk),
                    "privileged_item_id": str(privileged.pk),
                    "attempt_id": str(attempt.pk),
                    "connector": target.connector,
                    "step": step,
                    "resumed": resumed,
                    "error": type(error).__name__,
                },
                **_actor_fields(actor),
            )
        raise
    return attempt


def rotation_automated_run_by_id(*, task_id: str, actor_id: str | int | None) -> RotationAttempt:
    """Load the task and the person (None: the system) for the Celery job, then run it."""
    task = RotationTask.objects.select_related("credential", "client").filter(pk=task_id).first()
    actor = None
    if actor_id is not None:
        actor = User.objects.filter(pk=actor_id, is_active=True).first()
        if actor is None:
            raise NotFound()
    if task is None:
        raise NotFound()
    return rotation_automated_run(actor=actor, task=task)
