"""Reads of the monthly access review and of past sign-offs, scoped to the viewer.

A month can hold ~400,000 events, so the shape is fixed by cost. Denied attempts and MFA
failures are counted by one GROUP BY on the (outcome | action, occurred_at) indexes. Only
the month's successful credential openings (about a tenth of the log) are read into
Python, once, in time order, as a stream: that pass counts them and runs the checks SQL
expresses badly (the sliding bulk window, business hours in each client's zone, the
assignment history at the moment of access, the person's address history). Every read is
a fixed number of queries, whatever the size of the month.

Scope: managers and auditors see the events of the clients they are assigned to, plus the
events that belong to no client (sign-ins, MFA failures). Query parameters only narrow it.
"""

import calendar
import hashlib
import json
import uuid
import zoneinfo
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, FloatField, Func, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import require_role
from audit.catalogue import ACTIONS, CREDENTIAL_ACCESS_ACTIONS
from audit.charts import BarChart, bar_chart
from audit.departures import (
    DEPARTED_ACCESS,
    OffboardingState,
    OpenCase,
    departed_access_q,
    offboarding_state,
)
from audit.models import AuditEvent, Outcome, ReviewSignOff
from config.errors import NotFound
from tenants.models import AccessLevel, Assignment, Client

REVIEW_ROLES = (Role.MANAGER, Role.AUDITOR)
EVENTS_PER_PAGE = 50
MFA_FAILED = "mfa.verification_failed"
REVEALED = "credential.revealed"
CHECKED_OUT = "credential.checked_out"
EMERGENCY_OPENED = "credential.emergency_opened"
TICKETED_ACTIONS = (REVEALED, CHECKED_OUT)
NO_STAFF_KEY = ""
NO_STAFF_LABEL = "No staff account (sign-in attempts, API, system)"


class Disposition:
    """What the signing manager decided about a finding."""

    EXPECTED = "expected"
    INVESTIGATING = "investigating"
    INCIDENT = "incident"
    choices = [
        (EXPECTED, "Expected"),
        (INVESTIGATING, "Investigating"),
        (INCIDENT, "Incident"),
    ]
    values = frozenset(value for value, _ in choices)
    labels = dict(choices)


