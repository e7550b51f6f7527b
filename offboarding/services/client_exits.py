"""Client offboarding: open the case, decide each credential (hand over or rotate), export
the handover file, confirm (every staff access revoked, the client offboarded), and, after
the retention period, crypto-shred the client's keys.

Each action is one transaction whose audit event is its last write, followed by its
evidence rows. The handover passphrase lives only in memory and in the one page that shows
it: never in the database, a cache, an event or a log.
"""

import io
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from pykeepass import create_database

from accounts.models import Role, User
from accounts.services import require_role
from audit.services import Attempt, Target, record, recording_failures
from config.errors import InvalidRequest, NotFound
from offboarding.models import CaseCredential, CaseEvidence, OffboardingCase
from offboarding.services.evidence import evidence_add
from rotation.models import RotationReason, RotationTask
from rotation.services.tasks import rotation_task_request
from tenants.models import AccessLevel, Assignment, Client
from tenants.selectors import client_get_for_user
from tenants.services import assignment_revoke, client_status_set
from vault.envelope import field_decrypt_many, recording_decryption_failures
from vault.generator import passphrase_generate
from vault.models import CREDENTIAL_RECORD_TYPE, Credential
from vault.services.shredding import RETENTION_ACTOR_LABEL, client_keys_shred

REASON_MAX = 500
HANDOVER_PASSPHRASE_WORDS = 6
Step = CaseEvidence.Step
_MANAGING_ROLES = (Role.MANAGER, Role.ADMINISTRATOR)


@dataclass(frozen=True)
class HandoverExport:
    """The encrypted KeePass file and the passphrase that opens it; the repr shows neither."""

    content: bytes
    passphrase: str
    count: int
    filename: str

    def __repr__(self) -> str:
        return f"<HandoverExport {self.filename} count={self.count}>"


def _case_target(case: OffboardingCase) -> Target:
    return Target(type="offboarding.case", id=str(case.pk), label=f"Offboarding of {case.client}")


def _require_client_manager(actor: User, client: Client, *, action: str) -> None:
    require_role(actor, *_MANAGING_ROLES, action=action)
    client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)


def _locked_case(case: OffboardingCase) -> OffboardingCase:
    current = (
        OffboardingCase.objects.select_for_update(of=("self",))
        .filter(pk=case.pk, kind=OffboardingCase.Kind.CLIENT)
        .select_related("client")
        .first()
    )
    if current is None:
        raise NotFound()
    return current


def _require_draft(case: OffboardingCase) -> None:
    if case.status != OffboardingCase.Status.DRAFT:
        raise InvalidRequest(
            "This offboarding is already confirmed: the client's access ended and nothing "
            "more can be decided or exported."
        )


def _live_credentials(client: Client):
    return (
        Credential.objects.filter(client_id=client.pk)
        .exclude(status=Credential.Status.ARCHIVED)
        .select_related("system")
        .defer("secret", "notes", "totp_seed")
        .order_by("name", "pk")
    )


# --- Open -----------------------------------------------------------------------------------


def client_exit_open(*, actor: User, client: Client, reason: str) -> OffboardingCase:
    """Open the offboarding of a leaving client (manage level, managers and administrators).

    Lists every credential that is not archived, each waiting for a decision, and sets the
    client to offboarding. One live case per client.
    """
    reason = reason.strip()
    attempt = Attempt(
        actor=actor,
        action="offboarding.client_exit_opened",
        client=client,
        target=Target.of(client),
    )
    with recording_failures(attempt):
        _require_client_manager(actor, client, action="offboard clients")
        if not reason:
            raise InvalidRequest("Say why the client is leaving.")
        if len(reason) > REASON_MAX:
            raise InvalidRequest(f"The reason is at most {REASON_MAX} characters.")
        if client.status == Client.Status.OFFBOARDED:
            raise InvalidRequest(f"{client.name} is already offboarded.")
        try:
            with transaction.atomic():
                case = OffboardingCase.objects.create(
                    kind=OffboardingCase.Kind.CLIENT,
                    status=OffboardingCase.Status.DRAFT,
                    client=client,
                    reason=reason,
                    opened_by=actor,
                )
                credentials = list(_live_credentials(client))
                CaseCredential.objects.bulk_create(
                    CaseCredential(case=case, client=client, credential=credential)
                    for credential in credentials
                )
                client_status_set(actor=actor, client=client, status=Client.Status.OFFBOARDING)
                event = record(
                    actor=actor,
                    action="offboarding.client_exit_opened",
                    client=client,
                    target=_case_target(case),
                    reason=reason,
                    details={"case": str(case.pk), "listed": len(credentials)},
                )
                evidence_add(
                    case=case,
                    step=Step.OPENED,
                    actor=actor,
                    event=event,
                    client=client,
                    detail=f"{len(credentials)} credentials listed. Reason: {reason}",
                )
        except IntegrityError:
            raise InvalidRequest(
                f"{client.name} already has an offboarding case in progress; continue that one."
            ) from None
    return case


