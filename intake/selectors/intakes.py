"""Reads of a client's intakes and its onboarding checklist, scoped to the actor.

Intakes are reached through Client.objects.for_user: the draft pages at manage level, the
onboarding checklist (counts only, never a value) at view level. Sealed fields are never
read here beyond "is something saved".
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, TextChoices

from accounts.models import User
from config.errors import NotFound
from intake.models import INSECURE_CHANNELS, Intake, IntakeEntry, TakeoverStep
from tenants.models import AccessLevel, Assignment, Client, System
from tenants.selectors import client_get_for_user
from vault.models import Credential, CredentialType


def _managed(actor: User) -> QuerySet[Client]:
    return Client.objects.for_user(actor, AccessLevel.MANAGE)


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def intake_staff_choices(*, actor: User, client: Client) -> list[User]:
    """Active staff an entry may name as needing access (names and emails only)."""
    return list(
        User.objects.filter(is_active=True)
        .only("id", "full_name", "email")
        .order_by("full_name", "email")
    )


def intake_system_names(*, actor: User, client: Client) -> list[str]:
    """The names of the client's active systems, offered while typing an entry's system."""
    return list(
        System.objects.for_user(actor, AccessLevel.MANAGE)
        .filter(client=client, status=System.Status.ACTIVE)
        .order_by("name")
        .values_list("name", flat=True)
    )


def intake_draft_for_client(*, actor: User, client: Client) -> Intake | None:
    """The client's intake draft, if one was started."""
    return Intake.objects.filter(
        client=client, client__in=_managed(actor), status=Intake.Status.DRAFT
    ).first()


def intake_get_for_client(*, actor: User, client: Client, intake_id: uuid.UUID | str) -> Intake:
    intake = Intake.objects.filter(client=client, client__in=_managed(actor), pk=intake_id).first()
    if intake is None:
        raise NotFound()
    return intake


def intake_entry_get_for_client(
    *, actor: User, client: Client, entry_id: uuid.UUID | str
) -> IntakeEntry:
    """An entry of the client's draft; a submitted intake's entries are no longer edited."""
    entry = (
        IntakeEntry.objects.select_related("intake", "client")
        .filter(
            client=client,
            client__in=_managed(actor),
            pk=entry_id,
            intake__status=Intake.Status.DRAFT,
        )
        .first()
    )
    if entry is None:
        raise NotFound()
    return entry


@dataclass(frozen=True)
class AccessRow:
    who: str
    level: AccessLevel


@dataclass(frozen=True)
class EntryRow:
    """An entry as the draft page shows it: its fields, who needs access, what is saved."""

    number: int
    entry: IntakeEntry
    access: list[AccessRow]

    @property
    def has_secret(self) -> bool:
        return self.entry.secret is not None

    @property
    def has_notes(self) -> bool:
        return self.entry.notes is not None

    @property
    def has_totp_seed(self) -> bool:
        return self.entry.totp_seed is not None

    @property
    def insecure(self) -> bool:
        return self.entry.received_via in INSECURE_CHANNELS

    @property
    def kind_label(self) -> str:
        return _label(System.Kind, self.entry.system_kind)

    @property
    def type_label(self) -> str:
        return _label(CredentialType, self.entry.credential_type)

    @property
    def method_label(self) -> str:
        return _label(Credential.AccessMethod, self.entry.access_method)

    @property
    def mfa_label(self) -> str:
        return _MFA_LABELS.get(self.entry.mfa_on_path, "")


_MFA_LABELS = {
    Credential.MfaOnPath.YES: "Yes",
    Credential.MfaOnPath.NO: "No",
    Credential.MfaOnPath.UNKNOWN: "Unknown",
}


def _label(choices: type[TextChoices], value: str) -> str:
    return choices(value).label if value in choices.values else ""


def intake_entry_rows(*, actor: User, intake: Intake) -> list[EntryRow]:
    """The intake's entries in order, with the names of the staff they ask access for."""
    entries = list(
        IntakeEntry.objects.filter(intake=intake, client__in=_managed(actor)).select_related(
            "credential"
        )
    )
    ids = {
        pk
        for entry in entries
        for item in entry.access
        if item.get("user_id") and (pk := _uuid_or_none(item["user_id"]))
    }
    names = {
        str(pk): name or email
        for pk, name, email in User.objects.filter(pk__in=ids).values_list(
            "pk", "full_name", "email"
        )
    }
    rows = []
    for number, entry in enumerate(entries, start=1):
        access = [
            AccessRow(
                who=f"Everyone with the {item['role']} role"
                if item.get("role")
                else names.get(str(item.get("user_id")), "A former staff member"),
                level=AccessLevel(item["level"]),
            )
            for item in sorted(entry.access, key=lambda item: -item["level"])
        ]
        rows.append(EntryRow(number=number, entry=entry, access=access))
    return rows