# Periods


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in UTC: the unit of the access review."""

    year: int
    month: int

    @classmethod
    def containing(cls, moment: datetime) -> "Month":
        moment = moment.astimezone(UTC)
        return cls(moment.year, moment.month)

    @property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        """The first day after the month."""
        return self.next().start

    @property
    def start_at(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return self.next().start_at

    @property
    def param(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{calendar.month_name[self.month]} {self.year}"

    def next(self) -> "Month":
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> "Month":
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def is_over(self, now: datetime) -> bool:
        return now >= self.end_at


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter in UTC: the unit of the hygiene audit."""

    year: int
    number: int

    @classmethod
    def containing(cls, moment: datetime) -> "Quarter":
        moment = moment.astimezone(UTC)
        return cls(moment.year, (moment.month - 1) // 3 + 1)

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> date:
        return self.next().start

    @property
    def param(self) -> str:
        return f"{self.year:04d}-Q{self.number}"

    @property
    def label(self) -> str:
        return f"Q{self.number} {self.year}"

    def next(self) -> "Quarter":
        return Quarter(self.year + self.number // 4, self.number % 4 + 1)

    def previous(self) -> "Quarter":
        return Quarter(self.year - (self.number == 1), (self.number - 2) % 4 + 1)


# Finding kinds


@dataclass(frozen=True)
class FindingKind:
    key: str
    title: str
    explanation: str
    # "sql": its events are one filter on the log; "stream": found by the streamed pass.
    source: str


def finding_kinds() -> list[FindingKind]:
    """The review's findings in the order a manager reads them; wording follows settings."""
    start, end = settings.BUSINESS_HOURS_START, settings.BUSINESS_HOURS_END
    return [
        FindingKind(
            "no_ticket",
            "Reveals and checkouts without a ticket",
            "A secret was revealed or checked out with no ticket reference.",
            "sql",
        ),
        FindingKind(
            "bulk",
            "Bulk access",
            f"Someone opened more than {settings.AUDIT_BULK_ACCESS_COUNT} different "
            f"credentials within {settings.AUDIT_BULK_ACCESS_MINUTES} minutes.",
            "stream",
        ),
        FindingKind(
            "unassigned",
            "Access without an assignment",
            "Someone opened a credential of a client they were not assigned to at that moment.",
            "stream",
        ),
        FindingKind(
            DEPARTED_ACCESS,
            "Access after departure",
            "A departed staff member signed in, passed MFA, opened a credential or created a "
            "share link after their departure was confirmed.",
            "sql",
        ),
        FindingKind(
            "off_hours",
            "Access outside business hours",
            f"Opened before {start:02d}:00 or from {end:02d}:00, or at a weekend, in the "
            "client's business time zone.",
            "stream",
        ),
        FindingKind(
            "emergency",
            "Emergency openings",
            "A sealed emergency credential was opened.",
            "sql",
        ),
        FindingKind(
            "denied",
            "Denied attempts",
            "Something was refused: a sign-in, a reveal, an action without permission "
            "(MFA failures are counted on their own).",
            "sql",
        ),
        FindingKind(
            "mfa_failed",
            "MFA failures",
            "A wrong, replayed or throttled MFA code was refused.",
            "sql",
        ),
        FindingKind(
            "new_ip",
            "Access from a new address",
            "Someone opened a credential from an address they had not opened credentials "
            f"from in the {settings.AUDIT_NEW_IP_LOOKBACK_DAYS} days before.",
            "stream",
        ),
    ]


STREAM_KEYS = frozenset({"bulk", "unassigned", "off_hours", "new_ip"})


# Results


@dataclass
class Share:
    """One person's (or client's) part of a finding or total."""

    key: str
    name: str
    count: int


@dataclass
class Finding:
    kind: FindingKind
    count: int
    by_technician: list[Share]
    events_query: str = ""
    signed: dict | None = None

    @property
    def key(self) -> str:
        return self.kind.key

    @property
    def title(self) -> str:
        return self.kind.title

    @property
    def top_technicians(self) -> list[Share]:
        return self.by_technician[:3]

    @property
    def more_technicians(self) -> int:
        return max(len(self.by_technician) - 3, 0)

    @property
    def signed_disposition_label(self) -> str:
        disposition = (self.signed or {}).get("disposition") or ""
        return Disposition.labels.get(disposition, "")


@dataclass
class TechnicianTotal:
    key: str
    name: str
    reveals: int = 0
    checkouts: int = 0
    emergency: int = 0
    no_ticket: int = 0
    flagged: int = 0
    denied: int = 0
    mfa_failed: int = 0

    @property
    def opened(self) -> int:
        return self.reveals + self.checkouts + self.emergency


@dataclass
class ClientTotal:
    key: str
    name: str
    slug: str = ""
    reveals: int = 0
    checkouts: int = 0
    emergency: int = 0
    no_ticket: int = 0
    flagged: int = 0
    denied: int = 0

    @property
    def opened(self) -> int:
        return self.reveals + self.checkouts + self.emergency


@dataclass
class ReviewScope:
    """What a review page looks at: the viewer's clients, optionally one client or person."""

    clients: list[Client]
    staff: list[User]
    client: Client | None = None
    technician: User | None = None

    @property
    def label(self) -> str:
        who = f" · {self.technician}" if self.technician else ""
        return (self.client.name if self.client else "All your clients") + who

    def query(self, **params: Any) -> str:
        """A query string for links that keep this scope."""
        values = {
            "client": self.client.slug if self.client else "",
            "technician": str(self.technician.pk) if self.technician else "",
            **params,
        }
        return urlencode({key: value for key, value in values.items() if value})


@dataclass
class SignOffState:
    """The sign-off of the period and scope, if any, and whether this viewer may read it."""

    sign_off: ReviewSignOff | None
    readable: bool

    @property
    def exists(self) -> bool:
        return self.sign_off is not None


@dataclass
class AccessReview:
    month: Month
    scope: ReviewScope
    findings: list[Finding]
    technicians: list[TechnicianTotal]
    clients: list[ClientTotal]
    signed: SignOffState
    can_sign: bool
    month_is_over: bool
    # Offboarding cases not closed yet, as they stand today.
    open_cases: list[OpenCase] = field(default_factory=list)

    @property
    def open_findings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.count]

    @property
    def flagged_total(self) -> int:
        return sum(row.flagged for row in self.technicians)

    @property
    def opened_total(self) -> int:
        return sum(row.opened for row in self.technicians)

    def query(self, **params: Any) -> str:
        return self.scope.query(month=self.month.param, **params)

    @property
    def technician_chart(self) -> BarChart:
        return bar_chart(
            self.technicians,
            title="Credential openings per technician",
            description="Reveals, checkouts and emergency openings per person; the flagged "
            "part is drawn first. The table beside the chart has the same numbers.",
        )

    @property
    def client_chart(self) -> BarChart:
        return bar_chart(
            self.clients,
            title="Credential openings per client",
            description="Reveals, checkouts and emergency openings per client; the flagged "
            "part is drawn first. The table beside the chart has the same numbers.",
        )

    def snapshot(self) -> list[dict]:
        """The findings as they stand, in the shape a sign-off keeps."""
        return [
            {
                "key": finding.key,
                "title": finding.title,
                "count": finding.count,
                "by_technician": [
                    {"key": share.key, "name": share.name, "count": share.count}
                    for share in finding.by_technician
                ],
            }
            for finding in self.findings
        ]


# Scope


def require_reviewer(actor: User) -> None:
    require_role(actor, *REVIEW_ROLES, action="open access reviews and hygiene audits")


def _visible_clients(actor: User) -> QuerySet[Client]:
    return Client.objects.for_user(actor, AccessLevel.VIEW)


def review_scope_get(
    *, actor: User, client_slug: str = "", technician_id: uuid.UUID | str | None = None
) -> ReviewScope:
    """The viewer's clients and staff for the pickers, and the filters resolved within them.

    A client the viewer cannot see is the same NotFound as a missing one: the filter never
    widens what the viewer sees.
    """
    require_reviewer(actor)
    clients = list(
        _visible_clients(actor).only("id", "slug", "name", "business_time_zone").order_by("name")
    )
    staff = list(User.objects.only("id", "full_name", "email", "is_active").order_by("full_name"))
    scope = ReviewScope(clients=clients, staff=staff)
    if client_slug:
        scope.client = next((each for each in clients if each.slug == client_slug), None)
        if scope.client is None:
            raise NotFound("This client does not exist or you are not assigned to it.")
    if technician_id:
        wanted = str(technician_id)
        scope.technician = next((each for each in staff if str(each.pk) == wanted), None)
        if scope.technician is None:
            raise NotFound("This staff member does not exist.")
    return scope


def _client_q(actor: User, scope: ReviewScope) -> Q:
    if scope.client is not None:
        return Q(client_id=scope.client.pk)
    return Q(client_id__in=_visible_clients(actor).values("pk")) | Q(client_id__isnull=True)


def _technician_q(scope: ReviewScope, *, with_anonymous_attempts: bool) -> Q:
    """Events by the person; attempts on their email before sign-in count as theirs too."""
    if scope.technician is None:
        return Q()
    mine = Q(actor_user_id=scope.technician.pk)
    if with_anonymous_attempts:
        mine |= Q(actor_user_id__isnull=True, actor_label=scope.technician.email)
    return mine


def _month_events(actor: User, scope: ReviewScope, month: Month) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        _client_q(actor, scope), occurred_at__gte=month.start_at, occurred_at__lt=month.end_at
    )


