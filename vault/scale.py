"""An MSP at benchmark scale (issue 9): what `manage.py seed_scale` writes, and how.

It builds on the audit seed (audit/management/commands/seed_audit_scale.py): staff, clients,
systems and assignments with history first; then, a chunk of clients at a time, each
client's data key, credentials, tags, previous secret versions and rotation tasks; then a
year of chained audit events whose openings name those credentials.

Bulk paths write the rows (COPY), yet everything the application checks comes from its own
code: each client's data key is created and wrapped by vault.envelope on first use (the key
provider in settings), every sealed value is field_encrypt_many's output bound to its record
id, next due dates follow rotation's effective intervals, and the audit chain is built with
the real chain key. A seed, not application code: it skips the services (and their one
event per action), and it reads rotation's interval rules, which vault's code never imports.
"""

import base64
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Role, TotpDevice, User
from audit import chain
from audit.catalogue import CREDENTIAL_ACCESS_ACTIONS
from audit.management.commands.seed_audit_scale import (
    BENCH_MANAGER_EMAIL,
    BENCH_TECHNICIAN_EMAIL,
    CREDENTIALS_PER_CLIENT,
    FIRST_NAMES,
    LAST_NAMES,
    Directory,
    Window,
    copy_rows,
    directory_plan,
    directory_write,
    events_load,
    spread,
    vacuum_analyze,
)
from audit.models import AuditEvent, Outcome
from rotation.models import RotationPolicy, RotationReason, RotationTask, RotationTaskReason
from rotation.selectors.policies import effective_interval_days
from tenants.models import AccessLevel, Assignment, Client, ClientUserObjectPermission, System
from vault.envelope import data_key_cache_clear, field_encrypt_many
from vault.models import (
    CREDENTIAL_RECORD_TYPE,
    CREDENTIAL_VERSION_RECORD_TYPE,
    ClientDataKey,
    ClientVaultPolicy,
    Credential,
    CredentialSecretVersion,
    PrivilegeTier,
    RotationRequiredReason,
    Tag,
    privilege_tier_for,
)
from vault.providers import KeyProviderError, provider_from_settings
from vault.system_keys import SystemKeyUnavailable

# The search terms a benchmark uses: in several percent of the credentials, and in one of 10,000.
SEARCH_COMMON_TERM = "admin"
SEARCH_RARE_TERM = "zephyrine"
BENCH_PASSWORD = "keyhold-bench-pass"  # noqa: S105 (printed on purpose; benchmark accounts only)
# Due credentials (within the lead time) that already have an open task; the rest are what
# the next rotation_due_scan opens.
OPEN_TASK_SHARE = 0.9
CLIENTS_PER_CHUNK = 100
MICROSECOND = timedelta(microseconds=1)


class Template(NamedTuple):
    """A kind of credential; {placeholders} are filled per client and credential (_Values)."""

    weight: float
    name: str
    credential_type: str
    username: str
    access_method: str
    host: str
    tags: str = ""  # space-separated
    used_by: str = ""


