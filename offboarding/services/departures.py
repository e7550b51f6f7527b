"""A technician's departure: one confirmation removes every way in, then every credential the
person could reveal or did reveal gets a staff-change rotation task, tracked until done.

The credentials at risk are two sets, shown apart on the case:
- could reveal: every non-archived credential of every client the person was ever assigned to
  (revoked assignments and clients left long ago included), at the highest level they held
  there: use level for standard and service credentials, privileged level for high-privilege
  ones (revealed with a checkout), and sealed emergency credentials only if the person holds
  the break-glass permission (any level; the vault asks for no more).
- revealed: every credential named by the person's successful access events (reveals,
  checkouts, emergency openings, old versions and TOTP codes shown, share links created),
  with the last time.
Beside them, as the issue asks of the staff-change policy, the high-privilege credentials of
every client the person was ever assigned to are rotated too (unless the client's rotation
policy turns that off); those rows carry neither flag.
High-privilege and revealed credentials are due for rotation at once; the rest within
LATER_DUE_DAYS, so the urgent work is at the top of everyone's queue.
"""

import uuid
from collections import defaultdict
from datetime import timedelta

from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import require_role, user_depart
from audit import services as audit
from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.models import AuditEvent, Outcome
from audit.services import Attempt, Target, recording_failures
from config.errors import AccessDenied, InvalidRequest
from offboarding.models import CaseCredential, CaseEvidence, OffboardingCase
from offboarding.services.evidence import evidence_add
from rotation.models import RotationPolicy, RotationReason, RotationTask
from rotation.services.tasks import rotation_task_request
from tenants.models import AccessLevel, Assignment
from tenants.services import assignment_revoke
from vault.models import Checkout, Credential, PrivilegeTier

_DEPARTURE_ROLES = (Role.MANAGER, Role.ADMINISTRATOR)
REASON_MAX = 500
RISK_REASON_MIN = 10
# Credentials that are neither high-privilege nor revealed are rotated within this many days.
LATER_DUE_DAYS = 7
# Events in which a person obtained a credential's secret (or sent it on, for share links).
REVEALING_ACTIONS = frozenset(CREDENTIAL_ACCESS_ACTIONS | {"share_link.created"})
API_TOKENS_DETAIL = (
    "Every API token the person created is revoked as this confirmation commits "
    "(the api_token.revoked event that follows lists them)."
)
_EMERGENCY_PERMISSION = ("vault", "open_emergency")
_RESOLVED = (RotationTask.Status.DONE, RotationTask.Status.CANCELLED)


def _case_target(case: OffboardingCase, subject: User) -> Target:
    return Target(type="offboarding.case", id=str(case.pk), label=f"Departure of {subject}"[:254])


def departure_open(*, actor: User, subject: User, reason: str) -> OffboardingCase:
    """Open a departure case for a staff member; nothing changes until it is confirmed."""
    reason = reason.strip()
    attempt = Attempt(
        actor=actor,
        action="offboarding.departure_opened",
        target=Target.of(subject),
        details={"subject": str(subject.pk)},
    )
    with recording_failures(attempt):
        require_role(actor, *_DEPARTURE_ROLES, action="open a staff departure")
        if subject.pk == actor.pk:
            raise InvalidRequest("You cannot open a departure for yourself.")
        if not subject.is_active:
            raise InvalidRequest(f"{subject} is already deactivated.")
        if not reason:
            raise InvalidRequest("Say why this person is leaving; it goes in the evidence log.")
        if len(reason) > REASON_MAX:
            raise InvalidRequest(f"The reason is at most {REASON_MAX} characters.")
        try:
            with transaction.atomic():
                case = OffboardingCase.objects.create(
                    id=uuid.uuid4(),
                    kind=OffboardingCase.Kind.TECHNICIAN,
                    subject=subject,
                    reason=reason,
                    opened_by=actor,
                    opened_at=timezone.now(),
                )
                event = audit.record(
                    actor=actor,
                    action="offboarding.departure_opened",
                    target=_case_target(case, subject),
                    reason=reason,
                    details={"subject": str(subject.pk)},
                )
                evidence_add(
                    case=case,
                    step=CaseEvidence.Step.OPENED,
                    actor=actor,
                    event=event,
                    detail=f"Departure of {subject} ({subject.email}): {reason}",
                )
        except IntegrityError:
            raise InvalidRequest(f"{subject} already has an open departure case.") from None
    return case


