"""The quarterly hygiene audit: coverage of client systems and the health of credentials.

Every credential check asks a CredentialInventory. The audit app never imports the vault
(the vault uses audit, not the reverse): the vault registers its inventory with
credential_inventory_register() when its app is ready. Without a registered inventory,
NoCredentialInventory answers that there is no credential data, and the page says "no
credential data yet" rather than showing a reassuring zero. The system and client side of
coverage reads tenants data either way.

The audit checks today's data: Keyhold keeps no history of systems, so a quarter's audit
is the state of things when it is looked at and signed.
"""

import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from accounts.models import Role, User
from audit.departures import (
    DEPARTED_ACCESS,
    OPEN_CASE_DAYS,
    OPEN_CASES,
    OffboardingState,
    departed_access_q,
    offboarding_state,
)
from audit.models import AuditEvent, ReviewSignOff
from audit.reviews import Quarter, ReviewScope, SignOffState, require_reviewer, sign_off_state
from config.errors import NotFound
from tenants.models import AccessLevel, Client, System

ROWS_SHOWN = 100


class CheckStatus:
    OK = "ok"
    FINDINGS = "findings"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class CredentialRow:
    """One credential as a check reports it: names and dates only, never a secret."""

    id: str
    label: str
    client_id: uuid.UUID
    system_id: uuid.UUID | None = None
    detail: str = ""


@dataclass(frozen=True)
class UncoveredSystem:
    """An active system of a client with no active credential in the vault."""

    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    kind: str


@dataclass(frozen=True)
class ClientCredentialCounts:
    """One client's active credentials, those with MFA on their access path, and how many
    each credential check finds (keyed by the check's key, CREDENTIAL_CHECKS)."""

    client_id: uuid.UUID
    total: int
    protected: int
    found: dict[str, int]


# The checks the inventory answers, by key: what each finds is described in hygiene_audit.
CREDENTIAL_CHECKS = ("stale", "unused", "orphaned", "shared", "inherited_unrotated")


class CredentialInventory(Protocol):
    """What the hygiene audit needs to know about credentials.

    The audit has already scoped `client_ids` to the viewer. A large MSP has hundreds of
    thousands of credentials, so the audit asks for the counts of every check in one pass
    (`counts`) and then for the first rows of a check only from the few clients that hold
    them (`rows`), never for every finding. `available` is False while there is no
    credential data at all, which the audit reports as such instead of as zero.
    """

    available: bool

    def systems_without_credentials(
        self, *, client_ids: Collection[uuid.UUID]
    ) -> list[UncoveredSystem]:
        """Active systems of these clients without one active credential, by client name,
        then system name."""
        ...

    def counts(
        self, *, client_ids: Collection[uuid.UUID], as_of: datetime, since: datetime
    ) -> list[ClientCredentialCounts]:
        """Per client with active credentials: totals and each check's count.

        Stale: rotation due before `as_of`. Unused: added before `since` and not opened
        since. Orphaned: on a decommissioned system. Shared: a generic team login.
        Inherited unrotated: imported from a previous provider, secret never changed.
        """
        ...

    def rows(
        self,
        check: str,
        *,
        client_ids: Collection[uuid.UUID],
        as_of: datetime,
        since: datetime,
        limit: int,
    ) -> list[CredentialRow]:
        """The first `limit` credentials `check` finds among `client_ids`, by client name,
        then credential name."""
        ...


class NoCredentialInventory:
    """The inventory when none is registered: it knows of no credential data at all."""

    available = False

    def systems_without_credentials(
        self, *, client_ids: Collection[uuid.UUID]
    ) -> list[UncoveredSystem]:
        return []

    def counts(
        self, *, client_ids: Collection[uuid.UUID], as_of: datetime, since: datetime
    ) -> list[ClientCredentialCounts]:
        return []

    def rows(
        self,
        check: str,
        *,
        client_ids: Collection[uuid.UUID],
        as_of: datetime,
        since: datetime,
        limit: int,
    ) -> list[CredentialRow]:
        return []


_registered_inventory: CredentialInventory | None = None


def credential_inventory_register(inventory: CredentialInventory | None) -> None:
    """Make `inventory` the one the audit asks (the vault's, from its AppConfig.ready).

    None removes it again, and the audit goes back to "no credential data yet".
    """
    global _registered_inventory
    _registered_inventory = inventory


