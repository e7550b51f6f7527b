"""PSA tickets: the connection's settings, the queue of calls, and the PSA's callbacks.

`psa_call_enqueue` is called by the rotation task services inside their own transaction;
it writes a PsaCall (no audit event of its own: it is part of the caller's audited action).
`psa_calls_send` (beat, every minute) sends due calls in order per task, retrying failures
with backoff; a PSA outage delays tickets, never blocks or loses a task. The connection's
secrets are sealed with the system key, bound to the connection's row, and opened only to
build the adapter that makes the call.
"""

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Role, User
from accounts.services import alert_send, require_role
from audit.models import ActorKind, Outcome
from audit.services import Attempt, Target, record, recording_failures
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, KeyholdError
from rotation.models import PsaCall, PsaConnection, RotationTask
from rotation.psa import ADAPTERS, PsaAdapter, PsaError, adapter_for, ticket_summary
from vault.system_keys import system_open, system_seal

logger = logging.getLogger(__name__)

OPERATIONS = tuple(PsaCall.Operation.values)
SEAL_PURPOSE = "keyhold/psa-secret"
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)
ADMIN_NOTICE_AFTER = 5
SEND_BATCH = 50
CALLBACK_ACTOR = "PSA callback"
_OPERATION_ORDER = {"open": 0, "update": 1, "close": 2}
_DONE_ACTIONS = {
    "open": "psa.ticket_opened",
    "update": "psa.ticket_updated",
    "close": "psa.ticket_closed",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PSA_SETTINGS_PATH = "/rotation/psa/"


class PsaUnavailable(KeyholdError):
    """The PSA could not be asked to confirm a callback; it may retry later."""

    status = 503
    template = "errors/400.html"


def _open_key(*, task_id) -> str:
    """The idempotency key of a task's ticket; its marker appears in the ticket's summary."""
    return f"keyhold-task-{task_id}"


def _associated_data(connection_id) -> bytes:
    return f"rotation.psaconnection|{connection_id}".encode()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- Queueing (inside the task's transaction) ---------------------------------------------


def psa_call_enqueue(*, task: RotationTask, operation: str, note: str = "") -> PsaCall | None:
    """Queue one PSA call for `task` in the caller's transaction; None without an active PSA.

    `operation` is "open", "update" or "close". The call is sent later by psa_calls_send,
    so a PSA outage never blocks the task. The idempotency key is stable: "open" is
    keyhold-task-<task id> (one ticket per task); later calls are numbered per task.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"Unknown PSA operation {operation!r}.")
    connection = PsaConnection.objects.filter(is_active=True).first()
    if connection is None:
        return None
    if operation == PsaCall.Operation.OPEN:
        key = _open_key(task_id=task.id)
        existing = PsaCall.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
    else:
        n = PsaCall.objects.filter(Q(task=task) & Q(operation=operation)).count() + 1
        key = f"{task.id}:{operation}:{n}"
    return PsaCall.objects.create(
        task=task,
        connection=connection,
        operation=operation,
        idempotency_key=key,
        note=note[:1000],
    )


# --- The connection ------------------------------------------------------------------------


@dataclass(frozen=True)
class PsaConnectionSaved:
    connection: PsaConnection
    # The callback address's token: only when the connection was created (shown once).
    callback_token: str


def _clean_base_url(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldInvalid("base_url", "The PSA address must start with https:// and name a host.")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise FieldInvalid(
            "base_url", "The PSA address must use https:// (plain http only on loopback)."
        )
    if parts.username or parts.password:
        raise FieldInvalid(
            "base_url", "Put the PSA's keys in the secret fields, not in the address."
        )
    return base_url


def _clean_settings(adapter_class: type[PsaAdapter], settings: dict) -> dict:
    cleaned = {}
    for field in adapter_class.settings_fields:
        value = str(settings.get(field.name, "") or "").strip()
        if not value:
            if field.required:
                message = f"{field.label} is required for {adapter_class.label}."
                raise FieldInvalid(f"settings.{field.name}", message)
            continue
        if field.integer:
            if not value.isdigit():
                message = f"{field.label} must be a whole number."
                raise FieldInvalid(f"settings.{field.name}", message)
            cleaned[field.name] = int(value)
        else:
            cleaned[field.name] = value[:500]
    return cleaned


@sensitive_variables("secret_fields", "current", "merged")
def psa_connection_save(
    *,
    actor: User,
    kind: str,
    name: str,
    base_url: str,
    settings: dict,
    secret_fields: dict,
) -> PsaConnectionSaved:
    """Create or change the active PSA connection (administrators); blank secrets are kept."""
    attempt = Attempt(actor=actor, action="psa.connection_saved", details={"kind": kind})
    with recording_failures(attempt), transaction.atomic():
        require_role(actor, Role.ADMINISTRATOR, action="configure the PSA connection")
        if kind not in ADAPTERS:
            raise FieldInvalid("kind", "Choose which PSA Keyhold talks to.")
        adapter_class = ADAPTERS[kind]
        name = name.strip()
        if not name or len(name) > 200:
            raise FieldInvalid("name", "Give the connection a name of at most 200 characters.")
        base_url = _clean_base_url(base_url)
        cleaned = _clean_settings(adapter_class, settings)
        connection = PsaConnection.objects.select_for_update().filter(is_active=True).first()
        created = connection is None
        current: dict = {}
        if connection is not None and connection.sealed_secret and connection.kind == kind:
            current = json.loads(
                system_open(
                    bytes(connection.sealed_secret),
                    purpose=SEAL_PURPOSE,
                    associated_data=_associated_data(connection.pk),
                )
            )
        merged = {}
        changed = []
        for field in adapter_class.secret_fields:
            given = str(secret_fields.get(field.name, "") or "")
            if given:
                merged[field.name] = given
                changed.append(field.name)
            elif current.get(field.name):
                merged[field.name] = current[field.name]
            elif field.required:
                raise FieldInvalid(
                    f"secrets.{field.name}", f"{field.label} is required for {adapter_class.label}."
                )
        token = ""
        if created:
            token = secrets.token_urlsafe(32)
            connection = PsaConnection(
                created_by=actor, callback_token_hash=_token_hash(token), is_active=True
            )
        connection.kind = kind
        connection.name = name
        connection.base_url = base_url
        connection.settings = cleaned
        connection.save()
        connection.sealed_secret = system_seal(
            json.dumps(merged).encode(),
            purpose=SEAL_PURPOSE,
            associated_data=_associated_data(connection.pk),
        )
        connection.save(update_fields=["sealed_secret"])
        record(
            actor=actor,
            action="psa.connection_saved",
            target=Target.of(connection),
            details={
                "kind": kind,
                "base_url": base_url,
                "created": created,
                "settings": sorted(cleaned),
                "changed_fields": sorted(changed),
            },
        )
    return PsaConnectionSaved(connection=connection, callback_token=token)


@sensitive_variables("document")
def _adapter(connection: PsaConnection) -> PsaAdapter:
    try:
        document = json.loads(
            system_open(
                bytes(connection.sealed_secret or b""),
                purpose=SEAL_PURPOSE,
                associated_data=_associated_data(connection.pk),
            )
        )
    except Exception:  # tampered, missing or provider down: the call fails and retries
        raise PsaError("Keyhold could not open the PSA connection's stored keys.") from None
    return adapter_for(
        kind=connection.kind,
        base_url=connection.base_url,
        settings=connection.settings,
        secrets=document,
    )


# --- Sending ----------------------------------------------------------------------------


def _retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after each failure, never more than an hour."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def _ticket_text(task: RotationTask) -> tuple[str, str]:
    credential = task.credential
    client = task.client
    summary = f"Rotate {credential.name} ({client.name})"
    reasons = ", ".join(reason.get_reason_display() for reason in task.reasons.all())
    link = reverse(
        "vault:credential_detail", kwargs={"slug": client.slug, "credential_id": credential.pk}
    )
    description = (
        f'Keyhold asks for the credential "{credential.name}" of {client.name} to be rotated.\n'
        f"Due: {task.due_at:%Y-%m-%d %H:%M} UTC.\n"
        + (f"Reasons: {reasons}.\n" if reasons else "")
        + f"Open it in Keyhold: {_base_url()}{link}\n"
    )
    return summary, description


def _base_url() -> str:
    from django.conf import settings

    return settings.KEYHOLD_BASE_URL


def _send(adapter: PsaAdapter, call: PsaCall, task: RotationTask) -> str:
    """Make one call; returns the ticket id it concerned."""
    open_key = _open_key(task_id=task.id)
    ticket_id = task.psa_ticket_id
    if call.operation == PsaCall.Operation.OPEN or not ticket_id:
        if not ticket_id:
            # A lost answer to an earlier attempt may have opened it already.
            ticket_id = adapter.find_ticket_by_key(key=open_key) or ""
        if not ticket_id:
            summary, description = _ticket_text(task)
            ticket_id = adapter.open_ticket(
                key=open_key,
                summary=ticket_summary(key=open_key, text=summary),
                description=description,
                company=task.client.psa_company_id,
            )
        RotationTask.objects.filter(pk=task.pk).update(psa_ticket_id=ticket_id[:100])
        task.psa_ticket_id = ticket_id
    if call.operation == PsaCall.Operation.UPDATE:
        adapter.add_note(ticket_id=ticket_id, text=call.note or "Keyhold updated this task.")
    elif call.operation == PsaCall.Operation.CLOSE:
        adapter.close_ticket(
            ticket_id=ticket_id, text=call.note or "Keyhold closed this rotation task."
        )
    return ticket_id


def _sendable(call: PsaCall) -> bool:
    """Only the first unfinished call of a task goes out: open before update before close."""
    pending = PsaCall.objects.filter(task_id=call.task_id, done_at__isnull=True).only(
        "pk", "created_at", "operation"
    )
    first = min(pending, key=lambda c: (c.created_at, _OPERATION_ORDER[c.operation], str(c.pk)))
    return first.pk == call.pk


def _failed(call: PsaCall, task: RotationTask, reason: str) -> None:
    call.attempts += 1
    call.last_error = reason[:500]
    call.next_attempt_at = timezone.now() + _retry_delay(call.attempts)
    call.save(update_fields=["attempts", "last_error", "next_attempt_at"])
    RotationTask.objects.filter(pk=task.pk).update(psa_last_error=reason[:500])
    logger.warning(
        "psa.call_failed",
        extra={"psa_call_id": str(call.pk), "attempts": call.attempts, "reason": call.last_error},
    )
    if call.attempts == ADMIN_NOTICE_AFTER:
        administrators = User.objects.filter(is_active=True, groups__name=Role.ADMINISTRATOR)
        alert_send(
            actor=None,
            topic="psa.call_failed",
            recipients=administrators.distinct(),
            subject=f"PSA ticket calls are failing ({call.connection.name})",
            body=(
                f"Keyhold could not {call.get_operation_display().lower()} for the rotation of "
                f"{task.credential.name} ({task.client.name}) after {call.attempts} tries; "
                f"it keeps retrying up to once an hour. The task itself is not affected.\n"
                f"Last error: {call.last_error}\n"
            ),
            link=PSA_SETTINGS_PATH,
            notice=f"PSA calls are failing: {call.last_error}"[:500],
        )
    record(
        actor=None,
        actor_label="PSA sender",
        action="psa.call_failed",
        outcome=Outcome.ERROR,
        client=task.client,
        target=Target.of(task, label=task.credential.name),
        reason=call.last_error,
        details={
            "operation": call.operation,
            "attempts": call.attempts,
            "psa": call.connection.kind,
        },
    )


def psa_calls_send(*, limit: int = SEND_BATCH) -> int:
    """Send the due PSA calls (beat job); failures retry with backoff. Returns how many sent."""
    now = timezone.now()
    due = list(
        PsaCall.objects.filter(done_at__isnull=True, next_attempt_at__lte=now)
        # Oldest first: a task's open goes before its later calls in the same run.
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in due:
        with transaction.atomic():
            # Locked while it is sent: a concurrent run skips it rather than sending it twice.
            call = (
                PsaCall.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, done_at__isnull=True, next_attempt_at__lte=now)
                .first()
            )
            if call is None or not _sendable(call):
                continue
            task = RotationTask.objects.select_related("client", "credential").get(pk=call.task_id)
            connection = call.connection
            try:
                adapter = _adapter(connection)
                ticket_id = _send(adapter, call, task)
            except PsaError as error:
                _failed(call, task, error.reason)
                continue
            except Exception as error:  # any other failure is retried too, never lost
                _failed(call, task, f"The PSA call failed ({type(error).__name__}).")
                continue
            call.attempts += 1
            call.done_at = timezone.now()
            call.last_error = ""
            call.save(update_fields=["attempts", "done_at", "last_error"])
            RotationTask.objects.filter(pk=task.pk).update(psa_last_error="")
            record(
                actor=None,
                actor_label="PSA sender",
                action=_DONE_ACTIONS[call.operation],
                client=task.client,
                target=Target.of(task, label=task.credential.name),
                details={
                    "ticket_id": ticket_id,
                    "psa": connection.kind,
                    "attempts": call.attempts,
                },
            )
            sent += 1
    return sent


# --- Callbacks from the PSA ------------------------------------------------------------------


@sensitive_variables("path_token")
def psa_callback_receive(
    *,
    actor: User | None,
    connection_id: str,
    raw_body: bytes,
    headers: dict[str, str],
    path_token: str,
) -> RotationTask | None:
    """Check a PSA's callback (path token, and the vendor's signature), then note a closed
    ticket on its task. Returns the task it closed, or None when there was nothing to do."""
    attempt = Attempt(
        actor=actor,
        action="psa.ticket_closed_by_psa",
        actor_kind=ActorKind.ANONYMOUS,
        actor_label=CALLBACK_ACTOR,
    )
    refused = "This PSA callback was refused: its address token or signature is wrong."
    with recording_failures(attempt), transaction.atomic():
        connection = PsaConnection.objects.filter(pk=connection_id, is_active=True).first()
        stored = connection.callback_token_hash if connection is not None else ""
        given = _token_hash(path_token[:200])
        if not stored or not hmac.compare_digest(stored, given):
            raise AccessDenied(refused)
        attempt.target = Target.of(connection)
        adapter = _adapter(connection)
        if not adapter.callback_verify(raw_body=raw_body, headers=headers):
            raise AccessDenied(refused)
        try:
            event = adapter.callback_event(raw_body=raw_body)
        except (ValueError, TypeError, KeyError):
            raise InvalidRequest("The callback's body is not the JSON Keyhold expects.") from None
        except PsaError as error:
            raise PsaUnavailable(error.reason) from None
        if event is None or not event.closed:
            return None
        sent_through = PsaCall.objects.filter(connection=connection).values("task_id")
        task = (
            RotationTask.objects.select_for_update()
            .filter(psa_ticket_id=event.ticket_id, pk__in=sent_through)
            .select_related("client", "credential")
            .first()
        )
        if task is None or task.psa_ticket_closed_at is not None:
            return None
        task.psa_ticket_closed_at = timezone.now()
        task.save(update_fields=["psa_ticket_closed_at"])
        record(
            actor=None,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=CALLBACK_ACTOR,
            action="psa.ticket_closed_by_psa",
            client=task.client,
            target=Target.of(task, label=task.credential.name),
            details={"ticket_id": event.ticket_id, "psa": connection.kind},
        )
    return task
