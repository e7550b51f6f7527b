"""Structured intake of a client being onboarded: a draft of entries (one per system's
credential), then one submit that creates the systems, credentials, staff access and
rotation tasks through the tenants, vault and rotation services, in one transaction.

Who: onboarding staff, managers and administrators with manage access to the client.
Secrecy: an entry's secret, notes and TOTP seed are sealed on arrival with the client's key
(INTAKE_ENTRY_RECORD_TYPE, bound to the entry's id); submit opens them only to hand them to
the vault. They never reach an event, a log or a page.

Staff access: an entry names staff members, or a role (every active member of the role at
the time access is granted), each at a level. Granting access is a manager's or an
administrator's act (tenants.assignment_grant): when they submit, access is granted with
everything else; when onboarding staff submit, the requests stay on the entries and a
manager grants them from the onboarding page (intake_access_grant). An intake only ever
raises someone's access, never lowers it.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Role, User
from accounts.services import require_role
from audit.services import Attempt, Target, record, recording_failures
from config.errors import FieldInvalid, InvalidRequest, NotFound
from intake.models import INSECURE_CHANNELS, INTAKE_ENTRY_RECORD_TYPE, Intake, IntakeEntry
from intake.models import ReceivedVia as Via
from intake.selectors.intakes import intake_access_wanted, intake_access_wanted_for_client
from rotation.models import RotationReason
from rotation.selectors.policies import rotation_policy_for, tier_interval_days
from rotation.services.tasks import rotation_task_request
from tenants.models import AccessLevel, Assignment, Client, System
from tenants.selectors import client_get_for_user
from tenants.services import assignment_grant, system_create
from vault.envelope import field_decrypt, field_encrypt
from vault.hosts import host_clean
from vault.models import Credential, CredentialType, PrivilegeTier
from vault.services import credential_create

INTAKE_ROLES = (Role.ONBOARDING, Role.MANAGER, Role.ADMINISTRATOR)
# The roles tenants.assignment_grant lets assign staff to clients.
ASSIGNING_ROLES = (Role.MANAGER, Role.ADMINISTRATOR)
ACCESS_FIELDS = {level: f"access_{level.name.lower()}" for level in AccessLevel}
SYSTEM_NAME_MAX = 200
USERNAME_MAX = 254
SECRET_MAX = 4096
NOTES_MAX = 10_000
TOTP_SEED_MAX = 256
# An inherited high-privilege secret is known outside the MSP: rotated within 48 hours.
INHERITED_HIGH_WITHIN = timedelta(hours=48)
_SOURCE_BY_VIA = {
    Via.INTAKE_LINK: Credential.Source.CLIENT_LINK,
    Via.INHERITED: Credential.Source.INHERITED,
}


class EntryInvalid(FieldInvalid):
    """Submit refused one entry: `message` names the entry, `detail` goes beside its field."""

    def __init__(self, *, entry: IntakeEntry, number: int, field: str | None, detail: str):
        super().__init__(field or "", f"Entry {number} ({entry.system_name}): {detail}")
        self.entry_id = entry.pk
        self.detail = detail


def _intake_client(actor: User, client: Client) -> Client:
    """The client, if the actor may run its intake: manage access and an onboarding role."""
    client = client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
    require_role(actor, *INTAKE_ROLES, action="run a client's intake")
    return client


def _intake_target(intake: Intake, client: Client) -> Target:
    return Target(type="intake.intake", id=str(intake.pk), label=f"Intake of {client.name}"[:254])


def _entry_target(entry_id: uuid.UUID, system_name: str) -> Target:
    return Target(type="intake.entry", id=str(entry_id), label=system_name[:254])


def _draft_locked(intake: Intake, client: Client) -> Intake:
    current = Intake.objects.select_for_update().filter(pk=intake.pk, client=client).first()
    if current is None:
        raise NotFound()
    if current.status != Intake.Status.DRAFT:
        raise InvalidRequest("This intake was already submitted; start a new one to add entries.")
    return current


def _choice(field: str, value: str, allowed: Iterable[str], message: str) -> str:
    if value and value not in allowed:
        raise FieldInvalid(field, message)
    return value


def _access_clean(access: Iterable[dict]) -> list[dict]:
    """Each person or role once, at a known level; named staff must be active."""
    cleaned: list[dict] = []
    seen: dict[str, int] = {}
    user_ids = [str(item.get("user_id")) for item in access if item.get("user_id")]
    names = {
        str(pk): name or email
        for pk, name, email in User.objects.filter(
            pk__in=[pk for pk in user_ids if _is_uuid(pk)], is_active=True
        ).values_list("pk", "full_name", "email")
    }
    for item in access:
        level = item.get("level")
        if level not in AccessLevel.values:
            raise FieldInvalid("access_use", "Choose view, use, privileged or manage access.")
        field = ACCESS_FIELDS[AccessLevel(level)]
        if item.get("role"):
            role = str(item["role"])
            if role not in Role.values:
                raise FieldInvalid(field, f"{role!r} is not a role of Keyhold.")
            key, label, value = f"role:{role}", f"Everyone with the {role} role", {"role": role}
        else:
            user_id = str(item.get("user_id") or "")
            if user_id not in names:
                raise FieldInvalid(
                    field, "One of the staff chosen is not an active staff member any more."
                )
            key, label, value = f"user:{user_id}", names[user_id], {"user_id": user_id}
        if key in seen:
            raise FieldInvalid(field, f"{label} is listed at two levels; keep one.")
        seen[key] = level
        cleaned.append({**value, "level": int(level)})
    return cleaned


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _rotation_clean(last_rotated_on: date | None, rotation_unknown: bool) -> None:
    if last_rotated_on is not None and rotation_unknown:
        raise FieldInvalid("rotation_unknown", "Give the date or tick Unknown, not both.")
    if last_rotated_on is not None and last_rotated_on > timezone.now().date():
        raise FieldInvalid("last_rotated_on", "The last rotation cannot be in the future.")


@sensitive_variables("secret", "notes", "totp_seed")
def _sealed_sizes_check(*, secret: str, notes: str | None, totp_seed: str | None) -> None:
    if len(secret) > SECRET_MAX:
        raise FieldInvalid("secret", f"A secret is at most {SECRET_MAX} characters.")
    if notes is not None and len(notes) > NOTES_MAX:
        raise FieldInvalid("notes", f"Notes are at most {NOTES_MAX} characters.")
    if totp_seed is not None and len(totp_seed) > TOTP_SEED_MAX:
        raise FieldInvalid("totp_seed", f"A TOTP seed is at most {TOTP_SEED_MAX} characters.")


def _seal(*, client: Client, entry_id: uuid.UUID, field: str, value: str) -> bytes:
    return field_encrypt(
        client=client,
        record_type=INTAKE_ENTRY_RECORD_TYPE,
        record_id=str(entry_id),
        field=field,
        plaintext=value.encode("utf-8"),
    )


def _open(entry: IntakeEntry, field: str) -> str:
    sealed = getattr(entry, field)
    if sealed is None:
        return ""
    return field_decrypt(
        client=entry.client,
        record_type=INTAKE_ENTRY_RECORD_TYPE,
        record_id=str(entry.pk),
        field=field,
        sealed=sealed,
    ).decode("utf-8")


def intake_draft_get_or_start(*, actor: User, client: Client) -> Intake:
    """The client's intake draft, started now if it has none (one draft per client)."""
    attempt = Attempt(actor=actor, action="intake.started", client=client)
    with recording_failures(attempt):
        client = _intake_client(actor, client)
        draft = Intake.objects.filter(client=client, status=Intake.Status.DRAFT).first()
        if draft is not None:
            return draft
        try:
            with transaction.atomic():
                now = timezone.now()
                draft = Intake.objects.create(
                    client=client, created_by=actor, created_at=now, updated_at=now
                )
                record(
                    actor=actor,
                    action="intake.started",
                    client=client,
                    target=_intake_target(draft, client),
                )
        except IntegrityError:
            # Someone else started the client's draft a moment ago: use theirs.
            return Intake.objects.get(client=client, status=Intake.Status.DRAFT)
        return draft