def intake_insecure_entries(*, actor: User, intake: Intake) -> list[IntakeEntry]:
    """The entries of an intake received by email or chat, for the client notice."""
    return list(
        IntakeEntry.objects.filter(
            intake=intake, client__in=_managed(actor), received_via__in=INSECURE_CHANNELS
        )
    )


def intake_access_wanted(*, actor: User, access_lists: Iterable[list[dict]]) -> dict[User, int]:
    """The active staff the access requests name, each at the highest level asked.

    A role stands for every active member of it now.
    """
    by_user: dict[uuid.UUID, int] = {}
    by_role: dict[str, int] = {}
    for access in access_lists:
        for item in access:
            level = int(item["level"])
            if item.get("role"):
                by_role[item["role"]] = max(level, by_role.get(item["role"], 0))
            elif pk := _uuid_or_none(item.get("user_id", "")):
                by_user[pk] = max(level, by_user.get(pk, 0))
    if not by_user and not by_role:
        return {}
    users = (
        User.objects.filter(is_active=True)
        .filter(Q(pk__in=by_user) | Q(groups__name__in=by_role))
        .distinct()
        .prefetch_related("groups")
    )
    wanted: dict[User, int] = {}
    for user in users:
        levels = [by_user.get(user.pk, 0)]
        levels += [level for role, level in by_role.items() if role in user.role_names]
        wanted[user] = max(levels)
    return wanted


def _submitted_access(client: Client) -> QuerySet[IntakeEntry]:
    return IntakeEntry.objects.filter(
        client=client, intake__status=Intake.Status.SUBMITTED
    ).values_list("access", flat=True)


def intake_access_wanted_for_client(*, actor: User, client: Client) -> dict[User, int]:
    """The staff access the client's submitted intakes ask for."""
    access_lists = _submitted_access(client).filter(client__in=_managed(actor))
    return intake_access_wanted(actor=actor, access_lists=list(access_lists))


@dataclass(frozen=True)
class ChecklistItem:
    """One line of the onboarding checklist: `count` of `total` done, and what that means."""

    key: str
    label: str
    done: bool
    count: int
    total: int
    summary: str