def current_inventory() -> CredentialInventory:
    """The registered credential inventory, or NoCredentialInventory when there is none."""
    if _registered_inventory is None:
        return NoCredentialInventory()
    return _registered_inventory


@dataclass
class CheckRow:
    client: str
    subject: str
    detail: str = ""
    url: str = ""


@dataclass
class HygieneCheck:
    key: str
    title: str
    explanation: str
    status: str
    count: int = 0
    rows: list[CheckRow] = field(default_factory=list)
    signed: dict | None = None

    @property
    def shown_rows(self) -> list[CheckRow]:
        return self.rows[:ROWS_SHOWN]

    @property
    def more_rows(self) -> int:
        return max(self.count - len(self.shown_rows), 0)

    @property
    def needs_disposition(self) -> bool:
        return self.status == CheckStatus.FINDINGS


@dataclass
class ClientCoverage:
    client: Client
    active_systems: int
    decommissioned_systems: int
    credentials: int | None
    covered_systems: int | None
    mfa: ClientCredentialCounts | None = None

    @property
    def coverage_percent(self) -> int | None:
        if self.covered_systems is None or not self.active_systems:
            return None
        return round(100 * self.covered_systems / self.active_systems)

    @property
    def mfa_percent(self) -> int | None:
        if self.mfa is None or not self.mfa.total:
            return None
        return round(100 * self.mfa.protected / self.mfa.total)


@dataclass
class HygieneAudit:
    quarter: Quarter
    scope: ReviewScope
    checks: list[HygieneCheck]
    coverage: list[ClientCoverage]
    credential_data: bool
    signed: SignOffState
    can_sign: bool
    quarter_is_signable: bool

    @property
    def open_findings(self) -> list[HygieneCheck]:
        return [check for check in self.checks if check.needs_disposition]

    def query(self, **params: Any) -> str:
        values = {
            "quarter": self.quarter.param,
            "client": self.scope.client.slug if self.scope.client else "",
            **params,
        }
        return urlencode({key: value for key, value in values.items() if value})

    def snapshot(self) -> list[dict]:
        """The checks as they stand, in the shape a sign-off keeps (rows cut to 50)."""
        return [
            {
                "key": check.key,
                "title": check.title,
                "status": check.status,
                "count": check.count,
                "rows": [
                    {"client": row.client, "subject": row.subject, "detail": row.detail}
                    for row in check.rows[:50]
                ],
            }
            for check in self.checks
        ]


def quarter_is_signable(quarter: Quarter, now: datetime) -> bool:
    """Today's data can stand for this quarter or the one just ended, not for older ones."""
    current = Quarter.containing(now)
    return quarter in (current, current.previous())


def _scope(actor: User, client_slug: str) -> ReviewScope:
    """The viewer's clients with their system counts: one query."""
    clients = list(
        Client.objects.for_user(actor, AccessLevel.VIEW)
        .annotate(
            active_systems=Count("systems", filter=Q(systems__status=System.Status.ACTIVE)),
            decommissioned_systems=Count(
                "systems", filter=Q(systems__status=System.Status.DECOMMISSIONED)
            ),
        )
        .order_by("name")
    )
    scope = ReviewScope(clients=clients, staff=[])
    if client_slug:
        scope.client = next((each for each in clients if each.slug == client_slug), None)
        if scope.client is None:
            raise NotFound("This client does not exist or you are not assigned to it.")
    return scope


def _credential_rows(rows: list[CredentialRow], names: dict[uuid.UUID, str]) -> list[CheckRow]:
    return [
        CheckRow(client=names.get(row.client_id, ""), subject=row.label, detail=row.detail)
        for row in rows
    ]


def _open_case_rows(offboarding: OffboardingState, now: datetime) -> list[CheckRow]:
    """Offboarding cases still open after OPEN_CASE_DAYS, oldest first."""
    cutoff = now - timedelta(days=OPEN_CASE_DAYS)
    return [
        CheckRow(
            client=case.client_name or "Across clients",
            subject=f"{case.kind_label}: {case.name}",
            detail=f"{case.status_label} since {case.opened_at:%Y-%m-%d} "
            f"({(now - case.opened_at).days} days)",
            url=case.url,
        )
        for case in sorted(offboarding.open_cases, key=lambda case: case.opened_at)
        if case.opened_at < cutoff
    ]