@sensitive_variables("secret", "notes", "totp_seed")
def intake_entry_save(
    *,
    actor: User,
    intake: Intake,
    entry: IntakeEntry | None = None,
    system_name: str,
    system_kind: str = "",
    credential_type: str = "",
    username: str = "",
    access_method: str = "",
    host: str = "",
    access: Iterable[dict] = (),
    last_rotated_on: date | None = None,
    rotation_unknown: bool = False,
    received_via: str = "",
    mfa_on_path: str = "",
    secret: str = "",
    notes: str | None = None,
    totp_seed: str | None = None,
) -> IntakeEntry:
    """Add an entry to a draft, or change one; a draft may be incomplete until submit.

    The secret, notes and seed are sealed at once. An empty `secret` keeps the saved one;
    `notes` and `totp_seed` None keep theirs and an empty string removes them.
    """
    entry_id = entry.pk if entry is not None else uuid.uuid4()
    target = _entry_target(entry_id, system_name.strip())
    attempt = Attempt(actor=actor, action="intake.entry_saved", client=intake.client, target=target)
    with recording_failures(attempt):
        client = _intake_client(actor, intake.client)
        system_name = system_name.strip()
        if not system_name:
            raise FieldInvalid(
                "system_name",
                "Name the system this credential opens, such as DC01 or Microsoft 365.",
            )
        if len(system_name) > SYSTEM_NAME_MAX:
            raise FieldInvalid(
                "system_name", f"A system name is at most {SYSTEM_NAME_MAX} characters."
            )
        username = username.strip()
        if len(username) > USERNAME_MAX:
            raise FieldInvalid("username", f"A username is at most {USERNAME_MAX} characters.")
        fields = {
            "system_name": system_name,
            "system_kind": _choice(
                "system_kind", system_kind, System.Kind.values, "Choose a kind of system."
            ),
            "credential_type": _choice(
                "credential_type",
                credential_type,
                CredentialType.values,
                "Choose a credential type from the list.",
            ),
            "username": username,
            "access_method": _choice(
                "access_method",
                access_method,
                Credential.AccessMethod.values,
                "Choose an access method from the list.",
            ),
            "host": host_clean(host),
            "access": _access_clean(access),
            "last_rotated_on": last_rotated_on,
            "rotation_unknown": bool(rotation_unknown),
            "received_via": _choice(
                "received_via", received_via, Via.values, "Choose how the credential reached you."
            ),
            "mfa_on_path": _choice(
                "mfa_on_path",
                mfa_on_path,
                Credential.MfaOnPath.values,
                "Say yes, no or unknown.",
            ),
        }
        _rotation_clean(last_rotated_on, rotation_unknown)
        _sealed_sizes_check(secret=secret, notes=notes, totp_seed=totp_seed)
        with transaction.atomic():
            draft = _draft_locked(intake, client)
            now = timezone.now()
            if entry is None:
                highest = draft.entries.aggregate(highest=Max("position"))["highest"]
                current = IntakeEntry(
                    id=entry_id,
                    intake=draft,
                    client=client,
                    position=0 if highest is None else highest + 1,
                    created_at=now,
                )
                changed = sorted(name for name, value in fields.items() if value)
            else:
                current = (
                    IntakeEntry.objects.select_for_update()
                    .filter(pk=entry.pk, intake=draft, client=client)
                    .first()
                )
                if current is None:
                    raise NotFound()
                changed = sorted(n for n, v in fields.items() if getattr(current, n) != v)
            for name, value in fields.items():
                setattr(current, name, value)
            sealed = {"secret": secret or None, "notes": notes, "totp_seed": totp_seed}
            for name, value in sealed.items():
                if value is None or (entry is None and not value):
                    continue
                setattr(
                    current,
                    name,
                    _seal(client=client, entry_id=entry_id, field=name, value=value)
                    if value
                    else None,
                )
                changed.append(name)
            current.updated_at = now
            current.save()
            Intake.objects.filter(pk=draft.pk).update(updated_at=now)
            record(
                actor=actor,
                action="intake.entry_saved",
                client=client,
                target=_entry_target(current.pk, current.system_name),
                details={
                    "intake": str(draft.pk),
                    "created": entry is None,
                    "changed": sorted(set(changed)),
                },
            )
    return current