@dataclass(frozen=True)
class OnboardingChecklist:
    items: list[ChecklistItem]
    intakes: list[Intake]
    access_missing: int
    takeover_done: int
    takeover_total: int

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.items if item.done)

    @property
    def draft(self) -> Intake | None:
        return next((i for i in self.intakes if i.status == Intake.Status.DRAFT), None)

    @property
    def submitted(self) -> list[Intake]:
        return [i for i in self.intakes if i.status == Intake.Status.SUBMITTED]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def onboarding_checklist_for_client(*, actor: User, client: Client) -> OnboardingChecklist:
    """The client's onboarding progress from the vault, tenants and rotation data.

    A constant number of queries whatever the client's size: aggregates, one read of the
    submitted access requests and one of the staff they name.
    """
    client = client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.VIEW)
    live = Credential.objects.filter(client=client).exclude(status=Credential.Status.ARCHIVED)
    has_credential = Exists(live.filter(system=OuterRef("pk")))
    systems = (
        System.objects.filter(client=client, status=System.Status.ACTIVE)
        .annotate(has_credential=has_credential)
        .aggregate(total=Count("pk"), covered=Count("pk", filter=Q(has_credential=True)))
    )
    at_risk = Q(status__in=[Credential.Status.EXPOSED, Credential.Status.COMPROMISED]) | Q(
        source=Credential.Source.INHERITED
    )
    # Rotated since it arrived: its secret changed after the credential was created.
    rotated = Q(last_rotated_at__gt=F("created_at"))
    credentials = live.aggregate(
        total=Count("pk"),
        mfa_known=Count("pk", filter=~Q(mfa_on_path=Credential.MfaOnPath.UNKNOWN)),
        at_risk=Count("pk", filter=at_risk),
        at_risk_rotated=Count("pk", filter=at_risk & rotated),
    )
    wanted = intake_access_wanted(actor=actor, access_lists=list(_submitted_access(client)))
    held = dict(
        Assignment.objects.filter(
            client=client, revoked_at__isnull=True, user__in=list(wanted)
        ).values_list("user_id", "level")
        if wanted
        else ()
    )
    in_place = sum(1 for user, level in wanted.items() if held.get(user.pk, 0) >= level)
    intakes = list(
        Intake.objects.filter(client=client)
        .annotate(
            entry_count=Count("entries"),
            insecure_count=Count("entries", filter=Q(entries__received_via__in=INSECURE_CHANNELS)),
        )
        .order_by("-created_at")
    )
    steps = TakeoverStep.objects.filter(client=client).aggregate(
        total=Count("pk"), done=Count("pk", filter=Q(status=TakeoverStep.Status.DONE))
    )

    n_systems, covered = systems["total"], systems["covered"]
    n_credentials = credentials["total"]
    risky, risky_rotated = credentials["at_risk"], credentials["at_risk_rotated"]
    items = [
        ChecklistItem(
            key="systems",
            label="Systems documented",
            done=n_systems > 0,
            count=n_systems,
            total=n_systems,
            summary=_plural(n_systems, "system documented", "systems documented")
            if n_systems
            else "No systems documented yet.",
        ),
        ChecklistItem(
            key="credentials",
            label="Credentials collected",
            done=n_systems > 0 and covered == n_systems,
            count=covered,
            total=n_systems,
            summary=f"{_plural(n_credentials, 'credential', 'credentials')} collected; "
            f"{covered} of {n_systems} systems have at least one.",
        ),
        ChecklistItem(
            key="access",
            label="Access assigned",
            done=bool(wanted) and in_place == len(wanted),
            count=in_place,
            total=len(wanted),
            summary=f"{in_place} of {_plural(len(wanted), 'staff member', 'staff members')} "
            "named in submitted intakes have the access asked for."
            if wanted
            else "No submitted intake names who needs access yet.",
        ),
        ChecklistItem(
            key="rotated",
            label="Exposed and inherited credentials rotated",
            done=risky_rotated == risky,
            count=risky_rotated,
            total=risky,
            summary=f"{risky_rotated} of {risky} exposed or inherited credentials rotated."
            if risky
            else "No exposed or inherited credentials.",
        ),
        ChecklistItem(
            key="mfa",
            label="MFA status known",
            done=n_credentials > 0 and credentials["mfa_known"] == n_credentials,
            count=credentials["mfa_known"],
            total=n_credentials,
            summary=f"Known for {credentials['mfa_known']} of "
            f"{_plural(n_credentials, 'credential', 'credentials')}."
            if n_credentials
            else "No credentials yet.",
        ),
    ]
    return OnboardingChecklist(
        items=items,
        intakes=intakes,
        access_missing=len(wanted) - in_place,
        takeover_done=steps["done"],
        takeover_total=steps["total"],
    )


# --- Submitted intakes for the REST API ------------------------------------------------------


def intake_submission_list(*, actor: User, client_id: uuid.UUID | None = None) -> QuerySet[Intake]:
    """Submitted intakes of the clients the actor sees, newest first, with entry counts; one
    query whatever their number (the API's list)."""
    intakes = Intake.objects.filter(
        client__in=Client.objects.for_user(actor, AccessLevel.VIEW),
        status=Intake.Status.SUBMITTED,
    )
    if client_id is not None:
        intakes = intakes.filter(client_id=client_id)
    return (
        intakes.select_related("client", "submitted_by")
        .annotate(
            entry_count=Count("entries"),
            insecure_count=Count("entries", filter=Q(entries__received_via__in=INSECURE_CHANNELS)),
        )
        .order_by("-submitted_at", "-id")
    )


def intake_submission_get(*, actor: User, intake_id: uuid.UUID | str) -> Intake:
    """One submitted intake with its entries' metadata (sealed fields never read); NotFound
    when missing, a draft, or of a client the actor does not see."""
    entries = (
        IntakeEntry.objects.defer("secret", "notes", "totp_seed")
        .annotate(credential_status=F("credential__status"))
        .order_by("position", "created_at")
    )
    intake = (
        intake_submission_list(actor=actor)
        .filter(pk=intake_id)
        .prefetch_related(Prefetch("entries", queryset=entries))
        .first()
    )
    if intake is None:
        raise NotFound()
    return intake
