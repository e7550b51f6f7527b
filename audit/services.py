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
from config.logging import is_secret_key

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
        if is_secret_key(key):
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
    if request and request.api_token_id and actor is not None and not actor_ref:
        # A person's reach, used through one of their API tokens: both are on record.
        actor_kind, actor_ref = actor_kind or ActorKind.TOKEN, f"api_token:{request.api_token_id}"
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
        # The key first: the head's lock serialises every audited action until its commit,
        # so nothing that does not need the head is done while holding it.
        key_version, key = chain.chain_key()
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(
            pk=1, defaults={"sequence": 0, "entry_hash": chain.GENESIS_HASH}
        )
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


# Sign-offs of the monthly access review and the quarterly hygiene audit. This section is
# appended to the module, so its imports sit here. The readers (audit.reviews,
# audit.hygiene) and accounts.services import this module, so they are imported inside the
# functions to keep that cycle open; models and errors are safe at module level.
from collections.abc import Callable  # noqa: E402
from datetime import date  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from accounts.models import Role, User  # noqa: E402
from audit.models import ReviewSignOff  # noqa: E402
from config.errors import InvalidRequest  # noqa: E402
from tenants.models import Client  # noqa: E402

if TYPE_CHECKING:
    from audit.hygiene import CredentialInventory

SIGN_OFF_NOTE_MAX = 2000


def _signed_findings(
    entries: list[dict],
    *,
    needs_disposition: Callable[[dict], bool],
    dispositions: dict[str, tuple[str, str]],
) -> list[dict]:
    """The snapshot with each finding's disposition and note; every finding needs one."""
    from audit.reviews import Disposition

    unknown = sorted(set(dispositions) - {entry["key"] for entry in entries})
    if unknown:
        raise InvalidRequest(f"There is no finding called {', '.join(unknown)} to sign off.")
    missing = [
        entry["title"]
        for entry in entries
        if needs_disposition(entry)
        and (dispositions.get(entry["key"]) or ("", ""))[0] not in Disposition.values
    ]
    if missing:
        raise InvalidRequest(
            f"Choose expected, investigating or incident for every finding: {', '.join(missing)}."
        )
    signed = []
    for entry in entries:
        disposition, note = dispositions.get(entry["key"]) or ("", "")
        if needs_disposition(entry):
            signed.append(
                {**entry, "disposition": disposition, "note": note.strip()[:SIGN_OFF_NOTE_MAX]}
            )
        else:
            signed.append({**entry, "disposition": None, "note": ""})
    return signed


def _sign_off_create(
    *,
    actor: User,
    kind: str,
    period_start: date,
    client: Client | None,
    technician: User | None,
    notes: str,
    findings: list[dict],
    action: str,
    label: str,
    details: dict,
    already_signed: str,
) -> ReviewSignOff:
    with transaction.atomic():
        # Every audit write takes this row lock; taking it first makes the check below
        # and the insert one step, so two managers cannot both sign the same period.
        AuditChainHead.objects.select_for_update().get_or_create(
            pk=1, defaults={"sequence": 0, "entry_hash": chain.GENESIS_HASH}
        )
        if ReviewSignOff.objects.filter(
            kind=kind, period_start=period_start, client=client, technician=technician
        ).exists():
            raise InvalidRequest(already_signed)
        sign_off = ReviewSignOff.objects.create(
            kind=kind,
            period_start=period_start,
            client=client,
            technician=technician,
            signed_by=actor,
            signed_at=timezone.now(),
            notes=notes.strip(),
            findings=findings,
        )
        record(
            actor=actor,
            action=action,
            client=client,
            target=Target.of(sign_off, label=label),
            details=details,
        )
    return sign_off


def _disposition_details(findings: list[dict]) -> dict[str, str]:
    return {entry["key"]: entry["disposition"] for entry in findings if entry["disposition"]}