def intake_entry_remove(*, actor: User, entry: IntakeEntry) -> None:
    """Take an entry out of a draft, its sealed values with it."""
    target = _entry_target(entry.pk, entry.system_name)
    attempt = Attempt(
        actor=actor, action="intake.entry_removed", client=entry.client, target=target
    )
    with recording_failures(attempt):
        client = _intake_client(actor, entry.client)
        with transaction.atomic():
            draft = _draft_locked(entry.intake, client)
            deleted, _ = IntakeEntry.objects.filter(pk=entry.pk, intake=draft).delete()
            if not deleted:
                raise NotFound()
            Intake.objects.filter(pk=draft.pk).update(updated_at=timezone.now())
            record(
                actor=actor,
                action="intake.entry_removed",
                client=client,
                target=target,
                details={"intake": str(draft.pk)},
            )


def _entry_complete(
    *,
    entry: IntakeEntry,
    number: int,
    systems: dict[str, System],
    active_staff: set[str],
) -> None:
    """Everything submit needs of one entry, each gap named with its field."""

    def refuse(field: str, detail: str) -> None:
        raise EntryInvalid(entry=entry, number=number, field=field, detail=detail)

    system = systems.get(entry.system_name.casefold())
    if system is not None and system.status == System.Status.DECOMMISSIONED:
        refuse(
            "system_name",
            f"{system.name} is decommissioned; name the system that replaced it.",
        )
    if system is None and not entry.system_kind:
        refuse("system_kind", f"{entry.system_name} is a new system: choose what kind it is.")
    if not entry.credential_type:
        refuse("credential_type", "Choose the credential type.")
    if not entry.username and entry.credential_type != CredentialType.API_KEY:
        refuse("username", "Enter the username or account (only an API key may have none).")
    if not entry.access_method:
        refuse("access_method", "Choose how this credential is used: RDP, SSH, web portal…")
    if entry.last_rotated_on is None and not entry.rotation_unknown:
        refuse("last_rotated_on", "Give the date it was last changed, or tick Unknown.")
    if not entry.received_via:
        refuse("received_via", "Say how this credential reached you.")
    if not entry.mfa_on_path:
        refuse("mfa_on_path", "Say whether MFA protects this access path (Unknown is an answer).")
    if entry.secret is None:
        refuse("secret", "Enter the secret; this entry has none saved.")
    for item in entry.access:
        if item.get("user_id") and str(item["user_id"]) not in active_staff:
            refuse(
                ACCESS_FIELDS[AccessLevel(item["level"])],
                "A staff member chosen here is no longer active; remove them.",
            )