T = Template
PERSONAL_LOGIN = T(
    10, "{person} Windows login", "standard_user", "{netbios}\\{user}", "rdp", "", "ad"
)
TEMPLATES: dict[str, tuple[Template, ...]] = {
    System.Kind.SERVER: (
        T(3, "{system} local admin", "local_admin", "Administrator", "rdp", "{host}", "windows"),
        T(2, "Domain admin on {system}", "domain_admin", "{netbios}\\kh-admin", "rdp", "{host}",
          "ad"),
        T(1, "{system} iDRAC", "local_admin", "root", "web_portal", "https://{ip}", "hardware"),
        T(2, "SQL service account on {system}", "service_account", "svc_sql", "console", "{host}",
          "sql", "SQL Server and SQL Agent on {system}"),
        T(2, "Backup service account on {system}", "service_account", "svc-backup", "console",
          "{host}", "backup", "Backup jobs on {system}; scheduled task Nightly copy"),
        T(1, "{system} Linux root", "local_admin", "root", "ssh", "{host}", "linux"),
        T(3, "{person} on {system}", "standard_user", "{netbios}\\{user}", "rdp", "{host}"),
    ),
    System.Kind.FIREWALL: (
        T(3, "{system} admin", "firewall_admin", "admin", "web_portal", "https://{ip}:8443",
          "network firewall"),
        T(1, "{system} read-only", "standard_user", "readonly", "web_portal", "https://{ip}:8443",
          "network"),
        T(4, "VPN user {person}", "standard_user", "{user}", "vpn", "vpn.{domain}", "vpn"),
        T(1, "{system} API token", "api_key", "keyhold-monitor", "api", "https://{ip}:8443/api",
          "network api", "RMM firewall checks"),
    ),
    System.Kind.NETWORK_DEVICE: (
        T(3, "{system} admin", "local_admin", "admin", "ssh", "{ip}", "network"),
        T(1, "{system} SNMP community", "other", "", "other", "{ip}", "network snmp",
          "RMM network monitoring"),
    ),
    System.Kind.CLOUD_TENANT: (
        T(2, "Global admin ({system})", "cloud_tenant_admin", "admin@{tenant}", "web_portal",
          "{portal}", "m365"),
        T(1, "Helpdesk admin ({system})", "cloud_tenant_admin", "helpdesk@{domain}", "web_portal",
          "{portal}", "m365"),
        T(8, "{person} mailbox", "standard_user", "{user}@{domain}", "web_portal", "{mail}",
          "mailbox"),
        T(1, "Shared mailbox {mailbox}", "standard_user", "{mailbox}@{domain}", "web_portal",
          "{mail}", "mailbox shared-mailbox"),
        T(1, "Graph API app ({system})", "api_key", "keyhold-integration", "api", "{api}", "api",
          "PSA sync and mailbox backup"),
        T(1, "Scanner SMTP relay", "service_account", "scanner@{domain}", "other", "{smtp}",
          "printer", "Multifunction printers (scan to email)"),
    ),
    System.Kind.APPLICATION: (
        T(2, "{system} admin", "local_admin", "admin", "web_portal", "https://{host}", "app"),
        T(1, "{system} API key", "api_key", "integration", "api", "https://{host}/api", "app api",
          "Nightly export to accounting"),
        T(1, "{system} service account", "service_account", "svc_{hostname}", "console", "{host}",
          "app", "{system} application pool"),
        T(4, "{system} user {person}", "standard_user", "{user}", "web_portal", "https://{host}",
          "app"),
    ),
    System.Kind.WORKSTATION: (
        T(2, "{system} local admin", "local_admin", "Administrator", "rdp", "{host}", "windows"),
        T(2, "{system} user", "standard_user", "{user}", "console", "{host}"),
    ),
    # Credentials tied to no system.
    "": (
        PERSONAL_LOGIN,
        T(1, "Wi-Fi {ssid}", "standard_user", "", "other", "", "wifi"),
        T(1, "Domain registrar ({registrar})", "other", "it@{domain}", "web_portal",
          "https://{registrar_host}", "dns"),
        T(1, "Bank portal ({bank})", "standard_user", "{user}", "web_portal",
          "https://online.{bank_host}", "finance"),
        T(1, "Printer admin ({floor})", "local_admin", "admin", "web_portal", "http://{ip}",
          "printer"),
        T(1, "Alarm panel code", "other", "", "other", "", "facilities"),
        T(2, "{vendor} portal", "standard_user", "{user}@{domain}", "web_portal",
          "https://portal.{vendor_host}", "vendor"),
        T(1, "Door access system admin", "local_admin", "admin", "web_portal", "https://{ip}",
          "facilities"),
        T(1, "ISP router", "local_admin", "admin", "web_portal", "http://192.168.1.1", "network"),
        T(1, "Voicemail PIN {person}", "other", "{extension}", "other", "", "phones"),
    ),
}  # fmt: skip
BREAK_GLASS = T(1, "Break-glass global admin", "cloud_tenant_admin", "breakglass@{tenant}",
                "web_portal", "{portal}", "m365 break-glass")  # fmt: skip
RARE = T(1, "Zephyrine kiosk", "standard_user", "zephyrine", "console",
         "zephyrine-kiosk.{local}", "kiosk")  # fmt: skip
EXTRA_TAGS = ("critical", "legacy", "vip", "onboarding", "review", "vendor-managed", "mfa-exempt")
# The {portal}, {mail}, {api}, {smtp} and {tenant} of a cloud tenant system.
CLOUDS = {
    "google": {
        "portal": "https://admin.google.com",
        "mail": "https://mail.google.com",
        "api": "https://www.googleapis.com",
        "smtp": "smtp-relay.gmail.com",
        "tenant": "{domain}",
    },
    "microsoft": {
        "portal": "https://admin.microsoft.com",
        "mail": "https://outlook.office.com",
        "api": "https://graph.microsoft.com",
        "smtp": "smtp.office365.com",
        "tenant": "{compact}.onmicrosoft.com",
    },
}
SSIDS = ("Staff", "Guest", "Office", "Warehouse", "Clinic", "Boardroom", "IoT")
REGISTRARS = (
    ("GoDaddy", "sso.godaddy.com"),
    ("Namecheap", "www.namecheap.com"),
    ("Cloudflare", "dash.cloudflare.com"),
)
BANKS = (
    ("First National", "firstnational.example"),
    ("Harbor Credit", "harborcredit.example"),
    ("Summit Bank", "summitbank.example"),
)
VENDORS = ("Dell", "Lenovo", "Ingram", "Sage", "Intuit", "Xerox", "Ricoh", "Comcast", "Verizon")
MAILBOXES = ("info", "accounts", "reception", "billing", "scans", "hr", "orders", "support")
FLOORS = ("ground floor", "first floor", "front office", "warehouse", "lab")
NOTES = (
    "Reset through the vendor portal; the account PIN is in the onboarding document.",
    "MFA prompts go to the shared IT phone in the server room.",
    "Tell the office manager before changing it: the front desk uses it too.",
    "Recovery email points to the old IT provider; update at the next visit.",
    "Console access only from the management VLAN.",
    "Ticket the vendor before a change; they hard-code it in their support tool.",
)
PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#$%&*+-=?@^_"  # noqa: S105
STATUS_WEIGHTS = (
    (Credential.Status.ACTIVE, 89.0),
    (Credential.Status.ARCHIVED, 8.0),
    (Credential.Status.EXPOSED, 2.0),
    (Credential.Status.COMPROMISED, 1.0),
)
SOURCE_WEIGHTS = (
    (Credential.Source.MANUAL, 70.0),
    (Credential.Source.INHERITED, 15.0),
    (Credential.Source.INTAKE, 10.0),
    (Credential.Source.CLIENT_LINK, 5.0),
)
MFA_WEIGHTS = (
    (Credential.MfaOnPath.YES, 40.0),
    (Credential.MfaOnPath.NO, 25.0),
    (Credential.MfaOnPath.UNKNOWN, 35.0),
)
# (share of clients, high, service, standard days); the rest keep the defaults (no row).
ROTATION_POLICIES = ((0.15, 60, 180, None), (0.10, 90, 365, 180), (0.05, 30, 90, 90))