def _departed_access_rows(
    offboarding: OffboardingState, client_ids: list[uuid.UUID], names: dict[uuid.UUID, str]
) -> list[CheckRow]:
    """Access after departure, per person, client and action: one GROUP BY, none while nobody
    has departed. Events of no client (sign-ins) count with the viewer's clients."""
    if not offboarding.departures:
        return []
    # Judged from each person's first departure, as departed_access_q does.
    departed = {
        each.user_id: each
        for each in sorted(offboarding.departures, key=lambda each: each.confirmed_at, reverse=True)
    }
    rows = (
        AuditEvent.objects.filter(Q(client_id__in=client_ids) | Q(client_id__isnull=True))
        .filter(departed_access_q(offboarding.departures))
        .values_list("actor_user_id", "client_id", "action")
        .annotate(total=Count("sequence"), last=Max("occurred_at"))
        .order_by("-last")
    )
    return [
        CheckRow(
            client=names.get(client_id, "No client (sign-in)"),
            subject=f"{departed[user_id].name}: {action}",
            detail=f"{total} time{'s' if total != 1 else ''} after leaving on "
            f"{departed[user_id].confirmed_at:%Y-%m-%d}, last {last:%Y-%m-%d %H:%M} UTC",
            url=departed[user_id].url,
        )
        for user_id, client_id, action, total, last in rows
    ]


def _check(
    key: str,
    title: str,
    explanation: str,
    rows: list[CheckRow] | None,
    total: int | None = None,
) -> HygieneCheck:
    """A check with rows, or None rows for "no credential data yet". `total` counts what
    was found when `rows` holds only the first of it."""
    if rows is None:
        return HygieneCheck(key, title, explanation, CheckStatus.NO_DATA)
    count = len(rows) if total is None else total
    status = CheckStatus.FINDINGS if count else CheckStatus.OK
    return HygieneCheck(key, title, explanation, status, count=count, rows=rows)