def _last_rotated_at(entry: IntakeEntry) -> datetime | None:
    if entry.last_rotated_on is None:
        return None
    return datetime.combine(entry.last_rotated_on, time.min, tzinfo=UTC)


def _credential_name(entry: IntakeEntry, system: System) -> str:
    who = entry.username or CredentialType(entry.credential_type).label
    return f"{system.name} · {who}"[:200]


@sensitive_variables("secret", "notes", "totp_seed")
def _credential_from_entry(
    *, actor: User, client: Client, entry: IntakeEntry, system: System
) -> Credential:
    """The vault credential of an entry; its status and source say how it arrived."""
    secret, notes, totp_seed = (
        _open(entry, "secret"),
        _open(entry, "notes"),
        _open(entry, "totp_seed"),
    )
    status = Credential.Status.ACTIVE
    if entry.received_via in INSECURE_CHANNELS:
        status = Credential.Status.EXPOSED
    elif entry.received_via == Via.INHERITED:
        status = Credential.Status.COMPROMISED
    return credential_create(
        actor=actor,
        client=client,
        name=_credential_name(entry, system),
        credential_type=entry.credential_type,
        secret=secret,
        username=entry.username,
        system=system,
        access_method=entry.access_method,
        host=entry.host,
        notes=notes,
        totp_seed=totp_seed,
        mfa_on_path=entry.mfa_on_path,
        last_rotated_at=_last_rotated_at(entry),
        source=_SOURCE_BY_VIA.get(entry.received_via, Credential.Source.INTAKE),
        status=status,
    )


def inherited_rotation_due(*, actor: User | None, client: Client, tier: str) -> datetime:
    """When an inherited credential must be rotated: within 48 hours for high privilege,
    else within the client's interval for its tier (the high-privilege interval when the
    tier has no schedule: a secret known outside the MSP is never left unscheduled)."""
    now = timezone.now()
    if tier == PrivilegeTier.HIGH:
        return now + INHERITED_HIGH_WITHIN
    policy = rotation_policy_for(actor=actor, client=client)
    days = tier_interval_days(policy=policy, tier=tier) or policy.high_privilege_days
    return now + timedelta(days=days)