def access_review_sign_off(
    *,
    actor: User,
    month: date,
    client: Client | None = None,
    technician: User | None = None,
    notes: str,
    dispositions: dict[str, tuple[str, str]],
) -> ReviewSignOff:
    """Sign off a month's access review once, keeping its findings as they were signed.

    `month` is any date in the month; `dispositions` maps each finding's key to
    (expected | investigating | incident, note). Managers only; auditors may only read.
    """
    from accounts.services import require_role
    from audit.reviews import Month, access_review

    period = Month(month.year, month.month)
    attempt = Attempt(
        actor=actor,
        action="review.signed_off",
        client=client,
        details={"period": period.param},
    )
    with recording_failures(attempt):
        require_role(actor, Role.MANAGER, action="sign off access reviews")
        if not period.is_over(timezone.now()):
            raise InvalidRequest(
                f"{period.label} is not over yet. Sign it off from "
                f"{period.end.day} {period.end:%B %Y}."
            )
        review = access_review(
            actor=actor,
            month=period,
            client_slug=client.slug if client is not None else "",
            technician_id=technician.pk if technician is not None else None,
        )
        findings = _signed_findings(
            review.snapshot(),
            needs_disposition=lambda entry: entry["count"] > 0,
            dispositions=dispositions,
        )
        return _sign_off_create(
            actor=actor,
            kind=ReviewSignOff.Kind.ACCESS_REVIEW,
            period_start=period.start,
            client=client,
            technician=technician,
            notes=notes,
            findings=findings,
            action="review.signed_off",
            label=f"Access review {period.param} · {review.scope.label}",
            details={
                "period": period.param,
                "technician": str(technician.pk) if technician is not None else "",
                "dispositions": _disposition_details(findings),
            },
            already_signed=(
                f"The access review of {period.label} for {review.scope.label.lower()} was "
                "already signed off, and a signed review cannot be changed."
            ),
        )


def hygiene_audit_sign_off(
    *,
    actor: User,
    quarter: date,
    client: Client | None = None,
    notes: str,
    dispositions: dict[str, tuple[str, str]],
    inventory: "CredentialInventory | None" = None,
) -> ReviewSignOff:
    """Sign off a quarter's hygiene audit once, keeping its checks as they were signed.

    `quarter` is any date in the quarter. The audit reads today's data, so only this
    quarter or the one just ended can be signed. Managers only.
    """
    from accounts.services import require_role
    from audit.hygiene import CheckStatus, hygiene_audit, quarter_is_signable
    from audit.reviews import Quarter

    period = Quarter(quarter.year, (quarter.month - 1) // 3 + 1)
    attempt = Attempt(
        actor=actor,
        action="hygiene_audit.signed_off",
        client=client,
        details={"period": period.param},
    )
    with recording_failures(attempt):
        require_role(actor, Role.MANAGER, action="sign off hygiene audits")
        if not quarter_is_signable(period, timezone.now()):
            raise InvalidRequest(
                "The hygiene audit checks today's data, so only this quarter or the one "
                f"just ended can be signed off, not {period.label}."
            )
        audit = hygiene_audit(
            actor=actor,
            quarter=period,
            client_slug=client.slug if client is not None else "",
            inventory=inventory,
        )
        findings = _signed_findings(
            audit.snapshot(),
            needs_disposition=lambda entry: entry["status"] == CheckStatus.FINDINGS,
            dispositions=dispositions,
        )
        scope = client.name if client is not None else "all clients"
        return _sign_off_create(
            actor=actor,
            kind=ReviewSignOff.Kind.HYGIENE_AUDIT,
            period_start=period.start,
            client=client,
            technician=None,
            notes=notes,
            findings=findings,
            action="hygiene_audit.signed_off",
            label=f"Hygiene audit {period.param} · {scope}",
            details={"period": period.param, "dispositions": _disposition_details(findings)},
            already_signed=(
                f"The hygiene audit of {period.label} for {scope} was already signed off, "
                "and a signed audit cannot be changed."
            ),
        )