CREDENTIAL_COLUMNS = (
    "id",
    "client_id",
    "system_id",
    "name",
    "credential_type",
    "privilege_tier",
    "username",
    "access_method",
    "host",
    "secret",
    "notes",
    "totp_seed",
    "is_shared",
    "used_by",
    "mfa_on_path",
    "last_rotated_at",
    "rotation_interval_days",
    "next_rotation_due",
    "source",
    "status",
    "rotation_required_at",
    "rotation_required_reason",
    "is_emergency",
    "seal_broken_at",
    "seal_broken_by_id",
    "created_at",
    "updated_at",
)
VERSION_COLUMNS = (
    "id",
    "client_id",
    "credential_id",
    "version",
    "secret",
    "created_at",
    "created_by_id",
    "reason",
)
TASK_COLUMNS = (
    "id",
    "client_id",
    "credential_id",
    "status",
    "due_at",
    "owner_id",
    "created_at",
    "reminded_at",
    "escalated_at",
    "completed_at",
    "completed_by_id",
    "replaced_version_id",
    "cancelled_at",
    "cancelled_by_id",
    "cancel_reason",
    "psa_ticket_id",
    "psa_ticket_closed_at",
    "psa_last_error",
)
REASON_COLUMNS = ("id", "task_id", "reason", "detail", "added_at", "added_by_id")


def scale_guard(*, settings_dict: dict, existing: dict[str, int]) -> None:
    """Refuse SQLite, and a database that holds anything already.

    No --append: the benchmark's logins, search terms and sizes describe one data set.
    """
    engine = str(settings_dict.get("ENGINE", ""))
    name = settings_dict.get("NAME", "")
    if engine.rsplit(".", 1)[-1] != "postgresql":
        raise CommandError(
            f"seed_scale loads its rows with COPY and needs PostgreSQL; this database is "
            f"{engine or 'unknown'} ({name}). Point DATABASE_URL at a database of its own, "
            "e.g. postgres://postgres@127.0.0.1:5432/keyhold_scale."
        )
    held = {table: rows for table, rows in existing.items() if rows}
    if held:
        listed = ", ".join(f"{rows:,} {table}" for table, rows in held.items())
        raise CommandError(
            f"{name} already holds data ({listed}). seed_scale builds one data set in an empty, "
            "migrated database: createdb a new one and run migrate first."
        )


def existing_rows() -> dict[str, int]:
    """What the guard looks at: people, clients, credentials and audit events."""
    return {
        "staff": User.objects.count(),
        "clients": Client.objects.count(),
        "credentials": Credential.objects.count(),
        "audit events": AuditEvent.objects.count(),
    }


@dataclass
class ScaleReport:
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    due: int = 0
    due_without_task: int = 0
    # Credentials whose name, username or host holds the term (what a search finds, roughly).
    common_matches: int = 0
    rare_matches: int = 0
    rare_visible_to_technician: int = 0


class _Steps:
    """Times each step and says how long it took."""

    def __init__(self, report: ScaleReport, out: Any) -> None:
        self.report = report
        self.out = out

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.out(f"{name}...")
        started = time.monotonic()
        yield
        self.report.seconds[name] = time.monotonic() - started
        self.out(f"{name}: {self.report.seconds[name]:.1f} s")


def _last_openings_write() -> None:
    """Credential.last_opened_at from the events COPY wrote (vault.receivers keeps it in step
    for events that audit.record() writes; COPY passes no signal)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE vault_credential AS credential SET last_opened_at = opened.last
            FROM (
                SELECT target_id, MAX(occurred_at) AS last FROM audit_auditevent
                WHERE action = ANY(%s) AND outcome = %s AND target_type = %s
                GROUP BY target_id
            ) AS opened
            WHERE credential.id = opened.target_id::uuid
            """,
            [sorted(CREDENTIAL_ACCESS_ACTIONS), Outcome.SUCCESS, CREDENTIAL_RECORD_TYPE],
        )


def seed_scale(
    *,
    clients: int,
    credentials: int,
    systems: int,
    staff: int,
    tech_clients: int,
    events: int,
    months: int,
    seed: int,
    workers: int,
    chunk_rows: int,
    out: Any = print,
) -> ScaleReport:
    """Write the whole data set; returns seconds per step and rows per table."""
    _key_provider_check()
    report = ScaleReport()
    steps = _Steps(report, out)
    started = time.monotonic()
    rng = random.Random(f"{seed}:scale")  # noqa: S311 (test data, reproducible)
    window = Window.ending_today(months)
    out(f"Window: {window.start:%Y-%m-%d} to {window.end:%Y-%m-%d}, seed {seed}.")
    with steps.step("staff, clients, systems, assignments"):
        directory = directory_plan(
            rng,
            staff=staff,
            clients=clients,
            window=window,
            systems=systems,
            bench_technician_clients=tech_clients,
        )
        world = _World.of(rng, directory)
        directory_write(directory)
        _bench_logins_enable(rng, password=BENCH_PASSWORD)
    with steps.step("policies"):
        _policies_write(rng, world)
    with steps.step("keys and credentials"):
        _credentials_write(rng, world, total=credentials, window=window, out=out)
    report.due, report.due_without_task = world.due, world.due_without_task
    with steps.step("audit events"):
        events_load(
            rng,
            directory,
            events=events,
            window=window,
            seed=seed,
            workers=workers,
            chunk_rows=chunk_rows,
            out=out,
        )
    with steps.step("last openings"):
        _last_openings_write()
    with steps.step("vacuum and analyze"):
        vacuum_analyze(
            vacuum=[
                AuditEvent,
                Credential,
                Credential.tags.through,
                CredentialSecretVersion,
                RotationTask,
                RotationTaskReason,
                Assignment,
                ClientUserObjectPermission,
            ],
            analyze=[
                User,
                User.groups.through,
                TotpDevice,
                Client,
                System,
                ClientDataKey,
                Tag,
                ClientVaultPolicy,
                RotationPolicy,
            ],
        )
    report.seconds["total"] = time.monotonic() - started
    report.rows = _row_counts()
    report.common_matches = _matching(SEARCH_COMMON_TERM).count()
    report.rare_matches = _matching(SEARCH_RARE_TERM).count()
    report.rare_visible_to_technician = (
        _matching(SEARCH_RARE_TERM)
        .filter(
            client__assignments__user__email=BENCH_TECHNICIAN_EMAIL,
            client__assignments__revoked_at__isnull=True,
        )
        .count()
    )
    return report