def _rotation_for(
    *, actor: User, client: Client, entry: IntakeEntry, credential: Credential
) -> int:
    """Open the rotation task an insecure or inherited arrival calls for; 1 if one opened."""
    if entry.received_via in INSECURE_CHANNELS:
        rotation_task_request(
            actor=actor,
            credential=credential,
            reason=RotationReason.EXPOSED,
            due_at=timezone.now(),
            detail=f"Received by {Via(entry.received_via).label.lower()} during the intake.",
        )
        return 1
    if entry.received_via == Via.INHERITED:
        rotation_task_request(
            actor=actor,
            credential=credential,
            reason=RotationReason.INHERITED,
            due_at=inherited_rotation_due(
                actor=actor, client=client, tier=credential.privilege_tier
            ),
            detail="Inherited from the previous provider, recorded in the intake.",
        )
        return 1
    return 0


def _access_grant_missing(*, actor: User, client: Client, wanted: dict[User, int]) -> int:
    """Grant each wanted level not yet held; never lower anyone's access."""
    held = dict(
        Assignment.objects.filter(
            client=client, revoked_at__isnull=True, user__in=list(wanted)
        ).values_list("user_id", "level")
    )
    granted = 0
    for user, level in sorted(wanted.items(), key=lambda pair: str(pair[0].pk)):
        if held.get(user.pk, 0) < level:
            assignment_grant(actor=actor, client=client, user=user, level=AccessLevel(level))
            granted += 1
    return granted


def intake_submit(*, actor: User, intake: Intake) -> Intake:
    """Create every entry's system, credential, staff access and rotation task, all or nothing.

    Email and chat make a credential exposed with a rotation task due now; inherited ones
    are compromised with a task per inherited_rotation_due. Staff access is granted when the
    actor is a manager or an administrator; otherwise it waits for one (intake_access_grant).
    """
    attempt = Attempt(
        actor=actor,
        action="intake.submitted",
        client=intake.client,
        target=_intake_target(intake, intake.client),
    )
    with recording_failures(attempt):
        client = _intake_client(actor, intake.client)
        may_assign = actor.has_role(*ASSIGNING_ROLES)
        with transaction.atomic():
            draft = _draft_locked(intake, client)
            entries = list(draft.entries.all())
            if not entries:
                raise InvalidRequest("Add at least one entry before submitting the intake.")
            systems = {
                system.name.casefold(): system for system in System.objects.filter(client=client)
            }
            named = {str(i["user_id"]) for e in entries for i in e.access if i.get("user_id")}
            active_staff = {
                str(pk)
                for pk in User.objects.filter(
                    pk__in=[pk for pk in named if _is_uuid(pk)], is_active=True
                ).values_list("pk", flat=True)
            }
            counts: Counter[str] = Counter()
            for number, entry in enumerate(entries, start=1):
                _entry_complete(
                    entry=entry, number=number, systems=systems, active_staff=active_staff
                )
                key = entry.system_name.casefold()
                try:
                    if key not in systems:
                        systems[key] = system_create(
                            actor=actor,
                            client=client,
                            name=entry.system_name,
                            kind=entry.system_kind,
                        )
                        counts["systems_created"] += 1
                    credential = _credential_from_entry(
                        actor=actor, client=client, entry=entry, system=systems[key]
                    )
                except FieldInvalid:
                    raise
                except InvalidRequest as error:
                    raise EntryInvalid(
                        entry=entry, number=number, field=None, detail=error.message
                    ) from None
                counts["credentials"] += 1
                counts[credential.status] += 1
                counts["rotation_tasks"] += _rotation_for(
                    actor=actor, client=client, entry=entry, credential=credential
                )
                entry.system = systems[key]
                entry.credential = credential
                entry.save(update_fields=["system", "credential"])
            wanted = intake_access_wanted(actor=actor, access_lists=[e.access for e in entries])
            if may_assign:
                counts["access_granted"] = _access_grant_missing(
                    actor=actor, client=client, wanted=wanted
                )
            else:
                counts["access_waiting"] = len(wanted)
            now = timezone.now()
            draft.status = Intake.Status.SUBMITTED
            draft.submitted_at = now
            draft.submitted_by = actor
            draft.updated_at = now
            draft.save(update_fields=["status", "submitted_at", "submitted_by", "updated_at"])
            record(
                actor=actor,
                action="intake.submitted",
                client=client,
                target=_intake_target(draft, client),
                details={
                    "entries": len(entries),
                    "systems_created": counts["systems_created"],
                    "vault_items": counts["credentials"],
                    "exposed": counts[Credential.Status.EXPOSED],
                    "inherited": counts[Credential.Status.COMPROMISED],
                    "rotation_tasks": counts["rotation_tasks"],
                    "access_granted": counts["access_granted"],
                    "access_waiting": counts["access_waiting"],
                },
            )
    return draft


