"""Seed PostgreSQL with an MSP's year of audit events, for the benchmark (bench/audit_bench.py).

Staff, clients, systems and assignments (with revoked and re-granted history) are planned in
memory (directory_plan) and written in one transaction (directory_write: bulk_create, and COPY
for the assignments and their guardian mirror). Events are generated a UTC day at a time in
worker processes, because building each event's canonical JSON is the costly part; this
process then chains them in sequence order with the real chain key (HMAC is ~2 µs an event)
and loads them with COPY. Each chunk commits its events together with the chain head, so an
interrupted seed leaves a valid chain that `--append` continues. seed_scale (vault/scale.py)
builds on the same pieces and gives the events real credentials to open.

Run it only against a database of its own, for example:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/keyhold_bench \\
    DJANGO_SETTINGS_MODULE=config.settings.development \\
    .venv/bin/python manage.py seed_audit_scale --events 5000000
"""

import bisect
import hmac
import json
import math
import multiprocessing
import os
import random
import time
import uuid
import zoneinfo
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate, islice
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction
from django.db.models import Model
from django.utils.text import slugify

from accounts.models import Role, User
from audit import chain
from audit.models import AuditChainHead, AuditEvent
from tenants.models import AccessLevel, Assignment, Client, ClientUserObjectPermission, System

SCALE_DOMAIN = "scale.keyhold.test"
# The two people a benchmark signs in as (seed_scale names them; seed_audit_scale does not).
BENCH_TECHNICIAN_EMAIL = f"bench.technician@{SCALE_DOMAIN}"
BENCH_MANAGER_EMAIL = f"bench.manager@{SCALE_DOMAIN}"
# Django treats a password starting with "!" as unusable: nobody can sign in as seeded staff.
UNUSABLE_PASSWORD = "!keyhold-scale-seed"  # noqa: S105
CREDENTIALS_PER_CLIENT = 50
MICROS = 1_000_000
DAY_MICROS = 86_400 * MICROS
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NULL = "\\N"
NOT_FOUND_REASON = "This page does not exist or you cannot see it."

# Business time zones of the clients (name, weight, region): mostly North American.
CLIENT_ZONES = (
    ("America/New_York", 28, "americas"),
    ("America/Chicago", 16, "americas"),
    ("America/Denver", 6, "americas"),
    ("America/Phoenix", 2, "americas"),
    ("America/Los_Angeles", 14, "americas"),
    ("America/Toronto", 5, "americas"),
    ("America/Vancouver", 2, "americas"),
    ("America/Sao_Paulo", 1, "americas"),
    ("Europe/London", 10, "emea"),
    ("Europe/Dublin", 2, "emea"),
    ("Europe/Berlin", 4, "emea"),
    ("Europe/Amsterdam", 2, "emea"),
    ("Europe/Paris", 2, "emea"),
    ("Australia/Sydney", 3, "apac"),
    ("Australia/Melbourne", 1, "apac"),
    ("Pacific/Auckland", 1, "apac"),
    ("Asia/Singapore", 1, "apac"),
)
STAFF_ZONES = (
    ("America/New_York", 60, "americas"),
    ("America/Chicago", 15, "americas"),
    ("America/Los_Angeles", 8, "americas"),
    ("Europe/London", 12, "emea"),
    ("Australia/Sydney", 5, "apac"),
)


def _words(text: str, sep: str | None = None) -> list[str]:
    return [word.strip() for word in text.split(sep)]