def _matching(term: str) -> QuerySet[Credential]:
    return Credential.objects.exclude(status=Credential.Status.ARCHIVED).filter(
        Q(name__icontains=term) | Q(username__icontains=term) | Q(host__icontains=term)
    )


def _key_provider_check() -> None:
    """Fail before the first row if the keys cannot be had (the chain key needs them too)."""
    try:
        chain.chain_key()
    except (SystemKeyUnavailable, KeyProviderError) as exc:
        raise CommandError(
            f"The key provider cannot be used ({exc}). With the local provider, create the "
            "keyring first (manage.py keyring_init) and serve the data set with the same one."
        ) from None


def _row_counts() -> dict[str, int]:
    tables = {
        "staff": User,
        "clients": Client,
        "systems": System,
        "assignments": Assignment,
        "guardian permissions": ClientUserObjectPermission,
        "client data keys": ClientDataKey,
        "vault policies": ClientVaultPolicy,
        "rotation policies": RotationPolicy,
        "credentials": Credential,
        "tags": Tag,
        "credential tags": Credential.tags.through,
        "secret versions": CredentialSecretVersion,
        "rotation tasks": RotationTask,
        "rotation task reasons": RotationTaskReason,
        "audit events": AuditEvent,
    }
    rows = {name: model.objects.count() for name, model in tables.items()}
    rows["open rotation tasks"] = RotationTask.objects.filter(
        status=RotationTask.Status.OPEN
    ).count()
    return rows