def intake_access_grant(*, actor: User, client: Client) -> int:
    """Grant the staff access the client's submitted intakes asked for and nobody has yet.

    A manager's or an administrator's act; a role grants every active member of it now.
    """
    attempt = Attempt(actor=actor, action="intake.access_granted", client=client)
    with recording_failures(attempt):
        client = client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        require_role(actor, *ASSIGNING_ROLES, action="grant the access an intake asks for")
        with transaction.atomic():
            wanted = intake_access_wanted_for_client(actor=actor, client=client)
            granted = _access_grant_missing(actor=actor, client=client, wanted=wanted)
            if not granted:
                raise InvalidRequest("All the access the intakes asked for is already in place.")
            record(
                actor=actor,
                action="intake.access_granted",
                client=client,
                target=Target(type="tenants.client", id=str(client.pk), label=client.name[:254]),
                details={"granted": granted},
            )
    return granted


# --- One-call submissions (the REST API) ------------------------------------------------------

SUBMISSION_ENTRIES_MAX = 500


def _submission_field(index: int, field: str | None) -> str:
    """`entries[2].username` for the third entry's username (the API's own field names)."""
    if field in ACCESS_FIELDS.values():
        field = "access"
    return f"entries[{index}].{field}" if field else f"entries[{index}]"


@sensitive_variables("entries", "values")
def intake_submission_create(
    *, actor: User, client_id: uuid.UUID | str, entries: Sequence[dict]
) -> Intake:
    """Start an intake, add every entry and submit it in one transaction, through the same
    services as the pages: for the API, where one call carries a whole intake and a refused
    entry must leave nothing behind.

    `entries` are intake_entry_save's keyword arguments. A refusal names the entry by its
    position from 0 and the field: FieldInvalid("entries[2].username", "Entry 3 (NAS01): …").
    A client whose draft already has entries (someone's work in progress on the pages) is
    refused rather than having that draft submitted with it.
    """
    attempt = Attempt(actor=actor, action="intake.submitted")
    with recording_failures(attempt):
        client = Client.objects.for_user(actor, AccessLevel.VIEW).filter(pk=client_id).first()
        if client is None:
            raise NotFound()
        attempt.client = client
        # Refusals here are recorded and survive; inside the transaction below they would
        # roll back with everything else.
        client = _intake_client(actor, client)
        if not entries:
            raise FieldInvalid("entries", "Send at least one entry.")
        if len(entries) > SUBMISSION_ENTRIES_MAX:
            raise FieldInvalid(
                "entries", f"Send at most {SUBMISSION_ENTRIES_MAX} entries in one intake."
            )
        with transaction.atomic():
            draft = intake_draft_get_or_start(actor=actor, client=client)
            attempt.target = _intake_target(draft, client)
            waiting = draft.entries.count()
            if waiting:
                raise InvalidRequest(
                    f"{client.name} has an intake in progress in Keyhold with {waiting} "
                    "entries; submit or remove them there before sending an intake here."
                )
            saved: list[uuid.UUID] = []
            for index, values in enumerate(entries):
                try:
                    saved.append(intake_entry_save(actor=actor, intake=draft, **values).pk)
                except FieldInvalid as error:
                    name = str(values.get("system_name", "")).strip()[:SYSTEM_NAME_MAX]
                    label = f"Entry {index + 1} ({name})" if name else f"Entry {index + 1}"
                    raise FieldInvalid(
                        _submission_field(index, error.field), f"{label}: {error.message}"
                    ) from None
            try:
                return intake_submit(actor=actor, intake=draft)
            except EntryInvalid as error:
                raise FieldInvalid(
                    _submission_field(saved.index(error.entry_id), error.field), error.message
                ) from None