FIRST_NAMES = _words(
    "Aisha Alex Amara Ben Carlos Chen Dana Diego Elena Emma Farah Gabriel Hana Ivan Jamal "
    "Jonas Kai Lara Leo Lucia Maya Mateo Nadia Noah Olga Omar Priya Rafael Rosa Sam Sofia "
    "Tariq Tom Uma Victor Wei Yara Yusuf Zoe Nils"
)
LAST_NAMES = _words(
    "Adeyemi Alvarez Berg Brennan Castillo Chowdhury Dubois Eriksen Fischer Garcia Haddad "
    "Ito Jensen Kowalski Lopez Mbeki Moreau Nakamura Nguyen Novak Okafor Osei Park Patel "
    "Quinn Rossi Santos Schmidt Silva Tanaka Torres Varga Walsh Weber Yilmaz Zhang Kim Reddy "
    "Hughes Dlamini"
)
COMPANY_WORDS = _words(
    "Contoso Fabrikam Northwind Tailspin Woodgrove Adatum Litware Proseware Wingtip Alpine "
    "Coho Lucerne Trey Relecloud Southridge Lamna Bellows Munson Consolidated Fourth Graphic "
    "Humongous Margie VanArsdel Wideworld Blueyonder Datum Tailwind Riverbend Lakeside "
    "Summit Harbor Maple Cedar Granite Beacon Pioneer Keystone Evergreen Redwood Silverline "
    "Ironwood Clearwater Brightside Oakridge Pinecrest Stonebridge Westfield Eastgate"
)
INDUSTRIES = _words(
    "Dental, Logistics, Legal, Architects, Clinic, Accounting, Engineering, Realty, "
    "Veterinary, Manufacturing, Insurance, Pharmacy, Construction, Academy, Credit Union, "
    "Hotels, Law Group, Orthodontics, Marketing, Foundation, Farms, Motors, Foods, "
    "Surveyors, Chiropractic, Wealth Advisors, Printing, Transport, Optometry, Brewing",
    sep=",",
)
SYSTEM_TEMPLATES = (
    ("DC01", System.Kind.SERVER),
    ("FS01", System.Kind.SERVER),
    ("Backup NAS", System.Kind.SERVER),
    ("FortiGate 60F", System.Kind.FIREWALL),
    ("Meraki MX68", System.Kind.FIREWALL),
    ("SonicWall TZ370", System.Kind.FIREWALL),
    ("Core switch", System.Kind.NETWORK_DEVICE),
    ("Wi-Fi controller", System.Kind.NETWORK_DEVICE),
    ("Microsoft 365", System.Kind.CLOUD_TENANT),
    ("Google Workspace", System.Kind.CLOUD_TENANT),
    ("Azure tenant", System.Kind.CLOUD_TENANT),
    ("QuickBooks", System.Kind.APPLICATION),
    ("Line-of-business app", System.Kind.APPLICATION),
    ("Reception PC", System.Kind.WORKSTATION),
)
ACCOUNTS = _words(
    "Administrator, Domain Admin, Global Admin, root, admin, break-glass, svc-backup, "
    "svc-sql, helpdesk, local admin, api, enable",
    sep=",",
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
)
# Local hours 07:00-18:59 with a lunch dip; off-hours lean to evenings (maintenance windows).
BUSINESS_HOURS = (7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
BUSINESS_WEIGHTS = (4, 9, 12, 13, 12, 8, 11, 12, 12, 10, 6, 3)
OFF_HOURS = (19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6)
OFF_WEIGHTS = (10, 9, 8, 6, 4, 2, 1, 1, 1, 1, 2, 5)
# The share of each kind among generated events: sign-ins first, then MFA, then openings.
EVENT_MIX = (
    ("signed_in", 33.0),
    ("mfa_verified", 31.0),
    ("signed_out", 7.0),
    ("sign_in_failed", 1.8),
    ("mfa_failed", 1.1),
    ("locked_out", 0.05),
    ("revealed", 20.0),
    ("checked_out", 5.0),
    ("emergency", 0.04),
    ("denied_reveal", 0.6),
    ("exported", 0.02),
)
BUSINESS_SHARE = 0.94  # openings and sign-ins drawn in local business hours
NEW_IP_SHARE = 0.002
TICKET_SHARE = 0.93
UNASSIGNED_SHARE = 0.0003
BURSTS_PER_MONTH = 4
VERIFY_JOB = "nightly audit verification"  # the job name audit.tasks passes


def seed_guard(*, settings_dict: dict, existing_events: int, append: bool) -> None:
    """Refuse a database the seed must not touch: SQLite, or a log that already has events."""
    engine = str(settings_dict.get("ENGINE", ""))
    name = settings_dict.get("NAME", "")
    if engine.rsplit(".", 1)[-1] != "postgresql":
        raise CommandError(
            f"seed_audit_scale loads millions of events with COPY and needs PostgreSQL; "
            f"this database is {engine or 'unknown'} ({name}). Point DATABASE_URL at a "
            "database of its own, e.g. postgres://postgres@127.0.0.1:5432/keyhold_bench."
        )
    if existing_events and not append:
        raise CommandError(
            f"The audit log of {name} already holds {existing_events:,} events. Seed an empty "
            "database, or pass --append to continue its chain from the head."
        )


# The plan: everything a worker needs to generate any day, built once in this process.


@dataclass
class Staff:
    id: str
    email: str
    name: str
    role: str
    zone: str
    ips: list[str]
    agent: str


@dataclass
class Tenant:
    id: str
    name: str
    zone: str
    credentials: list[tuple[str, str]]


@dataclass
class Grant:
    """One staff member's access to one client: (granted, revoked or None, level) in µs."""

    client: int
    intervals: list[tuple[int, int | None, int]]


@dataclass
class Plan:
    seed: int
    key_version: int
    staff: list[Staff]
    clients: list[Tenant]
    grants: list[list[Grant]]
    grant_cumulative: list[list[float]]
    signer_cumulative: list[float]
    openers: list[int]
    opener_cumulative: list[float]
    reviewers: list[int]
    # By how many credentials a client has: the Zipf-like weights of that many.
    credential_cumulative: list[list[float]]
    daily_verify: bool
    zones: set[str]


@dataclass
class DayTask:
    index: int
    day: date
    first_sequence: int
    total: int
    fixed: list[tuple[int, dict]] = field(default_factory=list)


@dataclass
class SeedReport:
    events: int = 0
    seconds: float = 0.0
    staff: int = 0
    clients: int = 0
    assignments: int = 0


_plan: Plan | None = None


def _set_plan(plan: Plan) -> None:
    global _plan  # the worker's read-only copy of the plan
    _plan = plan


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _iso(micros: int) -> str:
    return (EPOCH + timedelta(microseconds=micros)).isoformat(timespec="microseconds")


def _offsets(day: date, zones: set[str]) -> dict[str, int]:
    """Each zone's UTC offset in seconds at noon UTC of the day."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return {
        name: int(noon.astimezone(zoneinfo.ZoneInfo(name)).utcoffset().total_seconds())
        for name in zones
    }


_BUSINESS_CUMULATIVE = list(accumulate(BUSINESS_WEIGHTS))
_OFF_CUMULATIVE = list(accumulate(OFF_WEIGHTS))


def _moment(rng: random.Random, day: date, offset: int, *, business: bool) -> int:
    """A moment inside the UTC day whose local time (at `offset`) is in or out of hours.

    Business moments that fall on a local weekend are drawn again, twice at most: weekend
    work stays possible, and it counts as off-hours in the review.
    """
    day_start = (day - EPOCH.date()).days * DAY_MICROS
    for _ in range(3):
        if business:
            hour = rng.choices(BUSINESS_HOURS, cum_weights=_BUSINESS_CUMULATIVE)[0]
        else:
            hour = rng.choices(OFF_HOURS, cum_weights=_OFF_CUMULATIVE)[0]
        local_seconds = hour * 3600 + rng.randrange(3600)
        shift, utc_seconds = divmod(local_seconds - offset, 86_400)
        local_weekday = (day.weekday() - shift) % 7
        if not business or local_weekday < 5:
            break
    return day_start + utc_seconds * MICROS + rng.randrange(MICROS)


def _ip(rng: random.Random, person: Staff) -> str:
    if rng.random() < NEW_IP_SHARE:
        return _random_public_ip(rng)
    roll = rng.random()
    if roll < 0.75 or len(person.ips) == 1:
        return person.ips[0]
    return person.ips[1] if roll < 0.93 or len(person.ips) == 2 else person.ips[2]


def _random_public_ip(rng: random.Random) -> str:
    first = rng.choice((24, 45, 67, 73, 81, 86, 92, 104, 142, 176, 185, 212))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _event(plan: Plan, action: str, **values: Any) -> dict:
    fields = {
        "actor_kind": "user",
        "actor_user_id": None,
        "actor_label": "",
        "actor_ref": "",
        "action": action,
        "client_id": None,
        "client_label": "",
        "target_type": "",
        "target_id": "",
        "target_label": "",
        "ticket": "",
        "reason": "",
        "outcome": "success",
        "ip_address": None,
        "user_agent": "",
        "request_id": "",
        "details": {},
        "key_version": plan.key_version,
    }
    fields.update(values)
    return fields


def _by(rng: random.Random, person: Staff) -> dict:
    """The actor and request fields of an event done by `person`."""
    return {
        "actor_user_id": person.id,
        "actor_label": person.email,
        "ip_address": _ip(rng, person),
        "user_agent": person.agent,
        "request_id": _uuid(rng),
    }


def _grant_at(grant: Grant, moment: int) -> int | None:
    for granted, revoked, level in grant.intervals:
        if granted <= moment and (revoked is None or moment < revoked):
            return level
    return None


def _ticket(rng: random.Random) -> str:
    return f"T-{rng.randrange(100_000, 1_000_000)}" if rng.random() < TICKET_SHARE else ""


def _credential(rng: random.Random, plan: Plan, tenant: Tenant) -> tuple[str, str]:
    cumulative = plan.credential_cumulative[len(tenant.credentials)]
    return tenant.credentials[bisect.bisect(cumulative, rng.random())]


def _opening(
    rng: random.Random, plan: Plan, day: date, offsets: dict[str, int], kind: str
) -> tuple[int, dict]:
    """A reveal, checkout or emergency opening by someone assigned to the client (mostly)."""
    person_index = plan.openers[bisect.bisect(plan.opener_cumulative, rng.random())]
    person = plan.staff[person_index]
    grants = plan.grants[person_index]
    cumulative = plan.grant_cumulative[person_index]
    business = rng.random() < BUSINESS_SHARE
    for _ in range(5):
        grant = grants[bisect.bisect(cumulative, rng.random())]
        tenant = plan.clients[grant.client]
        moment = _moment(rng, day, offsets[tenant.zone], business=business)
        level = _grant_at(grant, moment)
        if level is not None and level >= AccessLevel.USE:
            break
    if rng.random() < UNASSIGNED_SHARE:
        tenant = plan.clients[rng.randrange(len(plan.clients))]
        level = AccessLevel.MANAGE
    credential_id, credential_label = _credential(rng, plan, tenant)
    action = "credential.revealed"
    details: dict[str, Any] = {"via": "web" if rng.random() < 0.9 else "api"}
    reason = ""
    if kind == "checked_out" and level is not None and level >= AccessLevel.PRIVILEGED:
        action = "credential.checked_out"
        details = {"minutes": rng.choice((30, 60, 60, 120, 240))}
    elif kind == "emergency":
        action = "credential.emergency_opened"
        details = {"envelope": f"EM-{rng.randrange(1, 500):04d}"}
        reason = rng.choice(
            (
                "Primary admin account locked out",
                "Identity provider outage",
                "Ransomware response",
                "MFA device lost by the client's admin",
            )
        )
    return moment, _event(
        plan,
        action,
        **_by(rng, person),
        client_id=tenant.id,
        client_label=tenant.name,
        target_type="vault.credential",
        target_id=credential_id,
        target_label=credential_label,
        ticket=_ticket(rng),
        reason=reason,
        details=details,
    )


def _staff_event(
    rng: random.Random, plan: Plan, day: date, offsets: dict[str, int], kind: str
) -> tuple[int, dict]:
    """Sign-ins, MFA, sign-outs, failures, exports: events of a person, not of a client."""
    if kind == "exported":
        person = plan.staff[rng.choice(plan.reviewers)]
    else:
        person = plan.staff[bisect.bisect(plan.signer_cumulative, rng.random())]
    moment = _moment(rng, day, offsets[person.zone], business=rng.random() < BUSINESS_SHARE)
    if kind == "signed_in":
        return moment, _event(plan, "staff.signed_in", **_by(rng, person))
    if kind == "mfa_verified":
        method = "totp" if rng.random() < 0.97 else "backup"
        return moment, _event(plan, "mfa.verified", **_by(rng, person), details={"method": method})
    if kind == "signed_out":
        return moment, _event(plan, "staff.signed_out", **_by(rng, person))
    if kind == "mfa_failed":
        return moment, _event(
            plan,
            "mfa.verification_failed",
            **_by(rng, person),
            outcome="denied",
            details={"method": "totp", "during": "sign-in"},
        )
    if kind == "exported":
        start = day - timedelta(days=rng.choice((7, 30, 31, 90)))
        details = {"from": start.isoformat(), "to": day.isoformat(), "format": "csv"}
        details |= {"client": "", "action": "", "outcome": ""}
        return moment, _event(plan, "audit.exported", **_by(rng, person), details=details)
    # Failed sign-ins and lockouts: no account yet, only the email that was typed.
    typed = person.email if rng.random() < 0.85 else f"admin{rng.randrange(100)}@{SCALE_DOMAIN}"
    ip = _ip(rng, person) if rng.random() < 0.8 else _random_public_ip(rng)
    return moment, _event(
        plan,
        "staff.sign_in_failed" if kind == "sign_in_failed" else "staff.locked_out",
        actor_kind="anonymous",
        actor_label=typed,
        outcome="denied",
        ip_address=ip,
        user_agent=person.agent,
        request_id=_uuid(rng),
    )


def _denied_reveal(
    rng: random.Random, plan: Plan, day: date, offsets: dict[str, int]
) -> tuple[int, dict]:
    person = plan.staff[plan.openers[bisect.bisect(plan.opener_cumulative, rng.random())]]
    tenant = plan.clients[rng.randrange(len(plan.clients))]
    credential_id, credential_label = _credential(rng, plan, tenant)
    moment = _moment(rng, day, offsets[tenant.zone], business=rng.random() < BUSINESS_SHARE)
    return moment, _event(
        plan,
        "credential.revealed",
        **_by(rng, person),
        client_id=tenant.id,
        client_label=tenant.name,
        target_type="vault.credential",
        target_id=credential_id,
        target_label=credential_label,
        ticket=_ticket(rng),
        outcome="denied",
        reason=NOT_FOUND_REASON,
        details={"via": "web"},
    )


_MIX_KINDS = tuple(kind for kind, _ in EVENT_MIX)
_MIX_CUMULATIVE = list(accumulate(weight for _, weight in EVENT_MIX))
_OPENINGS = frozenset({"revealed", "checked_out", "emergency"})


def _day_events(plan: Plan, task: DayTask) -> list[tuple[int, dict]]:
    rng = random.Random(f"{plan.seed}:{task.index}:{task.first_sequence}")  # noqa: S311 (test data)
    offsets = _offsets(task.day, plan.zones)
    events = list(task.fixed)
    day_start = (task.day - EPOCH.date()).days * DAY_MICROS
    if plan.daily_verify and len(events) < task.total:
        moment = day_start + (2 * 3600 + 30 * 60) * MICROS + rng.randrange(20 * MICROS)
        verify = _event(
            plan, "audit.verified", actor_kind="system", actor_label=VERIFY_JOB, details={}
        )
        events.append((moment, verify))
    total_weight = _MIX_CUMULATIVE[-1]
    while len(events) < task.total:
        kind = _MIX_KINDS[bisect.bisect(_MIX_CUMULATIVE, rng.random() * total_weight)]
        if kind in _OPENINGS:
            events.append(_opening(rng, plan, task.day, offsets, kind))
        elif kind == "denied_reveal":
            events.append(_denied_reveal(rng, plan, task.day, offsets))
        else:
            events.append(_staff_event(rng, plan, task.day, offsets, kind))
    events.sort(key=lambda each: each[0])
    return events


def _copy_text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        value = value.replace("\r", "\\r")
    return value


def _copy_prefix(fields: dict) -> str:
    """The COPY text line of the event up to (not including) its two hashes."""
    return "\t".join(
        (
            str(fields["sequence"]),
            fields["occurred_at"],
            fields["actor_kind"],
            fields["actor_user_id"] or NULL,
            _copy_text(fields["actor_label"]),
            _copy_text(fields["actor_ref"]),
            fields["action"],
            fields["client_id"] or NULL,
            _copy_text(fields["client_label"]),
            fields["target_type"],
            _copy_text(fields["target_id"]),
            _copy_text(fields["target_label"]),
            _copy_text(fields["ticket"]),
            _copy_text(fields["reason"]),
            fields["outcome"],
            fields["ip_address"] or NULL,
            _copy_text(fields["user_agent"]),
            _copy_text(fields["request_id"]),
            _copy_text(json.dumps(fields["details"], separators=(",", ":"))),
            str(fields["key_version"]),
            "",
        )
    )


def canonical(fields: dict) -> bytes:
    """chain.canonical_bytes for fields already in canonical form (strings, ints, None, dict).

    Half its cost: the per-value conversion is skipped. Whether the two agree is checked where
    it matters: audit_chain_check() recomputes every hash from the stored rows
    (tests/audit/test_seed_audit_scale.py).
    """
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def generate_day(task: DayTask) -> tuple[list[bytes], list[str]]:
    """One UTC day's events in sequence order: their canonical bytes and COPY line prefixes."""
    plan = _plan
    canonicals: list[bytes] = []
    prefixes: list[str] = []
    for offset, (moment, fields) in enumerate(_day_events(plan, task)):
        fields["sequence"] = task.first_sequence + offset
        fields["occurred_at"] = _iso(moment)
        if fields["action"] == "audit.verified":
            fields["details"] = {
                "checked": fields["sequence"] - 1,
                "checkpoint_sequence": None,
                "first_bad_sequence": None,
            }
        canonicals.append(canonical(fields))
        prefixes.append(_copy_prefix(fields))
    return canonicals, prefixes


class Command(BaseCommand):
    help = (
        "Seed PostgreSQL with a realistic audit log at scale (staff, clients, assignments with "
        "history, millions of chained events) for bench/audit_bench.py. Never run it on a "
        "production database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=5_000_000)
        parser.add_argument("--clients", type=int, default=2_000)
        parser.add_argument("--staff", type=int, default=300)
        parser.add_argument("--months", type=int, default=12)
        parser.add_argument("--seed", type=int, default=2026, help="Random seed.")
        parser.add_argument(
            "--append",
            action="store_true",
            help="Add to a log that already holds events, continuing its chain from the head.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="Processes that build events; 0 builds them in this process.",
        )
        parser.add_argument(
            "--chunk-rows", type=int, default=100_000, help="Events per COPY and commit."
        )

    def handle(self, *args, **options):
        for name in ("events", "clients", "staff", "months"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        if options["staff"] < 3:
            raise CommandError("--staff must be at least 3 (a technician, a manager, an auditor).")
        connection.ensure_connection()
        seed_guard(
            settings_dict=connection.settings_dict,
            existing_events=AuditEvent.objects.count() if connection.vendor == "postgresql" else 0,
            append=options["append"],
        )
        report = seed_audit_scale(
            events=options["events"],
            clients=options["clients"],
            staff=options["staff"],
            months=options["months"],
            seed=options["seed"],
            workers=max(options["workers"], 0),
            chunk_rows=max(options["chunk_rows"], 1000),
            out=self.stdout.write,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {report.events:,} events in {report.seconds:.0f} s "
                f"({report.events / max(report.seconds, 1e-9):,.0f} events/s), "
                f"{report.staff} staff, {report.clients} clients, "
                f"{report.assignments:,} assignment rows."
            )
        )


@dataclass(frozen=True)
class Window:
    """The span of the seeded log: `days` whole UTC days ending at today's midnight."""

    start: datetime
    end: datetime
    days: int

    @classmethod
    def ending_today(cls, months: int) -> "Window":
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        days = max(1, round(months * 365 / 12))
        return cls(start=end - timedelta(days=days), end=end, days=days)


def seed_audit_scale(
    *,
    events: int,
    clients: int,
    staff: int,
    months: int,
    seed: int,
    workers: int,
    chunk_rows: int,
    out: Any = print,
) -> SeedReport:
    """Create the staff, clients and assignments, then load `events` chained events."""
    started = time.monotonic()
    # An appended run draws other people, clients and ids than the run before it.
    rng = random.Random(f"{seed}:{_next_sequence()}")  # noqa: S311 (test data, reproducible)
    window = Window.ending_today(months)
    out(
        f"Window: {window.start:%Y-%m-%d} to {window.end:%Y-%m-%d} ({window.days} days), "
        f"seed {seed}."
    )
    directory = directory_plan(
        rng,
        staff=staff,
        clients=clients,
        window=window,
        credentials_per_client=CREDENTIALS_PER_CLIENT,
    )
    directory_write(directory)
    out(
        f"Created {len(directory.staff)} staff, {len(directory.clients)} clients, "
        f"{directory.systems:,} systems, {directory.assignment_rows:,} assignment rows "
        f"({time.monotonic() - started:.1f} s)."
    )
    loaded = events_load(
        rng,
        directory,
        events=events,
        window=window,
        seed=seed,
        workers=workers,
        chunk_rows=chunk_rows,
        out=out,
    )
    analysed_at = time.monotonic()
    vacuum_analyze(
        vacuum=[AuditEvent], analyze=[User, Client, System, Assignment, ClientUserObjectPermission]
    )
    out(f"VACUUM ANALYZE in {time.monotonic() - analysed_at:.0f} s.")
    return SeedReport(
        events=loaded,
        seconds=time.monotonic() - started,
        staff=len(directory.staff),
        clients=len(directory.clients),
        assignments=directory.assignment_rows,
    )


def _next_sequence() -> int:
    head = AuditChainHead.objects.filter(pk=1).first()
    return (head.sequence if head else 0) + 1


def events_load(
    rng: random.Random,
    directory: "Directory",
    *,
    events: int,
    window: Window,
    seed: int,
    workers: int,
    chunk_rows: int,
    out: Any = print,
) -> int:
    """Generate `events` events over the window for the directory and chain them onto the head.

    Openings name the credentials in each Tenant.credentials (id, label), so a seed that
    also writes credentials makes every event point at a real row.
    """
    if any(not tenant.credentials for tenant in directory.clients):
        raise CommandError("Every client needs at least one credential for its events.")
    head = AuditChainHead.objects.filter(pk=1).first()
    first_sequence = (head.sequence if head else 0) + 1
    key_version, key = chain.chain_key()
    most = max(len(tenant.credentials) for tenant in directory.clients)
    plan = Plan(
        seed=seed,
        key_version=key_version,
        staff=directory.staff,
        clients=directory.clients,
        grants=directory.grants,
        grant_cumulative=[
            _cumulative([directory.client_weights[grant.client] for grant in grants])
            for grants in directory.grants
        ],
        signer_cumulative=_cumulative(directory.sign_in_weights),
        openers=directory.openers,
        opener_cumulative=_cumulative(directory.opener_weights),
        reviewers=directory.reviewers,
        credential_cumulative=[
            # Zipf-like: a few credentials are opened daily, some hardly ever.
            _cumulative([1 / (rank + 1) ** 1.1 for rank in range(count)])
            for count in range(most + 1)
        ],
        daily_verify=events >= 50 * window.days,
        zones={each.zone for each in directory.staff} | {each.zone for each in directory.clients},
    )
    tasks = _day_tasks(
        rng,
        plan,
        directory,
        events=events,
        window_start=window.start,
        days=window.days,
        first_sequence=first_sequence,
    )
    return _load(
        plan=plan,
        tasks=tasks,
        key=key,
        previous_hash=head.entry_hash if head else chain.GENESIS_HASH,
        workers=workers,
        chunk_rows=chunk_rows,
        total=events,
        out=out,
    )


def vacuum_analyze(*, vacuum: list[type[Model]], analyze: list[type[Model]]) -> None:
    """VACUUM (ANALYZE) the bulk-loaded tables, ANALYZE the others.

    A bulk load leaves the visibility map empty (no index-only scans) and the statistics
    stale; autovacuum would get there eventually, a benchmark cannot wait.
    """
    with connection.cursor() as cursor:
        for model in vacuum:
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
        for model in analyze:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def copy_rows(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (Python values, in `columns` order) into the model's table; returns how many.

    Runs in the caller's transaction. psycopg adapts each value (UUID, datetime, bytes as
    bytea, None as NULL), which is several times faster than bulk_create's INSERTs.
    """
    statement = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    count = 0
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _cumulative(weights: list[float]) -> list[float]:
    """Cumulative weights scaled to end at 1.0, for bisect with rng.random() (always < 1)."""
    if not weights:
        return [1.0]
    total = sum(weights)
    cumulative = [running / total for running in accumulate(weights)]
    cumulative[-1] = 1.0  # rounding never lets bisect run past the last one
    return cumulative


def spread(total: int, weights: list[float], *, minimum: int = 0) -> list[int]:
    """`total` split in proportion to `weights` (largest remainder), each at least `minimum`."""
    if total < minimum * len(weights):
        minimum = 0
    free = total - minimum * len(weights)
    weight_sum = sum(weights) or 1.0
    shares = [free * weight / weight_sum for weight in weights]
    counts = [math.floor(share) for share in shares]
    by_remainder = sorted(range(len(weights)), key=lambda index: counts[index] - shares[index])
    for index in by_remainder[: free - sum(counts)]:
        counts[index] += 1
    return [count + minimum for count in counts]


# Staff, clients and assignments

ASSIGNMENT_COLUMNS = (
    "id",
    "user_id",
    "client_id",
    "level",
    "granted_at",
    "granted_by_id",
    "revoked_at",
    "revoked_by_id",
)


@dataclass
class Directory:
    staff: list[Staff]
    clients: list[Tenant]
    client_weights: list[float]
    grants: list[list[Grant]]
    sign_in_weights: list[float]
    openers: list[int]
    opener_weights: list[float]
    reviewers: list[int]
    managers: list[int]
    changes: list[tuple[int, dict]]
    systems: int = 0
    assignment_rows: int = 0
    # The rows directory_write saves (and then drops): models, and assignments as tuples in
    # ASSIGNMENT_COLUMNS order (hundreds of thousands at scale: no model instances).
    users: list[User] = field(default_factory=list)
    client_rows: list[Client] = field(default_factory=list)
    system_rows: list[System] = field(default_factory=list)
    assignments: list[tuple] = field(default_factory=list)
    # Each client's systems, kept after the write (seed_scale ties credentials to them).
    client_systems: list[list[System]] = field(default_factory=list)
    # The benchmark technician (index into staff) and how many clients it is assigned.
    bench_technician: int | None = None
    bench_clients: int = 0


def _weighted(rng: random.Random, table: tuple) -> tuple[str, str]:
    name, _, region = rng.choices(table, weights=[weight for _, weight, _ in table])[0]
    return name, region


def _roles(count: int) -> list[str]:
    managers = max(1, round(count * 0.05))
    auditors = max(1, round(count * 0.03))
    administrators = max(1, round(count * 0.02)) if count >= 5 else 0
    onboarding = round(count * 0.03)
    technicians = count - managers - auditors - administrators - onboarding
    return (
        [Role.MANAGER] * managers
        + [Role.AUDITOR] * auditors
        + [Role.ADMINISTRATOR] * administrators
        + [Role.ONBOARDING] * onboarding
        + [Role.TECHNICIAN] * technicians
    )


def _system_names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """`count` distinct (name, kind) of one client: the templates first, then DC02, FS03..."""
    chosen = rng.sample(SYSTEM_TEMPLATES, min(count, len(SYSTEM_TEMPLATES)))
    numbers: dict[str, int] = {}
    while len(chosen) < count:
        name, kind = rng.choice(SYSTEM_TEMPLATES)
        numbers[name] = numbers.get(name, 1) + 1
        number = numbers[name]
        numbered = f"{name[:-2]}{number:02d}" if name.endswith("01") else f"{name} {number}"
        chosen.append((numbered, kind))
    return chosen


def directory_plan(
    rng: random.Random,
    *,
    staff: int,
    clients: int,
    window: Window,
    systems: int | None = None,
    credentials_per_client: int = 0,
    bench_technician_clients: int | None = None,
) -> Directory:
    """Staff, clients, systems and assignments with history, in memory (directory_write saves).

    `systems`: how many in all (spread by client size, one at least each); None gives each
    client 2 to 6. `credentials_per_client`: synthetic (id, label) pairs for the events of a
    log without credential rows; 0 leaves Tenant.credentials for the caller to fill.
    `bench_technician_clients`: name the first technician and the first manager after
    BENCH_TECHNICIAN_EMAIL and BENCH_MANAGER_EMAIL, the technician assigned (privileged,
    no change in the window) to exactly that many clients.
    """
    existing_staff = User.objects.filter(email__endswith=f"@{SCALE_DOMAIN}").count()
    taken_names = set(Client.objects.values_list("name", flat=True))
    taken_slugs = set(Client.objects.values_list("slug", flat=True))
    bench_names = {}
    if bench_technician_clients is not None:
        bench_names = {
            Role.TECHNICIAN: (BENCH_TECHNICIAN_EMAIL, "Bench Technician"),
            Role.MANAGER: (BENCH_MANAGER_EMAIL, "Bench Manager"),
        }
    bench_technician = None

    people: list[Staff] = []
    users: list[User] = []
    regions: list[str] = []
    for offset, role in enumerate(_roles(staff)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        number = existing_staff + offset + 1
        email, name = f"{first}.{last}.{number:04d}@{SCALE_DOMAIN}".lower(), f"{first} {last}"
        if role in bench_names:
            email, name = bench_names.pop(role)
            if role == Role.TECHNICIAN:
                bench_technician = offset
        zone, region = _weighted(rng, STAFF_ZONES)
        person = Staff(
            id=_uuid(rng),
            email=email,
            name=name,
            role=role,
            zone=zone,
            ips=[_random_public_ip(rng) for _ in range(rng.choice((1, 2, 3, 3)))],
            agent=rng.choice(USER_AGENTS[:5]),
        )
        people.append(person)
        regions.append(region)
        users.append(
            User(
                id=uuid.UUID(person.id),
                email=person.email,
                full_name=person.name,
                password=UNUSABLE_PASSWORD,
                is_staff=role == Role.ADMINISTRATOR,
                date_joined=window.start - timedelta(days=rng.randrange(30, 1500)),
            )
        )

    tenants: list[Tenant] = []
    client_rows: list[Client] = []
    client_regions: list[str] = []
    for _ in range(clients):
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(INDUSTRIES)}"
        if name in taken_names:
            suffix = 2
            while f"{name} {suffix}" in taken_names:
                suffix += 1
            name = f"{name} {suffix}"
        taken_names.add(name)
        slug = slugify(name)[:80]
        while slug in taken_slugs:
            slug = f"{slug[:72]}-{rng.randrange(10**6)}"
        taken_slugs.add(slug)
        zone, region = _weighted(rng, CLIENT_ZONES)
        client_id = _uuid(rng)
        tenants.append(Tenant(id=client_id, name=name, zone=zone, credentials=[]))
        client_regions.append(region)
        status = rng.choices(
            (Client.Status.ACTIVE, Client.Status.ONBOARDING, Client.Status.OFFBOARDING),
            weights=(94, 4, 2),
        )[0]
        client_rows.append(
            Client(
                id=uuid.UUID(client_id),
                name=name,
                slug=slug,
                status=status,
                psa_company_id=str(rng.randrange(10_000, 99_999)),
                business_time_zone=zone,
                created_at=window.start - timedelta(days=rng.randrange(30, 2000)),
            )
        )
    client_weights = [min(rng.lognormvariate(0, 1.0), 25.0) for _ in tenants]

    if systems is None:
        system_counts = [rng.randint(2, 6) for _ in tenants]
    else:
        system_counts = spread(systems, client_weights, minimum=1)
    system_rows: list[System] = []
    client_systems: list[list[System]] = []
    for tenant, count in zip(tenants, system_counts, strict=True):
        own = [
            System(
                id=uuid.UUID(_uuid(rng)),
                client_id=uuid.UUID(tenant.id),
                name=system_name,
                kind=kind,
                created_at=window.start - timedelta(days=rng.randrange(1, 900)),
            )
            for system_name, kind in _system_names(rng, count)
        ]
        system_rows.extend(own)
        client_systems.append(own)
        if credentials_per_client:
            labels = [system.name for system in own] or ["the office"]
            tenant.credentials = [
                (
                    str(uuid.uuid5(uuid.NAMESPACE_URL, f"keyhold-scale:{tenant.id}:{index}")),
                    f"{rng.choice(ACCOUNTS)} on {rng.choice(labels)}",
                )
                for index in range(credentials_per_client)
            ]

    managers = [index for index, person in enumerate(people) if person.role == Role.MANAGER]
    directory = Directory(
        staff=people,
        clients=tenants,
        client_weights=client_weights,
        grants=[[] for _ in people],
        sign_in_weights=[],
        openers=[],
        opener_weights=[],
        reviewers=[i for i, p in enumerate(people) if p.role in (Role.MANAGER, Role.AUDITOR)],
        managers=managers,
        changes=[],
        systems=len(system_rows),
        users=users,
        client_rows=client_rows,
        system_rows=system_rows,
        client_systems=client_systems,
        bench_technician=bench_technician,
        bench_clients=min(bench_technician_clients or 0, clients),
    )
    directory.assignments = _assignments_plan(
        rng,
        directory,
        regions=regions,
        client_regions=client_regions,
        window_start=window.start,
        window_end=window.end,
    )
    directory.assignment_rows = len(directory.assignments)
    activity = {
        Role.TECHNICIAN: 1.0,
        Role.MANAGER: 0.5,
        Role.ADMINISTRATOR: 0.6,
        Role.ONBOARDING: 0.5,
        Role.AUDITOR: 0.3,
    }
    opening = {Role.TECHNICIAN: 1.0, Role.ADMINISTRATOR: 0.3, Role.MANAGER: 0.1}
    for index, person in enumerate(people):
        own = activity[person.role] * min(rng.lognormvariate(0, 0.5), 4.0)
        directory.sign_in_weights.append(own)
        if person.role in opening and directory.grants[index]:
            directory.openers.append(index)
            directory.opener_weights.append(opening[person.role] * own)
    if not directory.openers:
        raise CommandError("No staff member can open credentials: raise --staff or --clients.")
    return directory


def directory_write(directory: Directory) -> None:
    """Save the planned staff, roles, clients, systems, assignments and guardian permissions.

    One transaction; the row lists are emptied afterwards, so forked event workers do not
    inherit them.
    """
    with transaction.atomic():
        User.objects.bulk_create(directory.users, batch_size=1000)
        groups = {group.name: group.pk for group in Group.objects.all()}
        missing = set(Role.values) - set(groups)
        if missing:
            raise CommandError(f"Role groups missing ({sorted(missing)}): run migrate first.")
        membership = User.groups.through
        membership.objects.bulk_create(
            [
                membership(user_id=uuid.UUID(person.id), group_id=groups[person.role])
                for person in directory.staff
            ],
            batch_size=5000,
        )
        Client.objects.bulk_create(directory.client_rows, batch_size=1000)
        System.objects.bulk_create(directory.system_rows, batch_size=5000)
        copy_rows(Assignment, ASSIGNMENT_COLUMNS, directory.assignments)
        _guardian_mirror(directory.assignments)
    directory.users = []
    directory.client_rows = []
    directory.system_rows = []
    directory.assignments = []


def _assignments_plan(
    rng: random.Random,
    directory: Directory,
    *,
    regions: list[str],
    client_regions: list[str],
    window_start: datetime,
    window_end: datetime,
) -> list[tuple]:
    """Assignment rows with history, the grants the workers check, and their audit events."""
    rows: list[tuple] = []
    span = window_end - window_start
    managers = directory.managers
    every_client = range(len(directory.clients))

    def in_window(low: float = 0.02, high: float = 0.98) -> datetime:
        moment = window_start + span * rng.uniform(low, high)
        while moment.weekday() >= 5:
            moment -= timedelta(days=1)
        moment = max(moment, window_start)
        # Afternoons in UTC: mornings and middays in the Americas, where most clients are.
        return moment.replace(hour=rng.randrange(13, 21), minute=rng.randrange(60))

    def before_window() -> datetime:
        return window_start - timedelta(days=rng.randrange(7, 1100), minutes=rng.randrange(1440))

    def add(person: int, client: int, intervals: list[tuple[datetime, datetime | None, int]]):
        granted_by = uuid.UUID(directory.staff[rng.choice(managers)].id) if managers else None
        user_id = uuid.UUID(directory.staff[person].id)
        client_id = uuid.UUID(directory.clients[client].id)
        for granted, revoked, level in intervals:
            rows.append(
                (
                    uuid.UUID(_uuid(rng)),
                    user_id,
                    client_id,
                    level,
                    granted,
                    granted_by,
                    revoked,
                    granted_by if revoked else None,
                )
            )
        directory.grants[person].append(
            Grant(
                client=client,
                intervals=[
                    (_micros(g), _micros(r) if r else None, level) for g, r, level in intervals
                ],
            )
        )

    for person_index, person in enumerate(directory.staff):
        if person.role in (Role.MANAGER, Role.AUDITOR):
            # The whole MSP: managers manage every client, auditors view every one.
            level = AccessLevel.MANAGE if person.role == Role.MANAGER else AccessLevel.VIEW
            for client in every_client:
                add(person_index, client, [(before_window(), None, level)])
            continue
        bench = person_index == directory.bench_technician
        if bench:
            wanted = directory.bench_clients
        elif person.role == Role.TECHNICIAN:
            wanted = round(min(max(rng.lognormvariate(math.log(60), 0.6), 20), 200))
        elif person.role == Role.ADMINISTRATOR:
            wanted = rng.randint(5, 30)
        else:
            wanted = rng.randint(3, 10)
        wanted = min(wanted, len(directory.clients))
        home = regions[person_index]
        weights = [
            directory.client_weights[c] ** 0.5 * (6 if client_regions[c] == home else 1)
            for c in every_client
        ]
        chosen: set[int] = set()
        while len(chosen) < wanted:
            chosen.update(rng.choices(every_client, weights=weights, k=wanted - len(chosen)))
        if bench:
            # A stable set for the benchmark, and a history of clients it no longer sees.
            for client in sorted(chosen):
                add(person_index, client, [(before_window(), None, AccessLevel.PRIVILEGED)])
            others = [client for client in every_client if client not in chosen]
            for client in rng.sample(others, min(2, len(others))):
                intervals = [(before_window(), in_window(), AccessLevel.PRIVILEGED)]
                add(person_index, client, intervals)
                _grant_events(rng, directory, person_index, client, intervals, window_start)
            continue
        for client in sorted(chosen):
            level = _level_for(rng, person.role)
            roll = rng.random()
            if roll < 0.78:
                intervals = [(before_window(), None, level)]
            elif roll < 0.84:
                intervals = [(in_window(), None, level)]
            elif roll < 0.88:
                intervals = [(before_window(), in_window(), level)]
            elif roll < 0.94:
                revoked = in_window(0.02, 0.8)
                regranted = revoked + timedelta(days=rng.randint(3, 60), hours=rng.randint(0, 5))
                intervals = [(before_window(), revoked, level)]
                if regranted < window_end:
                    intervals.append((regranted, None, _level_for(rng, person.role)))
            elif roll < 0.98:
                changed = in_window()
                new_level = _level_for(rng, person.role, other_than=level)
                intervals = [(before_window(), changed, level), (changed, None, new_level)]
            else:
                regranted = window_start - timedelta(days=rng.randrange(1, 180))
                old_end = regranted - timedelta(days=rng.randrange(1, 180))
                old_start = old_end - timedelta(days=rng.randrange(10, 400))
                intervals = [(old_start, old_end, level), (regranted, None, level)]
            add(person_index, client, intervals)
            _grant_events(rng, directory, person_index, client, intervals, window_start)
    return rows


def _level_for(rng: random.Random, role: str, other_than: int | None = None) -> int:
    if role in (Role.ADMINISTRATOR, Role.ONBOARDING):
        choices, weights = (AccessLevel.MANAGE, AccessLevel.PRIVILEGED), (70, 30)
    else:
        choices = (AccessLevel.VIEW, AccessLevel.USE, AccessLevel.PRIVILEGED, AccessLevel.MANAGE)
        weights = (5, 55, 30, 10)
    while True:
        level = rng.choices(choices, weights=weights)[0]
        if level != other_than:
            return int(level)


def _grant_events(
    rng: random.Random,
    directory: Directory,
    person_index: int,
    client_index: int,
    intervals: list[tuple[datetime, datetime | None, int]],
    window_start: datetime,
) -> None:
    """The assignment.granted / assignment.revoked events of changes inside the window."""
    if not directory.managers:
        return
    person = directory.staff[person_index]
    tenant = directory.clients[client_index]
    target = {"target_type": "accounts.user", "target_id": person.id, "target_label": person.name}
    previous: tuple[datetime, datetime | None, int] | None = None
    for granted, revoked, level in intervals:
        manager = directory.staff[rng.choice(directory.managers)]
        common = {
            "client_id": tenant.id,
            "client_label": tenant.name,
            **target,
            "actor_user_id": manager.id,
            "actor_label": manager.email,
            "user_agent": manager.agent,
        }
        label = AccessLevel(level).short_label
        if granted >= window_start:
            details = {"level": label}
            if previous is not None and previous[1] == granted:
                details["previous_level"] = AccessLevel(previous[2]).short_label
            directory.changes.append(
                (
                    _micros(granted),
                    {
                        "action": "assignment.granted",
                        **common,
                        "ip_address": manager.ips[0],
                        "request_id": _uuid(rng),
                        "details": details,
                    },
                )
            )
        # A level change closes the old grant inside the new grant's event: no revoke event.
        changes_level = any(other[0] == revoked for other in intervals)
        if revoked is not None and revoked >= window_start and not changes_level:
            directory.changes.append(
                (
                    _micros(revoked),
                    {
                        "action": "assignment.revoked",
                        **common,
                        "ip_address": manager.ips[0],
                        "request_id": _uuid(rng),
                        "details": {"level": label},
                    },
                )
            )
        previous = (granted, revoked, level)


def _guardian_mirror(assignments: list[tuple]) -> None:
    """django-guardian's permissions for the active grants, as assignment_grant keeps them."""
    permissions = {
        level: Permission.objects.get(
            content_type__app_label="tenants", codename=level.permission_codename
        ).pk
        for level in AccessLevel
    }
    # Rows are ASSIGNMENT_COLUMNS: user 1, client 2, level 3, revoked_at 6.
    copy_rows(
        ClientUserObjectPermission,
        ("user_id", "content_object_id", "permission_id"),
        (
            (row[1], row[2], permission)
            for row in assignments
            if row[6] is None
            for level, permission in permissions.items()
            if level <= row[3]
        ),
    )


# Days and bursts


def _day_weight(day: date, index: int, days: int) -> float:
    if (day.month, day.day) in ((12, 25), (1, 1)):
        return 0.1
    weekday = day.weekday()
    weight = 1.0 if weekday < 5 else (0.1 if weekday == 5 else 0.08)
    return weight * (0.9 + 0.2 * index / max(days - 1, 1))  # a growing MSP


def _day_tasks(
    rng: random.Random,
    plan: Plan,
    directory: Directory,
    *,
    events: int,
    window_start: datetime,
    days: int,
    first_sequence: int,
) -> list[DayTask]:
    """Each day's share of the events (exactly `events` in all) and its planted events."""
    calendar = [window_start.date() + timedelta(days=index) for index in range(days)]
    fixed: list[list[tuple[int, dict]]] = [[] for _ in calendar]
    planted = sorted(directory.changes, key=lambda each: each[0])
    bursts = _bursts(rng, plan, calendar, events=events)
    for moment, values in [*planted, *bursts]:
        index = (moment - _micros(window_start)) // DAY_MICROS
        if 0 <= index < days:
            fixed[index].append((moment, _event(plan, values.pop("action"), **values)))
    # Planted events come first; a tiny --events keeps only as many as fit.
    keep = events
    for index, day_fixed in enumerate(fixed):
        fixed[index] = day_fixed[: max(0, keep)]
        keep -= len(fixed[index])
    free = events - sum(len(each) for each in fixed)
    weights = [_day_weight(day, index, days) for index, day in enumerate(calendar)]
    total_weight = sum(weights)
    shares = [free * weight / total_weight for weight in weights]
    counts = [math.floor(share) for share in shares]
    by_remainder = sorted(range(days), key=lambda index: counts[index] - shares[index])
    for index in by_remainder[: free - sum(counts)]:
        counts[index] += 1
    tasks = []
    sequence = first_sequence
    for index, day in enumerate(calendar):
        total = counts[index] + len(fixed[index])
        tasks.append(DayTask(index, day, sequence, total, fixed[index]))
        sequence += total
    return tasks


def _bursts(
    rng: random.Random, plan: Plan, calendar: list[date], *, events: int
) -> list[tuple[int, dict]]:
    """A few bulk openings a month: one person, more distinct credentials than the threshold."""
    per_month = round(BURSTS_PER_MONTH * min(events / 1_000_000, 1.0))
    if not per_month:
        return []
    threshold = settings.AUDIT_BULK_ACCESS_COUNT
    minutes = settings.AUDIT_BULK_ACCESS_MINUTES
    months: dict[tuple[int, int], list[date]] = {}
    for day in calendar:
        if day.weekday() < 5:
            months.setdefault((day.year, day.month), []).append(day)
    technicians = [i for i in plan.openers if plan.staff[i].role == Role.TECHNICIAN]
    planted: list[tuple[int, dict]] = []
    for weekdays in months.values():
        for _ in range(per_month):
            day = rng.choice(weekdays)
            person_index = rng.choice(technicians or plan.openers)
            person = plan.staff[person_index]
            grants = plan.grants[person_index]
            business = rng.random() < 0.7
            start = _moment(rng, day, _offsets(day, {person.zone})[person.zone], business=business)
            usable = [g for g in grants if (_grant_at(g, start) or 0) >= AccessLevel.USE]
            targets = rng.sample(usable or grants, min(len(usable or grants), rng.randint(1, 3)))
            count = rng.randint(threshold + 5, threshold + 25)
            span = rng.uniform(0.3, 0.8) * minutes * 60 * MICROS
            ticket = f"T-{rng.randrange(100_000, 1_000_000)}" if rng.random() < 0.5 else ""
            ip = person.ips[0] if rng.random() < 0.7 else _random_public_ip(rng)
            seen: set[str] = set()
            for step in range(count):
                tenant = plan.clients[rng.choice(targets).client]
                credential_id, label = rng.choice(tenant.credentials)
                if credential_id in seen:
                    credential_id, label = _unseen(tenant, seen)
                seen.add(credential_id)
                planted.append(
                    (
                        start + int(span * step / count),
                        {
                            "action": "credential.revealed",
                            "actor_user_id": person.id,
                            "actor_label": person.email,
                            "client_id": tenant.id,
                            "client_label": tenant.name,
                            "target_type": "vault.credential",
                            "target_id": credential_id,
                            "target_label": label,
                            "ticket": ticket,
                            "ip_address": ip,
                            "user_agent": person.agent,
                            "request_id": _uuid(rng),
                            "details": {"via": "web"},
                        },
                    )
                )
    return planted


def _unseen(tenant: Tenant, seen: set[str]) -> tuple[str, str]:
    for credential in tenant.credentials:
        if credential[0] not in seen:
            return credential
    return tenant.credentials[0]


# Chaining and loading


@contextmanager
def _generated_days(
    plan: Plan, tasks: list[DayTask], workers: int
) -> Iterator[Iterator[tuple[list, list]]]:
    """Each day's generated events, in day order, with at most two days per worker in flight.

    The workers are forked here, before any transaction opens and with this process's
    database connection closed, so that no child holds a copy of a live socket.
    """
    if workers == 0:
        _set_plan(plan)
        yield (generate_day(task) for task in tasks)
        return
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_set_plan, initargs=(plan,)
    ) as pool:
        queue = iter(tasks)
        # With fork, the first submit starts every worker.
        pending = deque(pool.submit(generate_day, task) for task in islice(queue, 2 * workers))

        def in_order() -> Iterator[tuple[list, list]]:
            while pending:
                result = pending.popleft().result()
                task = next(queue, None)
                if task is not None:
                    pending.append(pool.submit(generate_day, task))
                yield result

        yield in_order()


def _load(
    *,
    plan: Plan,
    tasks: list[DayTask],
    key: bytes,
    previous_hash: str,
    workers: int,
    chunk_rows: int,
    total: int,
    out: Any,
) -> int:
    """Chain each day's events onto the head and COPY them, one transaction per chunk."""
    # The hashed fields are attribute names, which are also the columns (actor_user_id...).
    columns = ", ".join((*chain.HASHED_FIELDS, "previous_hash", "entry_hash"))
    statement = f"COPY {AuditEvent._meta.db_table} ({columns}) FROM STDIN"
    loaded = 0
    started = time.monotonic()
    last_sequence = tasks[0].first_sequence - 1
    with _generated_days(plan, tasks, workers) as results:
        while True:
            in_chunk, previous_hash = _load_chunk(
                results,
                statement,
                key=key,
                previous_hash=previous_hash,
                rows=chunk_rows,
                last_sequence=last_sequence,
            )
            if not in_chunk:
                break
            last_sequence += in_chunk
            loaded += in_chunk
            elapsed = time.monotonic() - started
            out(
                f"  {loaded:>11,} / {total:,} events  {elapsed:7.1f} s  "
                f"{loaded / max(elapsed, 1e-9):>9,.0f} events/s"
            )
    return loaded


def _load_chunk(
    results: Iterator[tuple[list, list]],
    statement: str,
    *,
    key: bytes,
    previous_hash: str,
    rows: int,
    last_sequence: int,
) -> tuple[int, str]:
    """COPY whole days until `rows` events, and move the chain head, in one transaction."""
    prefix = chain.DOMAIN + b"\x00"
    in_chunk = 0
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if (head.sequence if head else 0) != last_sequence:
            raise CommandError("Someone else appended to the audit log during the seed.")
        with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for canonicals, lines in results:
                chained = []
                for canonical_event, line in zip(canonicals, lines, strict=True):
                    message = prefix + previous_hash.encode() + b"\x00" + canonical_event
                    entry = hmac.digest(key, message, "sha256").hex()
                    chained.append(f"{line}{previous_hash}\t{entry}\n")
                    previous_hash = entry
                copy.write("".join(chained).encode())
                in_chunk += len(chained)
                if in_chunk >= rows:
                    break
        if in_chunk:
            AuditChainHead.objects.update_or_create(
                pk=1, defaults={"sequence": last_sequence + in_chunk, "entry_hash": previous_hash}
            )
    return in_chunk, previous_hash