# The streamed pass


@dataclass
class _StreamResult:
    """What the streamed pass found: flagged events per kind in time order, and counts."""

    flagged: dict[str, list[tuple[float, int]]] = field(
        default_factory=lambda: {key: [] for key in STREAM_KEYS}
    )
    by_technician: dict[str, Counter] = field(
        default_factory=lambda: {key: Counter() for key in STREAM_KEYS}
    )
    flagged_by_technician: Counter = field(default_factory=Counter)
    flagged_by_client: Counter = field(default_factory=Counter)
    # (person, client, action) → openings, and the same without a ticket (ticketed actions).
    openings: Counter = field(default_factory=Counter)
    without_ticket: Counter = field(default_factory=Counter)


class _EpochSeconds(Func):
    """A timestamp as seconds since 1970 UTC. Loading a float is several times cheaper than
    loading a datetime, which matters for the tens of thousands of rows a month streams."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)::double precision"

    @property
    def convert_value(self):
        # Both databases already return a float: skip Django's per-row float() call.
        return self._convert_value_noop

    def as_sqlite(self, compiler, connection, **extra):
        # Django keeps UTC datetimes in SQLite as ISO text, which julianday() reads.
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return self.as_sql(compiler, connection, template=template, **extra)


_STREAM_FIELDS = (
    "sequence",
    "at",
    "actor_user_id",
    "client_id",
    "target_type",
    "target_id",
    "ticket",
    "ip_address",
    "action",
)


def _stream_rows(actor: User, scope: ReviewScope, month: Month) -> Iterable[tuple]:
    """The month's successful credential openings, oldest first, as plain tuples."""
    return (
        _month_events(actor, scope, month)
        .filter(
            _technician_q(scope, with_anonymous_attempts=False),
            action__in=sorted(CREDENTIAL_ACCESS_ACTIONS),
            outcome=Outcome.SUCCESS,
        )
        .annotate(at=_EpochSeconds("occurred_at"))
        .order_by("occurred_at", "sequence")
        .values_list(*_STREAM_FIELDS)
        .iterator(chunk_size=5000)
    )