# --- Decide each credential -----------------------------------------------------------------


def _case_credential_locked(case: OffboardingCase, credential: Credential) -> CaseCredential:
    row = (
        CaseCredential.objects.select_for_update()
        .filter(case=case, credential_id=credential.pk)
        .first()
    )
    if row is None:
        # Added to the client after the case opened: listed now.
        row = CaseCredential.objects.create(case=case, client=case.client, credential=credential)
    return row


def _decided(row: CaseCredential) -> bool:
    return row.handed_over or row.task_id is not None


def client_exit_credential_decide(
    *, actor: User, case: OffboardingCase, credential: Credential, handed_over: bool
) -> CaseCredential:
    """Hand a credential over to the client as it is, or rotate it first (a rotation task).

    Rotation uses the reason "staff change": the people who know the secret change, as the
    MSP's whole staff loses the client. A decision is final.
    """
    client = case.client
    decision = "hand_over" if handed_over else "rotate"
    attempt = Attempt(
        actor=actor,
        action="offboarding.credential_decided",
        client=client,
        target=_case_target(case),
        details={"decision": decision, "vault_item_ids": [str(credential.pk)]},
    )
    with recording_failures(attempt):
        _require_client_manager(actor, client, action="decide what happens to credentials")
        if credential.client_id != client.pk:
            raise NotFound()
        with transaction.atomic():
            current = _locked_case(case)
            _require_draft(current)
            if credential.status == Credential.Status.ARCHIVED:
                raise InvalidRequest(
                    "This credential is archived; it is neither handed over nor rotated."
                )
            row = _case_credential_locked(current, credential)
            if _decided(row):
                raise InvalidRequest(f"{credential.name} is already decided.")
            if handed_over:
                row.handed_over = True
                row.save(update_fields=["handed_over"])
            else:
                row.task = rotation_task_request(
                    actor=actor,
                    credential=credential,
                    reason=RotationReason.STAFF_CHANGE,
                    detail=f"{client.name} is being offboarded",
                )
                row.save(update_fields=["task"])
            event = record(
                actor=actor,
                action="offboarding.credential_decided",
                client=client,
                target=_case_target(current),
                details={
                    "decision": decision,
                    "vault_item_ids": [str(credential.pk)],
                    "task": str(row.task_id or ""),
                },
            )
            evidence_add(
                case=current,
                step=Step.CREDENTIAL_HANDED_OVER if handed_over else Step.ROTATION_REQUESTED,
                actor=actor,
                event=event,
                client=client,
                credential=credential,
                detail=credential.name
                if handed_over
                else f"{credential.name}: rotation task opened (staff change)",
            )
    return row


def client_exit_hand_over_all(*, actor: User, case: OffboardingCase) -> int:
    """Hand over every credential still undecided; returns how many (one event for all)."""
    client = case.client
    attempt = Attempt(
        actor=actor,
        action="offboarding.credential_decided",
        client=client,
        target=_case_target(case),
        details={"decision": "hand_over"},
    )
    with recording_failures(attempt):
        _require_client_manager(actor, client, action="decide what happens to credentials")
        with transaction.atomic():
            current = _locked_case(case)
            _require_draft(current)
            undecided = []
            for credential in _live_credentials(client):
                row = _case_credential_locked(current, credential)
                if not _decided(row):
                    row.credential = credential
                    undecided.append(row)
            if not undecided:
                raise InvalidRequest("Every credential is already decided.")
            CaseCredential.objects.filter(pk__in=[row.pk for row in undecided]).update(
                handed_over=True
            )
            event = record(
                actor=actor,
                action="offboarding.credential_decided",
                client=client,
                target=_case_target(current),
                details={
                    "decision": "hand_over",
                    "vault_item_ids": [str(row.credential_id) for row in undecided],
                },
            )
            for row in undecided:
                evidence_add(
                    case=current,
                    step=Step.CREDENTIAL_HANDED_OVER,
                    actor=actor,
                    event=event,
                    client=client,
                    credential=row.credential,
                    detail=row.credential.name,
                )
    return len(undecided)


# --- The handover file ----------------------------------------------------------------------


