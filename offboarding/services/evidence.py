"""The evidence log of a case: one immutable row per step, written with its audit event."""

import uuid

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit import services as audit
from audit.models import AuditEvent
from audit.services import Attempt, Target, recording_failures
from offboarding.models import CaseEvidence, OffboardingCase
from offboarding.selectors.cases import EvidenceReport, case_evidence_report
from tenants.models import Client
from vault.models import Credential

STEP_POSITION = {step: index for index, step in enumerate(CaseEvidence.Step.values)}


def evidence_add(
    *,
    case: OffboardingCase,
    step: str,
    actor: User | None,
    event: AuditEvent | None,
    client: Client | None = None,
    credential: Credential | None = None,
    detail: str = "",
    by_label: str = "",
) -> CaseEvidence:
    """Record a step of the case in the caller's transaction, beside the event that audits it.

    The row takes its time from the event, so the log and the chain agree to the microsecond.
    """
    return CaseEvidence.objects.create(
        case=case,
        step=step,
        at=event.occurred_at if event is not None else timezone.now(),
        by=actor,
        by_label=(by_label or (actor.email if actor is not None else "system"))[:254],
        client=client,
        credential=credential,
        detail=detail[:1000],
        position=STEP_POSITION[step],
        audit_event=event,
    )


def case_evidence_export(*, actor: User, case_id: uuid.UUID | str) -> EvidenceReport:
    """Record a CSV export of a case's evidence, then hand back the rows the actor may see.

    One event per export, written before the first row leaves; a refused export (wrong role,
    a case the actor cannot see) leaves a denied event instead.
    """
    attempt = Attempt(
        actor=actor,
        action="offboarding.evidence_exported",
        target=Target(type="offboarding.offboardingcase", id=str(case_id)),
        details={"format": "csv"},
    )
    with recording_failures(attempt):
        report = case_evidence_report(actor=actor, case_id=case_id)
        with transaction.atomic():
            audit.record(
                actor=actor,
                action="offboarding.evidence_exported",
                client=report.case.client,
                target=Target.of(report.case),
                details={"format": "csv", "rows": report.shown, "hidden": report.hidden},
            )
    return report
