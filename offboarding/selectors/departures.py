"""Reads of offboarding cases for managers, administrators and auditors.

Cases name people and clients (metadata, never secrets) and are listed to those roles; the
credential rows of a departure are shown only for clients the viewer may see, the others
counted.
"""

from dataclasses import dataclass, field

from django.db.models import Case as SqlCase
from django.db.models import Count, IntegerField, Q, QuerySet, Value, When

from accounts.models import Role, User
from accounts.services import require_role
from config.errors import NotFound
from offboarding.models import CaseCredential, CaseEvidence, OffboardingCase
from rotation.models import RotationTask
from tenants.models import AccessLevel, Client

_VIEWING_ROLES = (Role.MANAGER, Role.ADMINISTRATOR, Role.AUDITOR)
_RESOLVED = [RotationTask.Status.DONE, RotationTask.Status.CANCELLED]


def case_list_for_user(*, actor: User) -> QuerySet[OffboardingCase]:
    """Every case, live ones first, with its task progress (a fixed number of queries)."""
    require_role(actor, *_VIEWING_ROLES, action="see offboarding cases")
    return (
        OffboardingCase.objects.select_related("subject", "client", "opened_by")
        .annotate(
            live_first=SqlCase(
                When(status=OffboardingCase.Status.CLOSED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
            task_total=Count("credentials__task"),
            task_resolved=Count(
                "credentials__task", filter=Q(credentials__task__status__in=_RESOLVED)
            ),
        )
        .order_by("live_first", "-opened_at")
    )


def departure_subject_choices(*, actor: User) -> QuerySet[User]:
    """Active staff who may be the subject of a new departure: not the actor, none open."""
    require_role(actor, Role.MANAGER, Role.ADMINISTRATOR, action="open a staff departure")
    live = OffboardingCase.objects.filter(kind=OffboardingCase.Kind.TECHNICIAN).exclude(
        status=OffboardingCase.Status.CLOSED
    )
    return (
        User.objects.filter(is_active=True)
        .exclude(pk=actor.pk)
        .exclude(pk__in=live.values("subject_id"))
        .order_by("full_name", "email")
    )


def departure_get_for_user(*, actor: User, case_id: str) -> OffboardingCase:
    """One departure case; NotFound for a missing case, a client case or a role without it."""
    if not actor.has_role(*_VIEWING_ROLES):
        raise NotFound()
    case = (
        OffboardingCase.objects.select_related("subject", "opened_by", "confirmed_by", "closed_by")
        .filter(pk=case_id, kind=OffboardingCase.Kind.TECHNICIAN)
        .first()
    )
    if case is None:
        raise NotFound()
    return case


@dataclass
class DepartureProgress:
    """The case page: both sets apart (visible rows only), hidden counts, task progress."""

    could_reveal: list[CaseCredential] = field(default_factory=list)
    revealed: list[CaseCredential] = field(default_factory=list)
    # High-privilege credentials of their clients, rotated by the staff-change policy only.
    policy: list[CaseCredential] = field(default_factory=list)
    hidden_could_reveal: int = 0
    hidden_revealed: int = 0
    hidden_policy: int = 0
    total: int = 0
    done: int = 0
    cancelled: int = 0
    evidence: list[CaseEvidence] = field(default_factory=list)

    @property
    def open(self) -> int:
        return self.total - self.done - self.cancelled

    @property
    def percent(self) -> int:
        return round(100 * (self.done + self.cancelled) / self.total) if self.total else 100


def departure_progress_for_user(*, actor: User, case: OffboardingCase) -> DepartureProgress:
    """The credentials at risk and the evidence log, limited to clients the actor may see."""
    require_role(actor, *_VIEWING_ROLES, action="see offboarding cases")
    visible = set(Client.objects.for_user(actor, AccessLevel.VIEW).values_list("pk", flat=True))
    progress = DepartureProgress()
    rows = (
        CaseCredential.objects.filter(case=case)
        .select_related("client", "credential", "task")
        .order_by("-revealed", "client__name", "credential__name")
    )
    for row in rows:
        progress.total += 1
        status = row.task.status if row.task is not None else RotationTask.Status.OPEN
        progress.done += status == RotationTask.Status.DONE
        progress.cancelled += status == RotationTask.Status.CANCELLED
        shown = row.client_id in visible
        if row.could_reveal:
            if shown:
                progress.could_reveal.append(row)
            else:
                progress.hidden_could_reveal += 1
        if row.revealed:
            if shown:
                progress.revealed.append(row)
            else:
                progress.hidden_revealed += 1
        if not (row.could_reveal or row.revealed):
            if shown:
                progress.policy.append(row)
            else:
                progress.hidden_policy += 1
    progress.evidence = [
        item
        for item in CaseEvidence.objects.filter(case=case)
        .select_related("client", "credential")
        .order_by("at", "position", "id")
        if item.client_id is None or item.client_id in visible
    ]
    return progress