def _otp_uri(seed: str, *, client: Client, credential: Credential) -> str:
    """The seed as the otpauth URI KeePass clients read (a URI already is one)."""
    seed = seed.strip()
    if seed.lower().startswith("otpauth://"):
        return seed
    label = quote(f"{client.name}:{credential.username or credential.name}")
    query = urlencode({"secret": seed.replace(" ", "").upper(), "issuer": client.name})
    return f"otpauth://totp/{label}?{query}"


@sensitive_variables("passphrase", "opened", "values", "secret", "notes", "seed", "database")
def _kdbx_build(*, client: Client, credentials: list[Credential], passphrase: str) -> bytes:
    """A KeePass KDBX 4 database in memory, one group per system; nothing written to disk."""
    values = []
    for credential in credentials:
        values.append((str(credential.pk), "secret", credential.secret))
        values.append((str(credential.pk), "notes", credential.notes))
        if credential.totp_seed is not None:
            values.append((str(credential.pk), "totp_seed", credential.totp_seed))
    opened = iter(
        field_decrypt_many(client=client, record_type=CREDENTIAL_RECORD_TYPE, values=values)
    )
    database = create_database(io.BytesIO(), password=passphrase)
    database.root_group.name = client.name
    groups = {}
    for credential in credentials:
        secret = next(opened).decode("utf-8")
        notes = next(opened).decode("utf-8")
        seed = next(opened).decode("utf-8") if credential.totp_seed is not None else ""
        group_name = credential.system.name if credential.system else "No system"
        if group_name not in groups:
            groups[group_name] = database.add_group(database.root_group, group_name)
        database.add_entry(
            groups[group_name],
            title=credential.name,
            username=credential.username,
            password=secret,
            url=credential.host or None,
            notes=notes or None,
            otp=_otp_uri(seed, client=client, credential=credential) if seed else None,
            force_creation=True,
        )
    output = io.BytesIO()
    database.save(output)
    return output.getvalue()


@sensitive_variables("passphrase", "content")
def client_exit_handover_export(*, actor: User, case: OffboardingCase) -> HandoverExport:
    """Every credential of the client that is not archived, in a KeePass file (KDBX 4) locked
    by a fresh six-word passphrase that the caller shows once; audited with the count.

    Manage level, managers and administrators; the view asks for a recent MFA check first.
    """
    client = case.client
    target = _case_target(case)
    attempt = Attempt(
        actor=actor, action="offboarding.handover_exported", client=client, target=target
    )
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        _require_client_manager(actor, client, action="export a client's handover file")
        passphrase = passphrase_generate(words=HANDOVER_PASSPHRASE_WORDS, separator=" ")
        with transaction.atomic():
            current = _locked_case(case)
            _require_draft(current)
            credentials = list(
                Credential.objects.filter(client_id=client.pk)
                .exclude(status=Credential.Status.ARCHIVED)
                .select_related("system")
                .order_by("name", "pk")
            )
            content = _kdbx_build(client=client, credentials=credentials, passphrase=passphrase)
            event = record(
                actor=actor,
                action="offboarding.handover_exported",
                client=client,
                target=target,
                details={"count": len(credentials), "format": "kdbx4"},
            )
            evidence_add(
                case=current,
                step=Step.HANDOVER_EXPORTED,
                actor=actor,
                event=event,
                client=client,
                detail=f"KeePass file with {len(credentials)} credentials",
            )
    stamp = timezone.now().strftime("%Y-%m-%d")
    return HandoverExport(
        content=content,
        passphrase=passphrase,
        count=len(credentials),
        filename=f"{client.slug}-handover-{stamp}.kdbx",
    )


# --- Confirm --------------------------------------------------------------------------------