def hygiene_audit(
    *,
    actor: User,
    quarter: Quarter,
    client_slug: str = "",
    inventory: CredentialInventory | None = None,
) -> HygieneAudit:
    """The quarter's hygiene checks over the viewer's clients (or one of them)."""
    require_reviewer(actor)
    inventory = inventory if inventory is not None else current_inventory()
    scope = _scope(actor, client_slug)
    # Offboarded clients have nothing left to keep healthy.
    in_scope = [
        each
        for each in ([scope.client] if scope.client else scope.clients)
        if each.status != Client.Status.OFFBOARDED
    ]
    client_ids = [each.pk for each in in_scope]
    # The same clients as a subquery for the queries over all of them: a whole MSP's 5,000
    # ids as parameters cost more to send and plan than the subquery's join.
    if scope.client:
        scoped: Collection[uuid.UUID] = client_ids
    else:
        scoped = (
            Client.objects.for_user(actor, AccessLevel.VIEW)
            .exclude(status=Client.Status.OFFBOARDED)
            .values_list("pk", flat=True)
        )
    names = {each.pk: each.name for each in in_scope}
    now = timezone.now()
    has_data = inventory.available

    unused_days = settings.AUDIT_UNUSED_DAYS
    window = {"as_of": now, "since": now - timedelta(days=unused_days)}
    uncovered_systems: list[CheckRow] | None = None
    uncovered_clients: list[CheckRow] | None = None
    counts: dict[uuid.UUID, ClientCredentialCounts] = {}
    uncovered_by_client: Counter = Counter()
    if has_data:
        counts = {row.client_id: row for row in inventory.counts(client_ids=scoped, **window)}
        uncovered_systems = []
        for system in inventory.systems_without_credentials(client_ids=scoped):
            uncovered_by_client[system.client_id] += 1
            uncovered_systems.append(
                CheckRow(
                    client=names[system.client_id],
                    subject=system.name,
                    detail=System.Kind(system.kind).label,
                )
            )
        uncovered_clients = [
            CheckRow(client=each.name, subject=each.name, detail=each.get_status_display())
            for each in in_scope
            if each.pk not in counts
        ]

    def credential_check(key: str, title: str, explanation: str) -> HygieneCheck:
        if not has_data:
            return _check(key, title, explanation, None)
        total = sum(row.found[key] for row in counts.values())
        # Ask only the first clients (by name, as the rows are sorted) that hold findings.
        holding, enough = [], 0
        for client_id in client_ids:
            found = counts[client_id].found[key] if client_id in counts else 0
            if found:
                holding.append(client_id)
                enough += found
                if enough >= ROWS_SHOWN:
                    break
        rows = (
            inventory.rows(key, client_ids=holding, limit=ROWS_SHOWN, **window) if holding else []
        )
        return _check(key, title, explanation, _credential_rows(rows, names), total)

    mfa_gaps = None
    if has_data:
        mfa_gaps = [
            CheckRow(
                client=names[row.client_id],
                subject=f"{row.total - row.protected} of {row.total} without MFA",
            )
            for row in counts.values()
            if row.protected < row.total
        ]
    offboarding = offboarding_state(
        actor=actor, client_id=scope.client.pk if scope.client else None
    )
    checks = [
        _check(
            "clients_without_systems",
            "Clients without documented systems",
            "No active system is recorded for the client, so coverage cannot be judged.",
            [
                CheckRow(client=each.name, subject=each.name, detail=each.get_status_display())
                for each in in_scope
                if not each.active_systems
            ],
        ),
        _check(
            "systems_uncovered",
            "Active systems without a credential",
            "An active system of the client has no credential in the vault.",
            uncovered_systems,
        ),
        _check(
            "clients_uncovered",
            "Clients without credentials",
            "The client has no active credential in the vault.",
            uncovered_clients,
        ),
        credential_check(
            "stale",
            "Stale credentials",
            "Not rotated within their rotation interval.",
        ),
        credential_check(
            "unused",
            "Unused credentials",
            f"Not revealed, checked out or opened in the last {unused_days} days.",
        ),
        credential_check(
            "orphaned",
            "Orphaned credentials",
            "Still active although their system is decommissioned.",
        ),
        credential_check(
            "shared",
            "Shared credentials",
            "Generic team logins that should become named accounts.",
        ),
        _check(
            "mfa_coverage",
            "MFA coverage gaps",
            "Clients with credentials whose access path is not protected by MFA.",
            mfa_gaps,
        ),
        credential_check(
            "inherited_unrotated",
            "Inherited credentials not yet rotated",
            "Imported from a previous provider and never rotated since.",
        ),
        _check(
            OPEN_CASES,
            f"Offboarding cases open for more than {OPEN_CASE_DAYS} days",
            "A departure or client exit that is not closed: rotation tasks are still open or "
            "nobody accepted the remaining risk.",
            _open_case_rows(offboarding, now),
        ),
        _check(
            DEPARTED_ACCESS,
            "Access after departure",
            "A departed staff member signed in, passed MFA, opened a credential or created a "
            "share link after their departure was confirmed.",
            _departed_access_rows(offboarding, client_ids, names),
        ),
    ]
    coverage = [
        ClientCoverage(
            client=each,
            active_systems=each.active_systems,
            decommissioned_systems=each.decommissioned_systems,
            credentials=(counts[each.pk].total if each.pk in counts else 0) if has_data else None,
            covered_systems=None,
            mfa=counts.get(each.pk),
        )
        for each in in_scope
    ]
    if has_data:
        for row in coverage:
            row.covered_systems = row.active_systems - uncovered_by_client[row.client.pk]

    signed = sign_off_state(
        actor=actor,
        scope=scope,
        kind=ReviewSignOff.Kind.HYGIENE_AUDIT,
        period_start=quarter.start,
    )
    if signed.readable:
        kept = {entry.get("key"): entry for entry in signed.sign_off.findings}
        for check in checks:
            check.signed = kept.get(check.key)
    signable = quarter_is_signable(quarter, now)
    return HygieneAudit(
        quarter=quarter,
        scope=scope,
        checks=checks,
        coverage=coverage,
        credential_data=has_data,
        signed=signed,
        can_sign=actor.has_role(Role.MANAGER) and signable and not signed.exists,
        quarter_is_signable=signable,
    )