def manifest_write(path: Path, *, report: ScaleReport, options: dict[str, Any]) -> None:
    """A small JSON beside the run for the benchmark: logins, search terms, sizes, figures."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "database": connection.settings_dict.get("NAME", ""),
        "seeded_at": timezone.now().isoformat(timespec="seconds"),
        "options": options,
        "logins": {
            "technician": BENCH_TECHNICIAN_EMAIL,
            "manager": BENCH_MANAGER_EMAIL,
            "password": BENCH_PASSWORD,
            "totp": "accounts.models.TotpDevice.current_code() of the user's confirmed device",
        },
        "search": {
            "common": SEARCH_COMMON_TERM,
            "rare": SEARCH_RARE_TERM,
            "common_matches": report.common_matches,
            "rare_matches": report.rare_matches,
            "rare_visible_to_technician": report.rare_visible_to_technician,
        },
        # The data keys are wrapped by this provider: serve the data set with the same one.
        "key_provider": {
            "name": provider_from_settings().name,
            "key_id": provider_from_settings().key_id(),
            "keyring": str(settings.KEYHOLD_KEYRING),
        },
        "rows": report.rows,
        "seconds": {name: round(seconds, 1) for name, seconds in report.seconds.items()},
        "due_within_lead_time": report.due,
        "due_without_open_task": report.due_without_task,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


# --- The clients' world: who may be their primary technician, their policies -------------


@dataclass
class _World:
    """What the credential writer needs per client, and the tallies it keeps."""

    directory: Directory
    client_ids: list[uuid.UUID]
    slugs: list[str]
    systems: list[list[System]]
    primary: list[uuid.UUID | None]
    bench_clients: set[int]
    managers: list[uuid.UUID]
    policies: list[RotationPolicy] = field(default_factory=list)
    tag_ids: dict[str, int] = field(default_factory=dict)
    due: int = 0
    due_without_task: int = 0

    @classmethod
    def of(cls, rng: random.Random, directory: Directory) -> "_World":
        """Read the plan before directory_write drops its rows; set primary technicians."""
        technicians: list[list[int]] = [[] for _ in directory.clients]
        bench_clients: set[int] = set()
        for person_index, grants in enumerate(directory.grants):
            if directory.staff[person_index].role != Role.TECHNICIAN:
                continue
            for grant in grants:
                _, revoked, level = grant.intervals[-1]
                if revoked is None and level >= AccessLevel.PRIVILEGED:
                    technicians[grant.client].append(person_index)
                    if person_index == directory.bench_technician:
                        bench_clients.add(grant.client)
        primary: list[uuid.UUID | None] = []
        for client_index, row in enumerate(directory.client_rows):
            candidates = technicians[client_index]
            chosen = None
            if client_index in bench_clients and rng.random() < 0.5:
                chosen = directory.bench_technician
            elif candidates and rng.random() < 0.8:
                chosen = rng.choice(candidates)
            primary.append(uuid.UUID(directory.staff[chosen].id) if chosen is not None else None)
            row.primary_technician_id = primary[-1]
        return cls(
            directory=directory,
            client_ids=[row.id for row in directory.client_rows],
            slugs=[row.slug for row in directory.client_rows],
            systems=directory.client_systems,
            primary=primary,
            bench_clients=bench_clients,
            managers=[uuid.UUID(directory.staff[index].id) for index in directory.managers],
        )


def _bench_logins_enable(rng: random.Random, *, password: str) -> None:
    """A known password and an enrolled authenticator for the two benchmark people."""
    hashed = make_password(password)
    with transaction.atomic():
        for user in User.objects.filter(email__in=(BENCH_TECHNICIAN_EMAIL, BENCH_MANAGER_EMAIL)):
            user.password = hashed
            user.save(update_fields=["password"])
            TotpDevice.objects.create(
                user=user,
                name="Benchmark authenticator",
                confirmed=True,
                sealed_secret=TotpDevice.seal_secret(rng.randbytes(20), user_id=user.pk),
            )


def _policies_write(rng: random.Random, world: _World) -> None:
    """Rotation and vault policies for some clients; the rest keep the defaults (no row)."""
    now = timezone.now()
    rotation_rows, vault_rows = [], []
    for client_id in world.client_ids:
        roll = rng.random()
        policy = RotationPolicy(client_id=client_id)
        for share, high, service, standard in ROTATION_POLICIES:
            if roll < share:
                policy = RotationPolicy(
                    client_id=client_id,
                    high_privilege_days=high,
                    service_days=service,
                    standard_days=standard,
                    updated_at=now - timedelta(days=rng.randrange(1, 700)),
                )
                rotation_rows.append(policy)
                break
            roll -= share
        world.policies.append(policy)
        ticket, approval = rng.random() < 0.2, rng.random() < 0.1
        if ticket or approval or rng.random() < 0.05:
            vault_rows.append(
                ClientVaultPolicy(
                    client_id=client_id,
                    reveal_ticket_required=ticket,
                    checkout_approval_required=approval,
                    checkout_default_minutes=rng.choice((30, 60, 60, 120)),
                    checkout_max_minutes=rng.choice((240, 480, 480)),
                    updated_at=now - timedelta(days=rng.randrange(1, 700)),
                )
            )
    with transaction.atomic():
        RotationPolicy.objects.bulk_create(rotation_rows, batch_size=1000)
        ClientVaultPolicy.objects.bulk_create(vault_rows, batch_size=1000)


# --- Credentials ---------------------------------------------------------------------------


@dataclass
class _Chunk:
    """Rows of a chunk of clients, written together with COPY in one transaction."""

    credentials: list[tuple] = field(default_factory=list)
    tags: list[tuple] = field(default_factory=list)
    versions: list[tuple] = field(default_factory=list)
    tasks: list[tuple] = field(default_factory=list)
    reasons: list[tuple] = field(default_factory=list)

    def write(self) -> None:
        copy_rows(Credential, CREDENTIAL_COLUMNS, self.credentials)
        copy_rows(Credential.tags.through, ("credential_id", "tag_id"), self.tags)
        copy_rows(CredentialSecretVersion, VERSION_COLUMNS, self.versions)
        copy_rows(RotationTask, TASK_COLUMNS, self.tasks)
        copy_rows(RotationTaskReason, REASON_COLUMNS, self.reasons)


def _credentials_write(
    rng: random.Random, world: _World, *, total: int, window: Window, out: Any
) -> None:
    """Each client's credentials (and key, tags, versions, tasks), a chunk of clients a time."""
    directory = world.directory
    clients = len(world.client_ids)
    counts = spread(total, directory.client_weights, minimum=max(1, min(10, total // clients // 4)))
    rare = _rare_places(rng, world, counts=counts, total=total)
    every = [BREAK_GLASS, RARE, *(t for templates in TEMPLATES.values() for t in templates)]
    vocabulary = {tag for template in every for tag in template.tags.split()} | set(EXTRA_TAGS)
    Tag.objects.bulk_create([Tag(name=name) for name in sorted(vocabulary)], ignore_conflicts=True)
    world.tag_ids = dict(Tag.objects.values_list("name", "id"))
    now = timezone.now()
    lead = timedelta(days=settings.ROTATION_TASK_LEAD_DAYS)
    started = time.monotonic()
    written = 0
    for first in range(0, clients, CLIENTS_PER_CHUNK):
        chunk = _Chunk()
        with transaction.atomic():
            for index in range(first, min(first + CLIENTS_PER_CHUNK, clients)):
                writer = _ClientWriter(rng, world, index, window=window, now=now, lead=lead)
                writer.build(counts[index], rare=rare.get(index, set()), chunk=chunk)
            chunk.write()
        # Unwrapped keys are cached per process; a seed touches each client once.
        data_key_cache_clear()
        written += len(chunk.credentials)
        elapsed = time.monotonic() - started
        out(
            f"  {written:>9,} / {total:,} credentials  {elapsed:6.1f} s  "
            f"{written / max(elapsed, 1e-9):>7,.0f}/s"
        )


def _rare_places(
    rng: random.Random, world: _World, *, counts: list[int], total: int
) -> dict[int, set[int]]:
    """Where the rare term goes: (client, position), two of them with the bench technician."""
    wanted = max(3, total // 10_000)
    bench = sorted(world.bench_clients)
    chosen = rng.sample(bench, min(2, len(bench)))
    others = range(len(counts))
    chosen += [rng.choice(others) for _ in range(wanted - len(chosen))]
    places: dict[int, set[int]] = {}
    for client in chosen:
        # Position 0 is the client's guaranteed active credential: keep it ordinary.
        if counts[client] > 1:
            places.setdefault(client, set()).add(rng.randrange(1, counts[client]))
    return places


class _ClientWriter:
    """One client's credentials: metadata drawn, values sealed under its key, rows built."""

    def __init__(
        self,
        rng: random.Random,
        world: _World,
        index: int,
        *,
        window: Window,
        now: datetime,
        lead: timedelta,
    ) -> None:
        self.rng = rng
        self.world = world
        self.index = index
        self.client = Client(id=world.client_ids[index], slug=world.slugs[index])
        self.policy = world.policies[index]
        self.primary = world.primary[index]
        self.window = window
        self.now = now
        self.lead = lead
        self.values = _client_values(rng, world.slugs[index], world.systems[index])
        self.names: Counter[str] = Counter()
        self.singles: set[tuple[uuid.UUID | None, str]] = set()

    def build(self, count: int, *, rare: set[int], chunk: _Chunk) -> None:
        rng = self.rng
        systems = self.world.systems[self.index]
        clouds = [system for system in systems if system.kind == System.Kind.CLOUD_TENANT]
        break_glass = 1 if clouds and count >= 3 and rng.random() < 0.6 else None
        drafts = []
        for position in range(count):
            if position in rare:
                system, template = None, RARE
            elif position == break_glass:
                system, template = clouds[0], BREAK_GLASS
            else:
                system, template = self._kind(systems)
            drafts.append(
                self._draft(
                    template,
                    system,
                    ordinary=position == 0,
                    emergency=position == break_glass,
                    rare=position in rare,
                )
            )
        self._seal_and_add(drafts, chunk)

    def _kind(self, systems: list[System]) -> tuple[System | None, Template]:
        """A system (or none) and a template. A template that names no person gives one
        credential per system (its local admin, say): drawn again, twice at most, then a
        person's login instead."""
        rng = self.rng
        for _ in range(3):
            system = rng.choice(systems) if systems and rng.random() < 0.6 else None
            templates = TEMPLATES.get(system.kind if system is not None else "", TEMPLATES[""])
            template = rng.choices(templates, weights=[t.weight for t in templates])[0]
            if "{person}" in template.name or "{mailbox}" in template.name:
                return system, template
            key = (system.id if system is not None else None, template.name)
            if key not in self.singles:
                self.singles.add(key)
                return system, template
        return None, PERSONAL_LOGIN

    def _draft(
        self,
        template: Template,
        system: System | None,
        *,
        ordinary: bool,
        emergency: bool,
        rare: bool,
    ) -> dict[str, Any]:
        """A credential's metadata and plaintexts; `ordinary`: active, no seal, old enough."""
        rng = self.rng
        credential_type, access = template.credential_type, template.access_method
        values = self.values.draw(rng, system)
        name = template.name.format_map(values)
        self.names[name] += 1
        if self.names[name] > 1:
            name = f"{name} ({self.names[name]})"
        tier = privilege_tier_for(credential_type)
        status = _weighted(rng, STATUS_WEIGHTS)
        source = _weighted(rng, SOURCE_WEIGHTS)
        if ordinary or emergency or rare:
            status = Credential.Status.ACTIVE
        age_days = rng.uniform(20, 1800) if not ordinary else rng.uniform(400, 1800)
        created_at = self.now - timedelta(days=age_days, seconds=rng.randrange(86_400))
        own_days = rng.choice((30, 60, 90)) if rng.random() < 0.05 else None
        interval = effective_interval_days(policy=self.policy, tier=tier, own_days=own_days)
        last_rotated_at, rotated = self._last_rotation(created_at, interval, source)
        base = last_rotated_at or created_at
        next_due = base + timedelta(days=interval) if interval is not None else None
        tag_names = template.tags.split() if rng.random() < 0.7 else []
        if rng.random() < 0.1:
            tag_names.append(rng.choice(EXTRA_TAGS))
        draft = {
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "system": system,
            "name": name[:200],
            "credential_type": credential_type,
            "tier": tier,
            "username": template.username.format_map(values)[:254],
            "access_method": access,
            "host": template.host.format_map(values),
            "secret": self._secret(credential_type),
            "notes": rng.choice(NOTES) if rng.random() < 0.35 else "",
            "totp_seed": "",
            "is_shared": rng.random() < 0.1,
            "used_by": template.used_by.format_map(values),
            "mfa_on_path": _weighted(rng, MFA_WEIGHTS),
            "last_rotated_at": last_rotated_at,
            "rotated": rotated,
            "own_days": own_days,
            "next_due": next_due,
            "source": source,
            "status": status,
            "required_at": None,
            "required_reason": "",
            "emergency": emergency,
            "seal_broken_at": None,
            "seal_broken_by": None,
            "created_at": created_at,
            "updated_at": max(created_at, last_rotated_at or created_at),
            "tags": sorted(set(tag_names)),
        }
        if access in ("web_portal", "vpn") and rng.random() < 0.12:
            draft["totp_seed"] = base64.b32encode(rng.randbytes(20)).decode()
        if emergency:
            draft["mfa_on_path"] = Credential.MfaOnPath.NO
            if rng.random() < 0.05 and self.world.managers:
                broken = self.now - timedelta(days=rng.uniform(1, 20))
                draft |= {
                    "seal_broken_at": broken,
                    "seal_broken_by": rng.choice(self.world.managers),
                    "required_at": broken,
                    "required_reason": RotationRequiredReason.EMERGENCY_OPENED,
                }
        elif tier == PrivilegeTier.HIGH and status != "archived" and rng.random() < 0.01:
            # A lease ended recently and the secret has not been changed since.
            draft["required_at"] = self.now - timedelta(days=rng.uniform(0.1, 10))
            draft["required_reason"] = RotationRequiredReason.CHECKOUT_ENDED
        if draft["required_at"] is not None:
            draft["updated_at"] = max(draft["updated_at"], draft["required_at"])
        return draft

    def _last_rotation(
        self, created_at: datetime, interval: int | None, source: str
    ) -> tuple[datetime | None, bool]:
        """(last rotated, rotated since created): scheduled ones drift a little past due."""
        fresh = created_at if source == Credential.Source.MANUAL else None
        if interval is None:
            return fresh, False
        since = timedelta(days=interval * self.rng.uniform(0, 1.12))
        if source == Credential.Source.INHERITED and self.rng.random() < 0.5:
            return None, False  # never rotated since it came from the previous provider
        last = self.now - since
        if last <= created_at + timedelta(days=1):
            return fresh, False
        return last, True

    def _secret(self, credential_type: str) -> str:
        rng = self.rng
        if credential_type == "api_key":
            return f"kh_{rng.getrandbits(160):040x}"
        if credential_type == "other" and rng.random() < 0.5:
            return f"{rng.randrange(10**6):06d}"
        return "".join(rng.choices(PASSWORD_ALPHABET, k=rng.randint(16, 32)))

    def _seal_and_add(self, drafts: list[dict[str, Any]], chunk: _Chunk) -> None:
        """Seal every value of the client in two calls (credentials, versions); add the rows."""
        rng = self.rng
        plain = []
        for draft in drafts:
            record = str(draft["id"])
            plain.append((record, "secret", draft["secret"].encode()))
            plain.append((record, "notes", draft["notes"].encode()))
            if draft["totp_seed"]:
                plain.append((record, "totp_seed", draft["totp_seed"].encode()))
        versions = []
        for draft in drafts:
            if draft["rotated"]:
                old = "".join(rng.choices(PASSWORD_ALPHABET, k=len(draft["secret"])))
                versions.append((draft, uuid.UUID(int=rng.getrandbits(128), version=4), old))
        # The real path: the client's data key is created and wrapped on first use.
        sealed = iter(
            field_encrypt_many(client=self.client, record_type=CREDENTIAL_RECORD_TYPE, values=plain)
        )
        sealed_versions = field_encrypt_many(
            client=self.client,
            record_type=CREDENTIAL_VERSION_RECORD_TYPE,
            values=[(str(version_id), "secret", old.encode()) for _, version_id, old in versions],
        )
        client_id = self.client.id
        for draft in drafts:
            secret, notes = next(sealed), next(sealed)
            totp = next(sealed) if draft["totp_seed"] else None
            system = draft["system"]
            chunk.credentials.append(
                (
                    draft["id"],
                    client_id,
                    system.id if system is not None else None,
                    draft["name"],
                    draft["credential_type"],
                    draft["tier"],
                    draft["username"],
                    draft["access_method"],
                    draft["host"],
                    secret,
                    notes,
                    totp,
                    draft["is_shared"],
                    draft["used_by"],
                    draft["mfa_on_path"],
                    draft["last_rotated_at"],
                    draft["own_days"],
                    draft["next_due"],
                    draft["source"],
                    draft["status"],
                    draft["required_at"],
                    draft["required_reason"],
                    draft["emergency"],
                    draft["seal_broken_at"],
                    draft["seal_broken_by"],
                    draft["created_at"],
                    draft["updated_at"],
                )
            )
            chunk.tags.extend((draft["id"], self.world.tag_ids[name]) for name in draft["tags"])
            self._open_task(draft, chunk)
        for (draft, version_id, _), sealed_version in zip(versions, sealed_versions, strict=True):
            self._rotation_done(draft, version_id, sealed_version, chunk)
        self.world.directory.clients[self.index].credentials = _openable(
            rng, drafts, before=self.window.start
        )

    def _rotation_done(
        self, draft: dict[str, Any], version_id: uuid.UUID, sealed: bytes, chunk: _Chunk
    ) -> None:
        """The kept previous secret and the done task whose rotation replaced it."""
        rng = self.rng
        rotated_at = draft["last_rotated_at"]
        chunk.versions.append(
            (
                version_id,
                self.client.id,
                draft["id"],
                1,
                sealed,
                rotated_at,
                self.primary,
                "Scheduled rotation",
            )
        )
        task_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        due_at = rotated_at - timedelta(days=rng.uniform(-3, 5))
        created_at = min(due_at - self.lead, rotated_at - timedelta(hours=1))
        reminder, escalation = due_at - timedelta(days=3), due_at + timedelta(hours=1)
        task = {
            "id": task_id,
            "status": RotationTask.Status.DONE,
            "due_at": due_at,
            "created_at": created_at,
            "reminded_at": reminder if reminder < rotated_at else None,
            "escalated_at": escalation if escalation < rotated_at else None,
            "completed_at": rotated_at,
            "completed_by": self.primary,
            "replaced_version": version_id,
        }
        self._task_rows(draft, task, [(RotationReason.SCHEDULE, created_at)], chunk)

    def _open_task(self, draft: dict[str, Any], chunk: _Chunk) -> None:
        """The open task of a due or marked credential (most due ones have one already)."""
        if draft["status"] == Credential.Status.ARCHIVED:
            return
        rng = self.rng
        reasons: list[tuple[str, datetime]] = []
        due_at = None
        next_due = draft["next_due"]
        if next_due is not None and next_due <= self.now + self.lead:
            self.world.due += 1
            if rng.random() < OPEN_TASK_SHARE:
                due_at = next_due
                scheduled_at = max(next_due - self.lead, draft["created_at"])
                reasons.append((RotationReason.SCHEDULE, scheduled_at))
            else:
                self.world.due_without_task += 1
        if draft["required_at"] is not None:
            reason = {
                RotationRequiredReason.CHECKOUT_ENDED: RotationReason.CHECKOUT_ENDED,
                RotationRequiredReason.EMERGENCY_OPENED: RotationReason.EMERGENCY_OPENED,
            }[draft["required_reason"]]
            required_at = draft["required_at"]
            due_at = min(due_at, required_at) if due_at is not None else required_at
            reasons.append((reason, required_at))
        if not reasons:
            return
        created_at = min(min(at for _, at in reasons), self.now)
        # The beat jobs have run: reminded when due within three days, escalated once late.
        reminder, escalation = due_at - timedelta(days=3), due_at + timedelta(hours=1)
        task = {
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "status": RotationTask.Status.OPEN,
            "due_at": due_at,
            "created_at": created_at,
            "reminded_at": max(created_at, reminder) if reminder <= self.now else None,
            "escalated_at": escalation if escalation < self.now else None,
            "completed_at": None,
            "completed_by": None,
            "replaced_version": None,
        }
        self._task_rows(draft, task, reasons, chunk)

    def _task_rows(
        self,
        draft: dict[str, Any],
        task: dict[str, Any],
        reasons: list[tuple[str, datetime]],
        chunk: _Chunk,
    ) -> None:
        chunk.tasks.append(
            (
                task["id"],
                self.client.id,
                draft["id"],
                task["status"],
                task["due_at"],
                self.primary,
                task["created_at"],
                task["reminded_at"],
                task["escalated_at"],
                task["completed_at"],
                task["completed_by"],
                task["replaced_version"],
                None,
                None,
                "",
                "",
                None,
                "",
            )
        )
        for reason, added_at in reasons:
            reason_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
            chunk.reasons.append((reason_id, task["id"], reason, "", added_at, None))


def _openable(rng: random.Random, drafts: list[dict[str, Any]], *, before: datetime) -> list:
    """The (id, label) pairs the client's audit events open: live, ordinary, old enough."""
    usable = [
        draft
        for draft in drafts
        if draft["status"] != Credential.Status.ARCHIVED and not draft["emergency"]
    ]
    older = [draft for draft in usable if draft["created_at"] < before] or usable
    picked = rng.sample(older, min(len(older), CREDENTIALS_PER_CLIENT))
    return [(str(draft["id"]), draft["name"][:254]) for draft in picked]


def _weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([value for value, _ in table], weights=[w for _, w in table])[0]


@dataclass
class _Values:
    """The placeholders of the templates: the client's, and fresh ones per credential."""

    fixed: dict[str, str]
    subnet: str
    clouds: dict[uuid.UUID, dict[str, str]]

    def draw(self, rng: random.Random, system: System | None) -> dict[str, str]:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        registrar, registrar_host = rng.choice(REGISTRARS)
        bank, bank_host = rng.choice(BANKS)
        vendor = rng.choice(VENDORS)
        values = {
            **self.fixed,
            "person": f"{first} {last}",
            "user": f"{first}.{last}".lower(),
            "ip": f"{self.subnet}.{rng.randrange(1, 255)}",
            "ssid": rng.choice(SSIDS),
            "registrar": registrar,
            "registrar_host": registrar_host,
            "bank": bank,
            "bank_host": bank_host,
            "vendor": vendor,
            "vendor_host": f"{vendor.lower()}.com",
            "mailbox": rng.choice(MAILBOXES),
            "floor": rng.choice(FLOORS),
            "extension": str(rng.randrange(100, 900)),
        }
        if system is not None:
            hostname = slugify(system.name) or "host"
            values |= {
                "system": system.name,
                "hostname": hostname.replace("-", "_"),
                "host": f"{hostname}.{self.fixed['local']}",
            }
            values |= self.clouds.get(system.id, {})
        return values


def _client_values(rng: random.Random, slug: str, systems: list[System]) -> _Values:
    compact = slug.replace("-", "")[:40] or "client"
    domain = f"{compact}.com"

    def cloud(which: str) -> dict[str, str]:
        return {
            key: value.format(domain=domain, compact=compact)
            for key, value in CLOUDS[which].items()
        }

    fixed = {
        "domain": domain,
        "local": f"{compact}.local",
        "compact": compact,
        "netbios": compact[:15].upper(),
        "system": "the office",
        "hostname": "office",
        "host": f"office.{compact}.local",
        **cloud("microsoft"),
    }
    clouds = {
        system.id: cloud("google" if "Google" in system.name else "microsoft")
        for system in systems
        if system.kind == System.Kind.CLOUD_TENANT
    }
    subnet = f"10.{rng.randrange(256)}.{rng.randrange(256)}"
    return _Values(fixed=fixed, subnet=subnet, clouds=clouds)
