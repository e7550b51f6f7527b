"""Reads of offboarding cases for their evidence report and for the reviews.

Who sees the evidence of a case (managers, administrators and auditors only):
- a technician departure: its steps of no client (login disabled, sessions ended, ...) and
  the steps of clients the viewer has view access to; the rest are counted as hidden;
- a client exit: the whole log, to viewers with view access to the client, and to auditors
  and administrators. A client exit revokes every staff assignment to the client, so without
  this nobody could prove the exit once it is done; auditors and administrators are the
  people who must show that proof. The log holds names, times and audit event ids only,
  never a secret, and reading it reaches no credential. For the same reason auditors and
  administrators see a departure's steps at clients that are offboarded.
"""

import uuid
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from accounts.models import Role, User
from accounts.services import require_role
from audit.departures import Departure, OffboardingState, OpenCase
from config.errors import NotFound
from offboarding.models import CaseEvidence, OffboardingCase
from tenants.models import AccessLevel, Client

EVIDENCE_ROLES = (Role.MANAGER, Role.ADMINISTRATOR, Role.AUDITOR)


@dataclass
class EvidenceReport:
    """A case, the evidence rows the viewer may see in time order, and how many are hidden."""

    case: OffboardingCase
    rows: QuerySet[CaseEvidence]
    shown: int
    hidden: int


def _sees_every_exit(actor: User) -> bool:
    return actor.has_role(Role.AUDITOR, Role.ADMINISTRATOR)


def _seen_clients(actor: User) -> QuerySet[Client]:
    return Client.objects.for_user(actor, AccessLevel.VIEW).values("pk")


def _visible_case_q(actor: User) -> Q:
    """Departures for every evidence role; client exits per the module's rule."""
    if _sees_every_exit(actor):
        return Q()
    return Q(kind=OffboardingCase.Kind.TECHNICIAN) | Q(client__in=_seen_clients(actor))


def _visible_rows_q(actor: User, prefix: str = "") -> Q:
    """Rows of a departure the viewer may see; a row naming only a credential goes by the
    credential's client."""
    seen = _seen_clients(actor)
    client, credential = f"{prefix}client", f"{prefix}credential"
    no_client = Q(**{f"{client}__isnull": True})
    visible = (
        (no_client & Q(**{f"{credential}__isnull": True}))
        | Q(**{f"{client}__in": seen})
        | (no_client & Q(**{f"{credential}__client__in": seen}))
    )
    if _sees_every_exit(actor):
        offboarded = Client.Status.OFFBOARDED
        visible |= Q(**{f"{client}__status": offboarded}) | (
            no_client & Q(**{f"{credential}__client__status": offboarded})
        )
    return visible


def case_evidence_report(*, actor: User, case_id: uuid.UUID | str) -> EvidenceReport:
    """The evidence of one case for its report and CSV export: two queries, whatever its size.

    A case the viewer may not see is the same NotFound as a missing one.
    """
    require_role(actor, *EVIDENCE_ROLES, action="open the evidence of offboarding cases")
    in_scope = _visible_rows_q(actor, prefix="evidence__")
    case = (
        OffboardingCase.objects.filter(_visible_case_q(actor), pk=case_id)
        .select_related("subject", "client", "opened_by", "confirmed_by", "closed_by")
        .annotate(
            evidence_total=Count("evidence", distinct=True),
            evidence_shown=Count("evidence", filter=in_scope, distinct=True),
        )
        .first()
    )
    if case is None:
        raise NotFound("This offboarding case does not exist or you cannot see it.")
    rows = CaseEvidence.objects.filter(case=case)
    shown = case.evidence_total
    if case.kind == OffboardingCase.Kind.TECHNICIAN:
        rows = rows.filter(_visible_rows_q(actor))
        shown = case.evidence_shown
    rows = (
        rows.select_related("client", "credential")
        .only(
            "id",
            "case_id",
            "step",
            "at",
            "by_label",
            "detail",
            "audit_event_id",
            "client__name",
            "credential__name",
        )
        .order_by("at", "position", "id")
    )
    return EvidenceReport(case=case, rows=rows, shown=shown, hidden=case.evidence_total - shown)


class OffboardingReviewSource:
    """Offboarding's answer to the access review and the hygiene audit (audit.departures),
    registered in OffboardingConfig.ready(): one query per review."""

    def review_state(self, *, actor: User, client_id: uuid.UUID | None) -> OffboardingState:
        """Open cases the viewer may see, and every confirmed departure."""
        live = ~Q(status=OffboardingCase.Status.CLOSED)
        departures = Q(kind=OffboardingCase.Kind.TECHNICIAN) & (
            live | Q(confirmed_at__isnull=False)
        )
        exits = Q(kind=OffboardingCase.Kind.CLIENT) & live & _visible_case_q(actor)
        if client_id is not None:
            exits &= Q(client_id=client_id)
        cases = (
            OffboardingCase.objects.filter(departures | exits)
            .select_related("subject", "client")
            .order_by("opened_at", "id")
        )
        open_cases: list[OpenCase] = []
        departed: list[Departure] = []
        for case in cases:
            url = reverse("offboarding:evidence_report", args=[case.pk])
            name = str(case.subject) if case.subject_id else case.client.name
            if case.status != OffboardingCase.Status.CLOSED:
                open_cases.append(
                    OpenCase(
                        id=case.pk,
                        kind_label=case.get_kind_display(),
                        name=name,
                        client_name=case.client.name if case.client_id else "",
                        status_label=case.get_status_display(),
                        opened_at=case.opened_at,
                        url=url,
                    )
                )
            if case.subject_id and case.confirmed_at is not None:
                departed.append(
                    Departure(
                        user_id=case.subject_id,
                        name=name,
                        confirmed_at=case.confirmed_at,
                        url=url,
                    )
                )
        return OffboardingState(open_cases=open_cases, departures=departed)