def _unassigned_sequences(actor: User, scope: ReviewScope, month: Month) -> set[int]:
    """The month's openings by someone not assigned to that client at that moment.

    One anti-join against the assignment history, answered by the database.
    """
    assigned_then = Assignment.objects.filter(
        user_id=OuterRef("actor_user_id"),
        client_id=OuterRef("client_id"),
        granted_at__lte=OuterRef("occurred_at"),
    ).filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=OuterRef("occurred_at")))
    return set(
        _month_events(actor, scope, month)
        .filter(
            _technician_q(scope, with_anonymous_attempts=False),
            action__in=sorted(CREDENTIAL_ACCESS_ACTIONS),
            outcome=Outcome.SUCCESS,
            actor_user_id__isnull=False,
            client_id__isnull=False,
        )
        .exclude(Exists(assigned_then))
        .values_list("sequence", flat=True)
    )


def _addresses_seen_before(
    actor: User, scope: ReviewScope, month: Month
) -> dict[tuple[int, str], float]:
    """Per person and address, their last opening in the look-back window before the month."""
    lookback = timedelta(days=settings.AUDIT_NEW_IP_LOOKBACK_DAYS)
    rows = (
        AuditEvent.objects.filter(
            _client_q(actor, scope),
            _technician_q(scope, with_anonymous_attempts=False),
            action__in=sorted(CREDENTIAL_ACCESS_ACTIONS),
            outcome=Outcome.SUCCESS,
            occurred_at__gte=month.start_at - lookback,
            occurred_at__lt=month.start_at,
            actor_user_id__isnull=False,
            ip_address__isnull=False,
        )
        .values_list("actor_user_id", "ip_address")
        .annotate(last_seen=Max(_EpochSeconds("occurred_at")))
        .order_by()
    )
    return {(user_id.int, str(ip)): last_seen for user_id, ip, last_seen in rows}


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# The streamed pass of a month that is over is kept and reused (issue 9: 2.4 s for a whole
# MSP's 115,000 openings, on every view). It stays exact because nothing it reads can change
# once the month has settled:
# - audit.record() stamps every event with the time it is written, so no event can join a
#   month (or the look-back before it) once the clock is past its end; SETTLE covers a
#   clock stepped back a little;
# - a grant is stamped when it is given and a revocation when it is made, so no later change
#   alters who was assigned at a past moment; the key still carries a fingerprint of the
#   assignment table, to be safe against edits made outside the services;
# - the clients' time zones, the scope, and the settings the pass reads are in the key.
STREAM_SETTLE = timedelta(hours=1)
STREAM_KEEP_SECONDS = 60 * 60 * 24 * 45
STREAM_CACHE_PREFIX = "audit:review-stream:v1"


