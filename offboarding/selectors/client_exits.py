"""Reads of client offboarding cases, scoped to the managers of the client.

A case outlives everyone's access to its client (that is its point), so it is shown to
administrators and auditors (as the evidence report is) and to managers who held manage
level on the client at any time; the credentials themselves only while the actor still
holds that level.
"""

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import Role, User
from audit.models import AuditEvent
from config.errors import NotFound
from offboarding.models import CaseCredential, CaseEvidence, OffboardingCase
from tenants.models import AccessLevel, Assignment, Client
from tenants.selectors import client_get_for_user, client_level_for_user
from vault.models import Credential
from vault.selectors import credential_get_for_user

CLIENT_AUDIT_EVENTS_SHOWN = 200


@dataclass(frozen=True)
class ClientExitItem:
    """A credential of the leaving client and its decision (None: not listed yet)."""

    credential: Credential
    row: CaseCredential | None

    @property
    def decision(self) -> str:
        if self.row is None:
            return ""
        if self.row.handed_over:
            return "hand_over"
        return "rotate" if self.row.task_id else ""


def _managed_ever(actor: User) -> QuerySet[Assignment]:
    return Assignment.objects.filter(user=actor, level__gte=AccessLevel.MANAGE)


def client_exit_list_for_user(*, actor: User) -> QuerySet[OffboardingCase]:
    """Client cases, newest first: every one for administrators and auditors (who must show
    the proof), those of clients they manage or once managed for managers."""
    cases = OffboardingCase.objects.filter(kind=OffboardingCase.Kind.CLIENT)
    if not actor.is_authenticated or not actor.is_active:
        return cases.none()
    if not actor.has_role(Role.ADMINISTRATOR, Role.AUDITOR):
        if not actor.has_role(Role.MANAGER):
            return cases.none()
        cases = cases.filter(client__in=_managed_ever(actor).values("client_id"))
    return cases.select_related("client", "opened_by").order_by("-opened_at")


def client_exit_get_for_user(*, actor: User, case_id: uuid.UUID | str) -> OffboardingCase:
    """One client case; NotFound when missing or not the actor's. `can_act`: the actor still
    manages the client and the case waits for confirmation."""
    case = client_exit_list_for_user(actor=actor).filter(pk=case_id).first()
    if case is None:
        raise NotFound()
    level = client_level_for_user(actor=actor, client=case.client)
    case.can_act = (
        level is not None
        and level >= AccessLevel.MANAGE
        and case.status == OffboardingCase.Status.DRAFT
    )
    return case


def client_exit_items(*, actor: User, case: OffboardingCase) -> list[ClientExitItem]:
    """Every credential of the client that is not archived, with its decision and task.

    Needs manage level on the client now: after the offboarding nobody sees its credentials.
    """
    client = client_get_for_user(actor=actor, slug=case.client.slug, level=AccessLevel.MANAGE)
    rows = {
        row.credential_id: row
        for row in CaseCredential.objects.filter(case=case).select_related("task")
    }
    credentials = (
        Credential.objects.filter(client_id=client.pk)
        .exclude(status=Credential.Status.ARCHIVED)
        .select_related("system")
        .defer("secret", "notes", "totp_seed")
        .order_by("name", "pk")
    )
    return [ClientExitItem(credential=c, row=rows.get(c.pk)) for c in credentials]


def client_exit_credential_get(
    *, actor: User, case: OffboardingCase, credential_id: uuid.UUID | str
) -> Credential:
    """A credential of the case's client, for a decision; NotFound otherwise."""
    return credential_get_for_user(
        actor=actor, credential_id=credential_id, level=AccessLevel.MANAGE, client=case.client
    )


def _require_visible(actor: User, case: OffboardingCase) -> None:
    if not client_exit_list_for_user(actor=actor).filter(pk=case.pk).exists():
        raise NotFound()


def client_exit_counts(*, actor: User, case: OffboardingCase) -> dict[str, int]:
    """How many credentials were handed over and rotated (no names: shown after the end)."""
    _require_visible(actor, case)
    rows = CaseCredential.objects.filter(case=case)
    return {
        "listed": rows.count(),
        "handed_over": rows.filter(handed_over=True).count(),
        "rotated": rows.filter(task__isnull=False).count(),
    }


def client_exit_evidence(*, actor: User, case: OffboardingCase) -> QuerySet[CaseEvidence]:
    """The case's evidence log in time order."""
    _require_visible(actor, case)
    return (
        CaseEvidence.objects.filter(case=case).select_related("by").order_by("at", "position", "id")
    )


def client_exit_audit_events(*, actor: User, case: OffboardingCase) -> QuerySet[AuditEvent]:
    """The client's audit trail, newest first: it stays readable after the keys are shredded
    (events hold labels and ids, never ciphertext)."""
    _require_visible(actor, case)
    client: Client = case.client
    return AuditEvent.objects.filter(client_id=client.pk).order_by("-sequence")[
        :CLIENT_AUDIT_EVENTS_SHOWN
    ]


def client_exit_clients_for_user(*, actor: User) -> QuerySet[Client]:
    """Clients the actor may offboard: managed now, not yet offboarded."""
    return (
        Client.objects.for_user(actor, AccessLevel.MANAGE)
        .exclude(status=Client.Status.OFFBOARDED)
        .order_by("name")
    )
