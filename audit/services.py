"""The one way to write an audit event, and the services of the audit app itself."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit import chain
from audit.catalogue import ACTIONS
from audit.context import current_request_context
from audit.models import ActorKind, AuditChainHead, AuditEvent, Outcome
from config.errors import AccessDenied, KeyholdError, NotFound
from config.logging import _is_secret_key

logger = logging.getLogger(__name__)


class AuditWriteError(Exception):
    """The event could not be written; the action it belongs to must not happen."""


@dataclass(frozen=True)
class Target:
    """What an action was done to: a type, an id and a readable label kept with the event."""

    type: str
    id: str
    label: str = ""

    @classmethod
    def of(cls, obj: Any, label: str | None = None) -> "Target":
        return cls(type=obj._meta.label_lower, id=str(obj.pk), label=label or str(obj)[:254])


def _check_details(details: dict, path: str = "details") -> None:
    for key, value in details.items():
        if _is_secret_key(key):
            raise ValueError(f"{path}.{key} looks like a secret; audit details never hold one")
        if isinstance(value, dict):
            _check_details(value, f"{path}.{key}")


def _actor_fields(actor: Any, actor_kind: str | None, actor_label: str) -> dict[str, Any]:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return {
            "actor_kind": actor_kind or ActorKind.USER,
            "actor_user_id": actor.pk,
            "actor_label": (actor_label or actor.email)[:254],
        }
    return {
        "actor_kind": actor_kind or ActorKind.SYSTEM,
        "actor_user_id": None,
        "actor_label": (actor_label or "system")[:254],
    }


def record(
    *,
    actor: Any,
    action: str,
    outcome: str = Outcome.SUCCESS,
    client: Any = None,
    target: Target | None = None,
    ticket: str = "",
    reason: str = "",
    details: dict | None = None,
    actor_kind: str | None = None,
    actor_label: str = "",
    actor_ref: str = "",
) -> AuditEvent:
    """Append one event inside the caller's transaction; if it fails, the action fails.

    `actor` is the staff member, or None for the system (set actor_kind/actor_label for an
    API token or an anonymous link holder). Call it as the last write of the transaction.
    """
    if action not in ACTIONS:
        raise ValueError(f"{action!r} is not in the audit catalogue (audit/catalogue.py)")
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record() runs inside the service's transaction")
    details = details or {}
    _check_details(details)
    request = current_request_context()
    fields: dict[str, Any] = {
        **_actor_fields(actor, actor_kind, actor_label),
        "actor_ref": actor_ref[:64],
        "action": action,
        "client_id": client.pk if client is not None else None,
        "client_label": client.name[:200] if client is not None else "",
        "target_type": target.type if target else "",
        "target_id": target.id if target else "",
        "target_label": target.label[:254] if target else "",
        "ticket": ticket.strip()[:64],
        "reason": reason.strip(),
        "outcome": outcome,
        "ip_address": request.ip_address if request else None,
        "user_agent": request.user_agent if request else "",
        "request_id": request.request_id[:64] if request else "",
        "details": details,
    }
    try:
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(
            pk=1, defaults={"sequence": 0, "entry_hash": chain.GENESIS_HASH}
        )
        key_version, key = chain.chain_key()
        fields["sequence"] = head.sequence + 1
        fields["occurred_at"] = timezone.now()
        fields["key_version"] = key_version
        entry_hash = chain.entry_hash(previous_hash=head.entry_hash, fields=fields, key=key)
        event = AuditEvent(previous_hash=head.entry_hash, entry_hash=entry_hash, **fields)
        event.save(force_insert=True)
        AuditChainHead.objects.filter(pk=1).update(sequence=event.sequence, entry_hash=entry_hash)
    except Exception as error:
        raise AuditWriteError(f"could not record {action}") from error
    return event


@dataclass
class Attempt:
    """What an audited action is about, for the event its failure leaves behind."""

    actor: Any
    action: str
    client: Any = None
    target: Target | None = None
    ticket: str = ""
    details: dict = field(default_factory=dict)
    actor_kind: str | None = None
    actor_label: str = ""


@contextmanager
def recording_failures(attempt: Attempt) -> Iterator[Attempt]:
    """Record a denied or failed attempt in a transaction of its own, then re-raise.

    Wrap the whole service, its transaction inside: the failure event is written after that
    transaction rolled back, so it survives. Bad input (InvalidRequest) is not a security
    event and leaves none.
    """
    try:
        yield attempt
    except (AccessDenied, NotFound) as error:
        _record_failure(attempt, Outcome.DENIED, error.message)
        raise
    except (KeyholdError, AuditWriteError):
        raise
    except Exception as error:
        _record_failure(attempt, Outcome.ERROR, type(error).__name__)
        raise


def _record_failure(attempt: Attempt, outcome: str, reason: str) -> None:
    try:
        with transaction.atomic():
            record(
                actor=attempt.actor,
                action=attempt.action,
                outcome=outcome,
                client=attempt.client,
                target=attempt.target,
                ticket=attempt.ticket,
                reason=reason,
                details=attempt.details,
                actor_kind=attempt.actor_kind,
                actor_label=attempt.actor_label,
            )
    except Exception:
        logger.exception("audit.failure_not_recorded", extra={"audit_action": attempt.action})