def _locked_case(case: OffboardingCase) -> OffboardingCase:
    return (
        OffboardingCase.objects.select_for_update(of=("self",))
        .select_related("subject")
        .get(pk=case.pk, kind=OffboardingCase.Kind.TECHNICIAN)
    )


def _holds_emergency_permission(user: User) -> bool:
    app_label, codename = _EMERGENCY_PERMISSION
    return (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .filter(Q(user=user) | Q(group__user=user))
        .exists()
    )


def _revealed_by(user: User) -> dict[str, object]:
    """Credential id (as text) → the last time the person obtained its secret."""
    rows = (
        AuditEvent.objects.filter(
            actor_user_id=user.pk,
            action__in=sorted(REVEALING_ACTIONS),
            outcome=Outcome.SUCCESS,
            target_type="vault.credential",
        )
        .values("target_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
    )
    return {row["target_id"]: row["last"] for row in rows}


class _Reach:
    """What the person's assignment history let them reveal: the highest level per client."""

    def __init__(self, user: User) -> None:
        self.highest = dict(
            Assignment.objects.filter(user=user)
            .values("client_id")
            .annotate(top=Max("level"))
            .order_by()
            .values_list("client_id", "top")
        )
        self.emergency = bool(self.highest) and _holds_emergency_permission(user)

    def filter(self) -> Q:
        """The credentials within reach, as one filter (matches nothing without history)."""
        privileged = [pk for pk, top in self.highest.items() if top >= AccessLevel.PRIVILEGED]
        use = [pk for pk, top in self.highest.items() if top >= AccessLevel.USE]
        could = Q(is_emergency=False) & (
            Q(client_id__in=privileged)
            | (Q(client_id__in=use) & ~Q(privilege_tier=PrivilegeTier.HIGH))
        )
        if self.emergency:
            could |= Q(is_emergency=True, client_id__in=list(self.highest))
        return could

    def policy_filter(self) -> Q:
        """High-privilege credentials of every client in the history whose policy rotates them."""
        opted_out = RotationPolicy.objects.filter(
            client_id__in=list(self.highest), rotate_high_privilege_on_staff_change=False
        ).values_list("client_id", flat=True)
        clients = set(self.highest) - set(opted_out)
        return Q(client_id__in=clients, privilege_tier=PrivilegeTier.HIGH)

    def covers(self, credential: Credential) -> bool:
        top = self.highest.get(credential.client_id)
        if top is None:
            return False
        if credential.is_emergency:
            return self.emergency
        if credential.privilege_tier == PrivilegeTier.HIGH:
            return top >= AccessLevel.PRIVILEGED
        return top >= AccessLevel.USE


def _credentials_at_risk(user: User) -> tuple[list[Credential], set, dict]:
    """Every credential at risk (both sets and the policy's), the could-reveal ids, reveal times."""
    revealed = _revealed_by(user)
    revealed_ids = []
    for text in revealed:
        try:
            revealed_ids.append(uuid.UUID(text))
        except ValueError:
            continue
    reach = _Reach(user)
    credentials = list(
        Credential.objects.filter(Q(pk__in=revealed_ids) | reach.filter() | reach.policy_filter())
        .exclude(status=Credential.Status.ARCHIVED)
        .select_related("client", "client__primary_technician")
        .defer("secret", "notes", "totp_seed")
        .order_by("client__name", "name")
    )
    could_ids = {credential.pk for credential in credentials if reach.covers(credential)}
    last_revealed = {
        credential.pk: revealed[str(credential.pk)]
        for credential in credentials
        if str(credential.pk) in revealed
    }
    return credentials, could_ids, last_revealed


def _require_manage_everywhere(actor: User, assignments: list[Assignment]) -> None:
    """Refuse before changing anything when a grant cannot be revoked by this actor.

    Revoking access to a client takes manage access to it (tenants.assignment_revoke); a
    departure that half-happened would leave the person active on some clients, so it is
    confirmed whole by someone who manages every client the person is still assigned to.
    """
    client_ids = [assignment.client_id for assignment in assignments]
    managed = set(
        Assignment.objects.filter(
            user=actor,
            client_id__in=client_ids,
            revoked_at__isnull=True,
            level__gte=AccessLevel.MANAGE,
        ).values_list("client_id", flat=True)
    )
    missing = sorted(a.client.name for a in assignments if a.client_id not in managed)
    if missing:
        raise AccessDenied(
            f"You need manage access to {', '.join(missing)} to revoke this person's access "
            "there. Ask a manager of those clients to confirm the departure, or to give you "
            "manage access first."
        )


def _live_checkouts(user: User) -> int:
    return Checkout.objects.filter(
        requested_by=user, status__in=[Checkout.Status.ACTIVE, Checkout.Status.REQUESTED]
    ).count()


def departure_confirm(*, actor: User, case: OffboardingCase) -> OffboardingCase:
    """Remove every way in at once, then open a rotation task for every credential at risk.

    One transaction: login disabled and sessions ended (accounts.user_depart), checkouts
    ended and assignments revoked with their history kept (tenants.assignment_revoke, whose
    signal ends the checkouts), both sets written to the case, staff-change tasks opened.
    The tasks are opened by the system on the case's behalf (the confirming manager may not be
    assigned to every client the person ever reached); the case's event names who confirmed.
    """
    subject = case.subject
    attempt = Attempt(
        actor=actor,
        action="offboarding.departure_confirmed",
        target=_case_target(case, subject),
        details={"subject": str(case.subject_id)},
    )
    with recording_failures(attempt):
        require_role(actor, *_DEPARTURE_ROLES, action="confirm a staff departure")
        if case.subject_id == actor.pk:
            raise InvalidRequest("You cannot confirm your own departure.")
        with transaction.atomic():
            case = _locked_case(case)
            subject = case.subject
            if case.status != OffboardingCase.Status.DRAFT:
                raise InvalidRequest("This departure was already confirmed.")
            active = list(
                Assignment.objects.filter(user=subject, revoked_at__isnull=True)
                .select_related("client", "user")
                .order_by("client__name")
            )
            _require_manage_everywhere(actor, active)
            # Assessed before anything changes: the break-glass permission and the history
            # are read as they stood while the person could still use them.
            credentials, could_ids, last_revealed = _credentials_at_risk(subject)
            live_checkouts = _live_checkouts(subject)

            deactivated = user_depart(actor=actor, user=subject)
            for assignment in active:
                assignment_revoke(actor=actor, assignment=assignment)
            checkouts_ended = live_checkouts - _live_checkouts(subject)

            now = timezone.now()
            later = now + timedelta(days=LATER_DUE_DAYS)
            detail = f"Departure of {subject} (case {case.pk})"
            rows = []
            for credential in credentials:
                urgent = credential.is_high_privilege or credential.pk in last_revealed
                task = rotation_task_request(
                    actor=None,
                    credential=credential,
                    reason=RotationReason.STAFF_CHANGE,
                    due_at=now if urgent else later,
                    detail=detail,
                )
                rows.append(
                    CaseCredential(
                        id=uuid.uuid4(),
                        case=case,
                        client_id=credential.client_id,
                        credential=credential,
                        could_reveal=credential.pk in could_ids,
                        revealed=credential.pk in last_revealed,
                        last_revealed_at=last_revealed.get(credential.pk),
                        task=task,
                    )
                )
            CaseCredential.objects.bulk_create(rows, batch_size=500)

            counts = {
                "checkouts_ended": checkouts_ended,
                "assignments_revoked": len(active),
                "could_reveal": len(could_ids),
                "revealed": len(last_revealed),
                "policy_only": sum(
                    1 for c in credentials if c.pk not in could_ids and c.pk not in last_revealed
                ),
                "rotation_tasks": len(rows),
                "urgent_tasks": sum(
                    1 for c in credentials if c.is_high_privilege or c.pk in last_revealed
                ),
            }
            case.status = OffboardingCase.Status.OPEN
            case.confirmed_at = now
            case.confirmed_by = actor
            case.save(update_fields=["status", "confirmed_at", "confirmed_by"])
            event = audit.record(
                actor=actor,
                action="offboarding.departure_confirmed",
                target=_case_target(case, subject),
                details={"subject": str(subject.pk), **counts},
            )
            _confirm_evidence(
                case=case, actor=actor, deactivated=deactivated, event=event, counts=counts
            )
    return case


def _confirm_evidence(
    *,
    case: OffboardingCase,
    actor: User,
    deactivated: AuditEvent,
    event: AuditEvent,
    counts: dict[str, int],
) -> None:
    steps = [
        (CaseEvidence.Step.LOGIN_DISABLED, deactivated, "The account can no longer sign in."),
        (CaseEvidence.Step.SESSIONS_ENDED, deactivated, "Every open session was ended."),
        (CaseEvidence.Step.API_TOKENS_REVOKED, event, API_TOKENS_DETAIL),
        (
            CaseEvidence.Step.CHECKOUTS_ENDED,
            event,
            f"{counts['checkouts_ended']} checkouts and checkout requests ended.",
        ),
        (
            CaseEvidence.Step.ACCESS_REVOKED,
            event,
            f"{counts['assignments_revoked']} client assignments revoked; their history is kept.",
        ),
        (
            CaseEvidence.Step.CREDENTIALS_ASSESSED,
            event,
            f"{counts['could_reveal']} credentials the person could reveal; "
            f"{counts['revealed']} they did reveal, check out or open; "
            f"{counts['policy_only']} more high-privilege credentials of their clients by the "
            "staff-change policy.",
        ),
        (
            CaseEvidence.Step.ROTATION_REQUESTED,
            event,
            f"{counts['rotation_tasks']} staff-change rotation tasks: "
            f"{counts['urgent_tasks']} due now (high-privilege or revealed), the rest within "
            f"{LATER_DUE_DAYS} days.",
        ),
    ]
    for step, cited, detail in steps:
        evidence_add(case=case, step=step, actor=actor, event=cited, detail=detail)


def departure_progress_sync(*, actor: User | None, case: OffboardingCase) -> int:
    """Write a "credential rotated" evidence row for each newly done task; returns how many.

    Idempotent: a credential is logged once. Each row cites the rotation.task_completed
    event, so it carries who rotated and when (a person, or automated rotation).
    """
    if case.kind != OffboardingCase.Kind.TECHNICIAN or case.confirmed_at is None:
        return 0
    with transaction.atomic():
        case = _locked_case(case)
        logged = CaseEvidence.objects.filter(
            case=case, step=CaseEvidence.Step.CREDENTIAL_ROTATED
        ).values("credential_id")
        done = list(
            CaseCredential.objects.filter(case=case, task__status=RotationTask.Status.DONE)
            .exclude(credential_id__in=logged)
            .select_related("credential", "client", "task__completed_by")
        )
        if not done:
            return 0
        events = {
            event.target_id: event
            for event in AuditEvent.objects.filter(
                action="rotation.task_completed",
                target_type="rotation.task",
                target_id__in=[str(row.task_id) for row in done],
                occurred_at__gte=case.confirmed_at,
            ).order_by("sequence")
        }
        for row in done:
            event = events.get(str(row.task_id))
            by = row.task.completed_by
            evidence_add(
                case=case,
                step=CaseEvidence.Step.CREDENTIAL_ROTATED,
                actor=by,
                event=event,
                client=row.client,
                credential=row.credential,
                detail=f"{row.credential.name} of {row.client.name} rotated.",
                by_label=(by.email if by else (event.actor_label if event else "system")),
            )
    return len(done)


def departure_cases_sync(*, actor: User | None) -> int:
    """Sync every open departure case (the ten-minute job); returns evidence rows written."""
    cases = OffboardingCase.objects.filter(
        kind=OffboardingCase.Kind.TECHNICIAN, status=OffboardingCase.Status.OPEN
    ).order_by("opened_at")
    return sum(departure_progress_sync(actor=actor, case=case) for case in cases)


def departure_close(
    *, actor: User, case: OffboardingCase, risk_accepted_reason: str = ""
) -> OffboardingCase:
    """Close a departure once every task is done or cancelled, or accept the rest (managers).

    A case still waiting for confirmation closes as withdrawn: nothing was changed.
    """
    reason = risk_accepted_reason.strip()
    attempt = Attempt(
        actor=actor,
        action="offboarding.departure_closed",
        target=_case_target(case, case.subject),
        details={"risk_accepted": bool(reason)},
    )
    with recording_failures(attempt):
        require_role(actor, *_DEPARTURE_ROLES, action="close a staff departure")
        departure_progress_sync(actor=actor, case=case)
        with transaction.atomic():
            case = _locked_case(case)
            if case.status == OffboardingCase.Status.CLOSED:
                raise InvalidRequest("This departure case is already closed.")
            statuses = defaultdict(int)
            for status in CaseCredential.objects.filter(case=case).values_list(
                "task__status", flat=True
            ):
                statuses[status] += 1
            still_open = sum(n for status, n in statuses.items() if status not in _RESOLVED)
            if still_open and not reason:
                raise InvalidRequest(
                    f"{still_open} rotation tasks are still open. The case closes when they are "
                    "done, or when a manager accepts the remaining risk with a written reason."
                )
            if still_open:
                if not actor.has_role(Role.MANAGER):
                    raise AccessDenied("Only managers can accept the remaining risk.")
                if len(reason) < RISK_REASON_MIN:
                    raise InvalidRequest(
                        f"Write at least {RISK_REASON_MIN} characters on why the remaining risk "
                        "is acceptable."
                    )
                if len(reason) > 1000:
                    raise InvalidRequest("The reason is at most 1,000 characters.")
            now = timezone.now()
            withdrawn = case.status == OffboardingCase.Status.DRAFT
            case.status = OffboardingCase.Status.CLOSED
            case.closed_at = now
            case.closed_by = actor
            case.risk_accepted_reason = reason if still_open else ""
            case.save(update_fields=["status", "closed_at", "closed_by", "risk_accepted_reason"])
            details = {
                "subject": str(case.subject_id),
                "rotated": statuses[RotationTask.Status.DONE],
                "cancelled": statuses[RotationTask.Status.CANCELLED],
                "open": still_open,
                "risk_accepted": bool(still_open),
                "withdrawn": withdrawn,
            }
            event = audit.record(
                actor=actor,
                action="offboarding.departure_closed",
                target=_case_target(case, case.subject),
                reason=case.risk_accepted_reason,
                details=details,
            )
            if still_open:
                evidence_add(
                    case=case,
                    step=CaseEvidence.Step.RISK_ACCEPTED,
                    actor=actor,
                    event=event,
                    detail=f"{still_open} rotation tasks still open: {reason}",
                )
            if withdrawn:
                summary = "Closed before confirmation; nothing was changed."
            else:
                summary = (
                    f"{details['rotated']} rotated, {details['cancelled']} cancelled, "
                    f"{still_open} open."
                )
            evidence_add(
                case=case, step=CaseEvidence.Step.CLOSED, actor=actor, event=event, detail=summary
            )
    return case