def _stream_cache_key(scope: ReviewScope, month: Month) -> str:
    assignments = Assignment.objects.aggregate(
        count=Count("pk"), granted=Max("granted_at"), revoked=Max("revoked_at")
    )
    parts = {
        "month": month.param,
        "clients": sorted((str(each.pk), each.business_time_zone) for each in scope.clients),
        "client": str(scope.client.pk) if scope.client else "",
        "technician": str(scope.technician.pk) if scope.technician else "",
        "assignments": [str(value) for value in assignments.values()],
        "settings": [
            settings.AUDIT_NEW_IP_LOOKBACK_DAYS,
            settings.AUDIT_BULK_ACCESS_MINUTES,
            settings.AUDIT_BULK_ACCESS_COUNT,
            settings.BUSINESS_HOURS_START,
            settings.BUSINESS_HOURS_END,
        ],
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return f"{STREAM_CACHE_PREFIX}:{digest}"


def _analyse_stream(actor: User, scope: ReviewScope, month: Month) -> _StreamResult:
    """The streamed pass, kept once the month has settled (see STREAM_SETTLE)."""
    if timezone.now() < month.end_at + STREAM_SETTLE:
        return _stream_pass(actor, scope, month)
    key = _stream_cache_key(scope, month)
    kept = cache.get(key)
    if kept is None:
        kept = _stream_pass(actor, scope, month)
        cache.set(key, kept, STREAM_KEEP_SECONDS)
    return kept


def _stream_pass(actor: User, scope: ReviewScope, month: Month) -> _StreamResult:
    """One pass over the month's openings, oldest first.

    The loop runs once per opening (~50,000 in a busy month), so it touches only local
    names, floats and dictionaries keyed by integers (UUID objects hash in Python, slowly):
    no settings lookups, no datetime parsing.
    """
    zones = {each.pk.int: _zone(each.business_time_zone) for each in scope.clients}
    unassigned_sequences = _unassigned_sequences(actor, scope, month)
    seen = _addresses_seen_before(actor, scope, month)
    lookback = settings.AUDIT_NEW_IP_LOOKBACK_DAYS * 86400.0
    window_length = settings.AUDIT_BULK_ACCESS_MINUTES * 60.0
    threshold = settings.AUDIT_BULK_ACCESS_COUNT
    opens, closes = settings.BUSINESS_HOURS_START, settings.BUSINESS_HOURS_END
    from_timestamp = datetime.fromtimestamp

    off_hours: list[tuple[float, int]] = []
    unassigned: list[tuple[float, int]] = []
    new_ip: list[tuple[float, int]] = []
    bulk: list[tuple[float, int]] = []
    per_person = {key: Counter() for key in STREAM_KEYS}
    flagged_people: Counter = Counter()
    flagged_clients: Counter = Counter()
    openings: Counter = Counter()
    without_ticket: Counter = Counter()
    counted: set[int] = set()
    # Per person: the openings inside the sliding window, and how often each credential
    # appears in it (the number of keys is the number of distinct credentials).
    windows: dict[int, deque] = defaultdict(deque)
    in_window: dict[int, dict] = defaultdict(dict)
    bulk_flagged: set[int] = set()
    people: dict[int, uuid.UUID] = {}
    clients: dict[int, uuid.UUID] = {}

    for seq, at, user_uuid, client_uuid, t_type, t_id, ticket, ip, action in _stream_rows(
        actor, scope, month
    ):
        user_id = user_uuid.int if user_uuid is not None else None
        client_id = client_uuid.int if client_uuid is not None else None
        # The openings are read here anyway: counting them costs less than a second read
        # of the same rows by a GROUP BY.
        openings[(user_id, client_id, action)] += 1
        hit = action == EMERGENCY_OPENED
        if not ticket and action in TICKETED_ACTIONS:
            without_ticket[(user_id, client_id, action)] += 1
            hit = True
        zone = zones.get(client_id)
        if zone is not None:
            local = from_timestamp(at, zone)
            if local.weekday() >= 5 or not opens <= local.hour < closes:
                off_hours.append((at, seq))
                per_person["off_hours"][user_id] += 1
                hit = True
        if user_id is not None:
            people[user_id] = user_uuid
            if seq in unassigned_sequences:
                unassigned.append((at, seq))
                per_person["unassigned"][user_id] += 1
                hit = True
            if ip is not None:
                address = (user_id, str(ip))
                last = seen.get(address)
                if last is None or at - last > lookback:
                    new_ip.append((at, seq))
                    per_person["new_ip"][user_id] += 1
                    hit = True
                seen[address] = at
            window, counts = windows[user_id], in_window[user_id]
            credential = (t_type, t_id)
            while window and at - window[0][0] >= window_length:
                old_credential = window.popleft()[1]
                remaining = counts[old_credential] - 1
                if remaining:
                    counts[old_credential] = remaining
                else:
                    del counts[old_credential]
            window.append((at, credential, seq, client_id))
            counts[credential] = counts.get(credential, 0) + 1
            if len(counts) > threshold:
                # Openings flagged earlier form a prefix of the window: stop at the first.
                for w_at, _, w_seq, w_client in reversed(window):
                    if w_seq in bulk_flagged:
                        break
                    bulk_flagged.add(w_seq)
                    bulk.append((w_at, w_seq))
                    per_person["bulk"][user_id] += 1
                    if w_seq not in counted:
                        counted.add(w_seq)
                        flagged_people[user_id] += 1
                        flagged_clients[w_client] += 1
        if hit and seq not in counted:
            counted.add(seq)
            flagged_people[user_id] += 1
            flagged_clients[client_id] += 1
        if client_id is not None:
            clients[client_id] = client_uuid

    bulk.sort()

    def keyed(counter: Counter, names: dict[int, uuid.UUID]) -> Counter:
        return Counter({_name(names, key): count for key, count in counter.items()})

    return _StreamResult(
        flagged={"off_hours": off_hours, "unassigned": unassigned, "new_ip": new_ip, "bulk": bulk},
        by_technician={key: keyed(counter, people) for key, counter in per_person.items()},
        flagged_by_technician=keyed(flagged_people, people),
        flagged_by_client=keyed(flagged_clients, clients),
        openings=Counter(
            {
                (_name(people, user), _name(clients, client), action): count
                for (user, client, action), count in openings.items()
            }
        ),
        without_ticket=Counter(
            {
                (_name(people, user), _name(clients, client), action): count
                for (user, client, action), count in without_ticket.items()
            }
        ),
    )


def _name(names: dict[int, uuid.UUID], key: int | None) -> str:
    return str(names[key]) if key is not None else NO_STAFF_KEY


# Totals of what the stream does not read, in SQL


def _problem_totals(actor: User, scope: ReviewScope, month: Month) -> list[tuple]:
    """(person, client, denied attempts, MFA failures): one GROUP BY."""
    return list(
        _month_events(actor, scope, month)
        .filter(_technician_q(scope, with_anonymous_attempts=True))
        .filter(Q(outcome=Outcome.DENIED) | Q(action=MFA_FAILED))
        .values_list("actor_user_id", "client_id")
        .annotate(
            denied=Count("sequence", filter=Q(outcome=Outcome.DENIED) & ~Q(action=MFA_FAILED)),
            mfa_failed=Count("sequence", filter=Q(action=MFA_FAILED)),
        )
        .order_by()
    )


def _departed_access_totals(
    actor: User, scope: ReviewScope, month: Month, offboarding: OffboardingState
) -> Counter:
    """Access after departure per person: one GROUP BY, and none while nobody has departed."""
    if not offboarding.departures:
        return Counter()
    rows = (
        _month_events(actor, scope, month)
        .filter(_technician_q(scope, with_anonymous_attempts=False))
        .filter(departed_access_q(offboarding.departures))
        .values_list("actor_user_id")
        .annotate(total=Count("sequence"))
        .order_by()
    )
    return Counter({str(user_id): total for user_id, total in rows})


def _shares(counter: Counter, names: dict[str, str]) -> list[Share]:
    shares = [
        Share(key=key, name=names.get(key, NO_STAFF_LABEL), count=count)
        for key, count in counter.items()
        if count
    ]
    return sorted(shares, key=lambda share: (-share.count, share.name))


def _staff_names(scope: ReviewScope) -> dict[str, str]:
    return {str(each.pk): each.full_name or each.email for each in scope.staff}


# Sign-off state


def _coverage_at_signing(sign_offs: list[ReviewSignOff]) -> dict[uuid.UUID, set[str]]:
    """The clients each signer could see when signing, from assignment history: one query."""
    if not sign_offs:
        return {}
    latest = max(each.signed_at for each in sign_offs)
    grants = list(
        Assignment.objects.filter(
            user_id__in={each.signed_by_id for each in sign_offs}, granted_at__lte=latest
        ).values_list("user_id", "client_id", "granted_at", "revoked_at")
    )
    coverage: dict[uuid.UUID, set[str]] = {}
    for each in sign_offs:
        coverage[each.pk] = {
            str(client_id)
            for user_id, client_id, granted_at, revoked_at in grants
            if user_id == each.signed_by_id
            and granted_at <= each.signed_at
            and (revoked_at is None or revoked_at > each.signed_at)
        }
    return coverage


def _readable(sign_off: ReviewSignOff, coverage: dict, visible: set[str]) -> bool:
    """A sign-off of all clients is shown only to viewers who see every client it covered."""
    if sign_off.client_id is not None:
        return str(sign_off.client_id) in visible
    return coverage.get(sign_off.pk, set()) <= visible


def sign_off_state(
    *, actor: User, scope: ReviewScope, kind: str, period_start: date
) -> SignOffState:
    """The sign-off of exactly this kind, period and scope, and whether the viewer may read it."""
    require_reviewer(actor)
    sign_off = (
        ReviewSignOff.objects.filter(
            kind=kind,
            period_start=period_start,
            client=scope.client,
            technician=scope.technician,
        )
        .select_related("signed_by")
        .first()
    )
    if sign_off is None:
        return SignOffState(sign_off=None, readable=False)
    visible = {str(each.pk) for each in scope.clients}
    coverage = _coverage_at_signing([sign_off]) if sign_off.client_id is None else {}
    return SignOffState(sign_off=sign_off, readable=_readable(sign_off, coverage, visible))


# The review


def access_review(
    *,
    actor: User,
    month: Month,
    client_slug: str = "",
    technician_id: uuid.UUID | str | None = None,
) -> AccessReview:
    """The month's findings and totals for a manager or auditor, within their clients."""
    scope = review_scope_get(actor=actor, client_slug=client_slug, technician_id=technician_id)
    names = _staff_names(scope)
    stream = _analyse_stream(actor, scope, month)

    technicians: dict[str, TechnicianTotal] = {}
    clients: dict[str, ClientTotal] = {}
    client_rows = {str(each.pk): each for each in scope.clients}

    def technician(key: str) -> TechnicianTotal:
        if key not in technicians:
            technicians[key] = TechnicianTotal(key=key, name=names.get(key, NO_STAFF_LABEL))
        return technicians[key]

    def client(key: str) -> ClientTotal:
        if key not in clients:
            known = client_rows.get(key)
            clients[key] = ClientTotal(
                key=key,
                name=known.name if known else "No client (staff-level events)",
                slug=known.slug if known else "",
            )
        return clients[key]

    attribute = {REVEALED: "reveals", CHECKED_OUT: "checkouts", EMERGENCY_OPENED: "emergency"}
    no_ticket, emergency, denied, mfa_failed = Counter(), Counter(), Counter(), Counter()
    for (person, client_key, action), total in stream.openings.items():
        name = attribute[action]
        without = stream.without_ticket.get((person, client_key, action), 0)
        for row in (technician(person), client(client_key)):
            setattr(row, name, getattr(row, name) + total)
            row.no_ticket += without
        no_ticket[person] += without
        if action == EMERGENCY_OPENED:
            emergency[person] += total
    for user_id, client_id, denied_count, mfa_count in _problem_totals(actor, scope, month):
        person = str(user_id) if user_id is not None else NO_STAFF_KEY
        technician(person).denied += denied_count
        technician(person).mfa_failed += mfa_count
        if client_id is not None or denied_count:
            client(str(client_id) if client_id is not None else "").denied += denied_count
        denied[person] += denied_count
        mfa_failed[person] += mfa_count
    offboarding = offboarding_state(
        actor=actor, client_id=scope.client.pk if scope.client else None
    )
    for person, count in stream.flagged_by_technician.items():
        technician(person).flagged = count
    for client_key, count in stream.flagged_by_client.items():
        client(client_key).flagged = count

    counters = {
        "no_ticket": no_ticket,
        "emergency": emergency,
        "denied": denied,
        "mfa_failed": mfa_failed,
        DEPARTED_ACCESS: _departed_access_totals(actor, scope, month, offboarding),
    }
    findings = []
    for kind in finding_kinds():
        counter = stream.by_technician[kind.key] if kind.source == "stream" else None
        if counter is None:
            counter = counters[kind.key]
        findings.append(
            Finding(
                kind=kind,
                count=sum(counter.values()),
                by_technician=_shares(counter, names),
                events_query=scope.query(month=month.param, finding=kind.key),
            )
        )

    signed = sign_off_state(
        actor=actor, scope=scope, kind=ReviewSignOff.Kind.ACCESS_REVIEW, period_start=month.start
    )
    if signed.readable:
        kept = {entry.get("key"): entry for entry in signed.sign_off.findings}
        for finding in findings:
            finding.signed = kept.get(finding.key)
    now = timezone.now()

    def by_activity(row: TechnicianTotal | ClientTotal) -> tuple:
        return (-row.opened, -row.flagged, -row.denied, row.name)

    return AccessReview(
        month=month,
        scope=scope,
        findings=findings,
        technicians=sorted(technicians.values(), key=by_activity),
        clients=sorted(clients.values(), key=by_activity),
        signed=signed,
        can_sign=actor.has_role(Role.MANAGER) and month.is_over(now) and not signed.exists,
        month_is_over=month.is_over(now),
        open_cases=offboarding.open_cases,
    )


# The events behind a finding


@dataclass
class EventList:
    month: Month
    scope: ReviewScope
    finding: FindingKind | None
    action: str
    outcome: str
    page: Page

    def query(self, **params: Any) -> str:
        values = {
            "finding": self.finding.key if self.finding else "",
            "action": self.action,
            "outcome": self.outcome,
            **params,
        }
        return self.scope.query(month=self.month.param, **values)

    def review_query(self) -> str:
        return self.scope.query(month=self.month.param)


def _finding_q(key: str, scope: ReviewScope, actor: User) -> Q:
    mine = _technician_q(scope, with_anonymous_attempts=False)
    mine_or_attempts = _technician_q(scope, with_anonymous_attempts=True)
    if key == DEPARTED_ACCESS:
        client_id = scope.client.pk if scope.client else None
        departures = offboarding_state(actor=actor, client_id=client_id).departures
        return mine & departed_access_q(departures)
    return {
        "no_ticket": mine & Q(action__in=TICKETED_ACTIONS, outcome=Outcome.SUCCESS, ticket=""),
        "emergency": mine & Q(action=EMERGENCY_OPENED, outcome=Outcome.SUCCESS),
        "denied": mine_or_attempts & Q(outcome=Outcome.DENIED) & ~Q(action=MFA_FAILED),
        "mfa_failed": mine_or_attempts & Q(action=MFA_FAILED),
        "": mine_or_attempts,
    }[key]


_LIST_FIELDS = (
    "sequence",
    "occurred_at",
    "actor_kind",
    "actor_label",
    "action",
    "client_label",
    "target_type",
    "target_label",
    "ticket",
    "reason",
    "outcome",
    "ip_address",
)


def review_events(
    *,
    actor: User,
    month: Month,
    finding: str = "",
    action: str = "",
    outcome: str = "",
    client_slug: str = "",
    technician_id: uuid.UUID | str | None = None,
    page: int | str = 1,
) -> EventList:
    """A page of the events behind a finding (or of a filtered month), newest first.

    SQL findings page through the log with LIMIT/OFFSET; stream findings re-run the streamed
    pass and fetch only the page's rows. Either way the number of queries is fixed.
    """
    scope = review_scope_get(actor=actor, client_slug=client_slug, technician_id=technician_id)
    kinds = {kind.key: kind for kind in finding_kinds()}
    if finding and finding not in kinds:
        raise NotFound("There is no such finding.")
    if action and action not in ACTIONS:
        raise NotFound("There is no such action.")
    month_events = _month_events(actor, scope, month)
    if finding in STREAM_KEYS:
        stream = _analyse_stream(actor, scope, month)
        flagged = stream.flagged[finding]
        if outcome and outcome != Outcome.SUCCESS:
            flagged = []
        sequences = [seq for _, seq in sorted(flagged, reverse=True)]
        current = Paginator(sequences, EVENTS_PER_PAGE).get_page(page)
        rows = month_events.filter(sequence__in=list(current.object_list))
        if action:
            rows = rows.filter(action=action)
        current.object_list = list(rows.only(*_LIST_FIELDS).order_by("-occurred_at", "-sequence"))
    else:
        rows = month_events.filter(_finding_q(finding, scope, actor))
        if action:
            rows = rows.filter(action=action)
        if outcome:
            rows = rows.filter(outcome=outcome)
        rows = rows.only(*_LIST_FIELDS).order_by("-occurred_at", "-sequence")
        current = Paginator(rows, EVENTS_PER_PAGE).get_page(page)
    return EventList(
        month=month,
        scope=scope,
        finding=kinds.get(finding),
        action=action,
        outcome=outcome,
        page=current,
    )


# Past sign-offs


@dataclass
class SignOffRow:
    sign_off: ReviewSignOff

    @property
    def is_access_review(self) -> bool:
        return self.sign_off.kind == ReviewSignOff.Kind.ACCESS_REVIEW

    @property
    def period_label(self) -> str:
        start = self.sign_off.period_start
        if self.is_access_review:
            return Month(start.year, start.month).label
        return Quarter(start.year, (start.month - 1) // 3 + 1).label

    @property
    def query(self) -> str:
        start = self.sign_off.period_start
        values = {"client": self.sign_off.client.slug if self.sign_off.client_id else ""}
        if self.is_access_review:
            values["month"] = Month(start.year, start.month).param
            values["technician"] = str(self.sign_off.technician_id or "")
        else:
            values["quarter"] = Quarter(start.year, (start.month - 1) // 3 + 1).param
        return urlencode({key: value for key, value in values.items() if value})

    @property
    def scope_label(self) -> str:
        label = self.sign_off.client.name if self.sign_off.client_id else "All clients"
        if self.sign_off.technician_id:
            label += f" · {self.sign_off.technician}"
        return label

    @property
    def dispositions(self) -> list[tuple[str, int]]:
        counts = Counter(
            entry.get("disposition") for entry in self.sign_off.findings if entry.get("disposition")
        )
        return [(label, counts[value]) for value, label in Disposition.choices if counts[value]]


def sign_off_list(*, actor: User, page: int | str = 1) -> Page:
    """Past sign-offs the viewer may read, newest period first; three queries at most."""
    require_reviewer(actor)
    visible = {str(pk) for pk in _visible_clients(actor).values_list("pk", flat=True)}
    rows = list(
        ReviewSignOff.objects.filter(Q(client_id__in=visible) | Q(client__isnull=True))
        .select_related("client", "technician", "signed_by")
        .order_by("-period_start", "-signed_at")
    )
    coverage = _coverage_at_signing([row for row in rows if row.client_id is None])
    readable = [SignOffRow(row) for row in rows if _readable(row, coverage, visible)]
    return Paginator(readable, EVENTS_PER_PAGE).get_page(page)