def client_exit_confirm(*, actor: User, case: OffboardingCase) -> OffboardingCase:
    """End the MSP's access to the client: every assignment revoked (history kept, the
    actor's own last), the client offboarded, its keys due for shredding after retention.

    Needs every credential decided and every rotation it asked for finished: after this
    nobody on the staff can reach the client to finish one.
    """
    client = case.client
    attempt = Attempt(
        actor=actor,
        action="offboarding.client_exit_confirmed",
        client=client,
        target=_case_target(case),
    )
    with recording_failures(attempt):
        _require_client_manager(actor, client, action="confirm a client's offboarding")
        with transaction.atomic():
            current = _locked_case(case)
            _require_draft(current)
            rows = {
                row.credential_id: row
                for row in CaseCredential.objects.filter(case=current).select_related("task")
            }
            undecided = [
                c.name
                for c in _live_credentials(client)
                if not (r := rows.get(c.pk)) or not _decided(r)
            ]
            if undecided:
                raise InvalidRequest(
                    f"Decide every credential first: {len(undecided)} still waiting "
                    f"({', '.join(undecided[:5])}{'…' if len(undecided) > 5 else ''})."
                )
            rotating = [
                row
                for row in rows.values()
                if row.task is not None and row.task.status == RotationTask.Status.OPEN
            ]
            if rotating:
                raise InvalidRequest(
                    f"Finish the rotations first: {len(rotating)} rotation tasks are still open."
                )
            client_status_set(actor=actor, client=client, status=Client.Status.OFFBOARDED)
            assignments = list(
                Assignment.objects.filter(client_id=client.pk, revoked_at__isnull=True)
                .select_related("user", "client")
                .order_by("granted_at")
            )
            # The actor's own access goes last: revoking needs manage level on the client.
            assignments.sort(key=lambda each: each.user_id == actor.pk)
            for assignment in assignments:
                assignment_revoke(actor=actor, assignment=assignment)
            now = timezone.now()
            current.status = OffboardingCase.Status.OPEN
            current.confirmed_at = now
            current.confirmed_by = actor
            current.shred_after = now + timedelta(days=settings.OFFBOARDING_RETENTION_DAYS)
            current.save(update_fields=["status", "confirmed_at", "confirmed_by", "shred_after"])
            people = sorted(each.user.email for each in assignments)
            event = record(
                actor=actor,
                action="offboarding.client_exit_confirmed",
                client=client,
                target=_case_target(current),
                details={
                    "revoked_assignments": len(assignments),
                    "handed_over": sum(row.handed_over for row in rows.values()),
                    "rotated": sum(row.task_id is not None for row in rows.values()),
                    "shred_after": current.shred_after.isoformat(),
                },
            )
            evidence_add(
                case=current,
                step=Step.ACCESS_REVOKED,
                actor=actor,
                event=event,
                client=client,
                detail=f"{len(assignments)} staff assignments revoked: {', '.join(people)}",
            )
            evidence_add(
                case=current,
                step=Step.CLIENT_OFFBOARDED,
                actor=actor,
                event=event,
                client=client,
                detail=f"Keys to be crypto-shredded after {current.shred_after:%Y-%m-%d %H:%M} UTC",
            )
    return current


# --- Retention: crypto-shredding ------------------------------------------------------------


def _case_shred(*, actor: User | None, case_id) -> bool:
    """Shred one due case's client in one transaction; False when it is not (or no longer) due."""
    with transaction.atomic():
        case = (
            OffboardingCase.objects.select_for_update(of=("self",))
            .filter(
                pk=case_id,
                kind=OffboardingCase.Kind.CLIENT,
                shredded_at__isnull=True,
                shred_after__lte=timezone.now(),
            )
            .select_related("client")
            .first()
        )
        if case is None:
            return False
        days = settings.OFFBOARDING_RETENTION_DAYS
        shredded = client_keys_shred(
            actor=actor,
            client=case.client,
            reason=f"Retention of {days} days after the client's offboarding ended",
        )
        now = timezone.now()
        case.shredded_at = now
        case.status = OffboardingCase.Status.CLOSED
        case.closed_at = now
        case.save(update_fields=["shredded_at", "status", "closed_at"])
        versions = ", ".join(str(v) for v in shredded.destroyed_versions) or "none left"
        for step, detail in (
            (Step.KEYS_SHREDDED, f"Data key versions destroyed: {versions}"),
            (Step.CLOSED, "Closed when the client's keys were destroyed"),
        ):
            evidence_add(
                case=case,
                step=step,
                actor=actor,
                event=shredded.event,
                client=case.client,
                detail=detail,
                by_label="" if actor is not None else RETENTION_ACTOR_LABEL,
            )
    return True


def client_exits_shred_due(*, actor: User | None) -> int:
    """Crypto-shred the keys of every client whose retention ended (the daily job; actor
    None); each case in its own transaction, a rerun skips the shredded. Returns how many."""
    if actor is not None:
        require_role(actor, Role.ADMINISTRATOR, action="run the shredding of offboarded clients")
    due = list(
        OffboardingCase.objects.filter(
            kind=OffboardingCase.Kind.CLIENT,
            shredded_at__isnull=True,
            shred_after__lte=timezone.now(),
        )
        .order_by("shred_after")
        .values_list("pk", flat=True)
    )
    return sum(_case_shred(actor=actor, case_id=case_id) for case_id in due)
