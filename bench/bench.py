"""Keyhold's benchmark: the running application over HTTP, each figure beside the floor.

Seed a PostgreSQL database of its own (issue 9's sizes by default), then run the bench with
the same keyring (KEYHOLD_KEYRING, var/keyring.json by default): the seed wrapped the
clients' data keys with it.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/keyhold_scale
    export REDIS_URL=redis://127.0.0.1:6379/5   # optional: production's cache (rate limits)
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_scale
    .venv/bin/python bench/bench.py                  # --quick, --runs 30, --seconds 10

What it does, in one run:

1. The floor (bench/floor.py): an indexed SELECT, an AES-256-GCM decrypt and an audit INSERT
   per committed transaction, from 1 and 4 connections, on the same database.
2. gunicorn on loopback (config.wsgi, production settings over plain http, 2 gthread
   workers: the sync worker of the Dockerfile closes every connection, --worker-class sync
   measures that), driven with http.client and keep-alive by 1 or 4 client processes,
   after a warm-up:
   API reveal (1 and 4 clients, many credentials, an API token), browser reveal (the htmx
   endpoint, a session that passed MFA, its CSRF token), the technician's credential list
   page 1, global search for a common and a rare term, the API list of 1,000 credentials,
   a checkout request and its check-in (API), the monthly access review for the whole MSP
   and the quarter's hygiene audit (as the manager).
3. In this process, with the same settings: the number of queries each of those requests
   issues and the time they spend in the database (every statement of the request, timed by
   `connection.execute_wrapper`), and the rotation due scan (rotation_due_scan), timed.
4. bench/import_bench.py on a scratch database of its own (created, migrated and dropped
   here, so the seeded data set stays as seeded): a 50,000-row import, time and peak memory.

Who acts: the benchmark technician and manager that seed_scale creates (bench.technician@
and bench.manager@scale.keyhold.test; without them, the technician and the manager with the
most clients), or those --technician and --manager name: the technician for the pages and
the browser reveal, the manager for the review and the hygiene audit. API tokens are made by
administrators and act as their creator, so the API calls use a token of
"bench-api@bench.keyhold.test", an administrator the bench keeps assigned to exactly the
technician's clients at the technician's levels: the same reach, through the API's path.
The bench writes what its requests write (sessions, audit events, checkouts, the rotation
tasks the scan opens) and revokes its token at the end.

At issue 9's sizes a run takes about 13 minutes, 5 of them the import's tracemalloc pass;
--quick takes under a minute. A Markdown table goes to stdout and to
bench/results/bench-latest.md, the whole report as JSON to bench/results/bench-<date>.json.
The issue's targets are judged in the table; no test asserts a time
(tests/bench/test_bench_smoke.py runs --quick for the wiring only).
"""

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import floor  # noqa: E402  (bench/ is on the path only from here)

BENCH_ADMIN_EMAIL = "bench-api@bench.keyhold.test"
REVEAL_SAMPLE = 2_000
CHECKOUT_SAMPLE = 200
API_PAGE_SIZE = 1_000
HOST = "127.0.0.1"
PHASES = ("floor", "http", "queries", "rotation", "import")


# --- Settings for the server and for this process ----------------------------------------


def _bench_environment(args: argparse.Namespace, static_root: Path) -> dict[str, str]:
    """Production settings, made to serve plain http on loopback, with limits out of the way.

    Rate limits stay on (their cache round trips are part of a request) but are raised far
    above what the bench sends, so no request is refused for speed.
    """
    env = dict(os.environ)
    if len(env.get("SECRET_KEY", "")) < 50:
        env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_ROOT": str(static_root),
            "API_RATE_PER_TOKEN": "1000000/m",
            "API_REVEAL_RATE": "1000000/m",
            "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        }
    )
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def _django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["LOG_LEVEL"] = "WARNING"  # this process prints the report on stdout
    import django

    django.setup()


def _collectstatic(env: dict[str, str]) -> None:
    """Production pages name hashed static files from collectstatic's manifest."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


# --- Machine and data set ----------------------------------------------------------------


def _machine(args: argparse.Namespace) -> dict:
    from django.conf import settings
    from django.db import connection

    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
    import django
    import gunicorn

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(memory_kib / 2**20, 1),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "postgresql": server,
        "shared_buffers": shared_buffers,
        "synchronous_commit": synchronous_commit,
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": f"{gunicorn.__version__}, {args.workers} {args.worker_class} workers",
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "platform": platform.platform(),
    }


def _dataset(technician, manager) -> dict:
    from django.db import connection
    from django.db.models import Q

    from accounts.models import User
    from rotation.models import RotationTask
    from tenants.models import AccessLevel, Client, System
    from vault.models import Credential

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditevent")
        events = cursor.fetchone()[0]
    visible = Q(
        client__assignments__user=technician,
        client__assignments__revoked_at__isnull=True,
        client__assignments__level__gte=AccessLevel.VIEW,
    )
    return {
        "clients": Client.objects.count(),
        "credentials": Credential.objects.count(),
        "systems": System.objects.count(),
        "staff": User.objects.count(),
        "audit_events": events,
        "open_rotation_tasks": RotationTask.objects.filter(status=RotationTask.Status.OPEN).count(),
        "technician": technician.email,
        "technician_clients": technician.assignments.filter(revoked_at__isnull=True).count(),
        "technician_credentials": Credential.objects.filter(visible).count(),
        "manager": manager.email,
        "manager_clients": manager.assignments.filter(revoked_at__isnull=True).count(),
    }


def _seed_manifest() -> dict:
    """What seed_scale wrote beside its run, if it ran here; stops on another key provider."""
    from django.conf import settings
    from django.db import connection

    from vault.providers import provider_from_settings

    path = Path(settings.VAR_DIR) / "scale" / f"{connection.settings_dict['NAME']}.json"
    if not path.exists():
        return {}
    manifest = json.loads(path.read_text())
    sealed_with = manifest.get("key_provider", {})
    serving_with = provider_from_settings().key_id()
    if sealed_with.get("key_id") and sealed_with["key_id"] != serving_with:
        raise SystemExit(
            f"The seed wrapped the data keys with {sealed_with['key_id']} (keyring "
            f"{sealed_with.get('keyring')}), this run would unwrap them with {serving_with}: "
            "set KEYHOLD_KEYRING to the seed's keyring."
        )
    return {key: manifest.get(key) for key in ("seeded_at", "options", "search")}


# --- Who acts ----------------------------------------------------------------------------


def _acting(role: str, email: str):
    """The named person; else the seed's benchmark login; else the one with most clients."""
    from django.db.models import Count, Q

    from accounts.models import Role, User
    from audit.management.commands import seed_audit_scale

    people = User.objects.filter(groups__name=role, is_active=True).exclude(email=BENCH_ADMIN_EMAIL)
    if email:
        person = people.filter(email=email.strip().lower()).first()
        if person is None:
            raise SystemExit(f"No active {role} has the email {email}.")
        return person
    seeded = {
        Role.TECHNICIAN: getattr(seed_audit_scale, "BENCH_TECHNICIAN_EMAIL", ""),
        Role.MANAGER: getattr(seed_audit_scale, "BENCH_MANAGER_EMAIL", ""),
    }
    person = people.filter(email=seeded.get(role, "")).first()
    if person is not None:
        return person
    person = (
        people.annotate(
            active=Count(
                "assignments",
                filter=Q(assignments__revoked_at__isnull=True),
                distinct=True,
            )
        )
        .order_by("-active", "email")
        .first()
    )
    if person is None:
        raise SystemExit(f"No {role} to act as: seed the database first (seed_scale).")
    return person


def _with_authenticator(user):
    """A confirmed authenticator, so a session can be marked as having passed MFA."""
    from accounts.models import TotpDevice

    if not TotpDevice.objects.filter(user=user, confirmed=True).exists():
        TotpDevice.objects.create(
            user=user,
            name="Bench authenticator",
            confirmed=True,
            sealed_secret=TotpDevice.seal_secret(secrets.token_bytes(20), user_id=user.pk),
        )
    return user


def _bench_administrator(technician):
    """The token creator: an administrator with exactly the technician's clients and levels."""
    from django.contrib.auth.models import Group

    from accounts.models import Role, User
    from tenants.services import assignment_grant

    admin = User.objects.filter(email=BENCH_ADMIN_EMAIL).first()
    if admin is None:
        admin = User.objects.create_user(
            email=BENCH_ADMIN_EMAIL, full_name="Benchmark API", password=None
        )
    admin.groups.set(Group.objects.filter(name=Role.ADMINISTRATOR))
    mirrored = {
        row.client_id: row
        for row in technician.assignments.filter(revoked_at__isnull=True).select_related("client")
    }
    mine = {row.client_id: row.level for row in admin.assignments.filter(revoked_at__isnull=True)}
    for client_id, row in mirrored.items():
        if mine.get(client_id) != row.level:
            assignment_grant(actor=None, client=row.client, user=admin, level=row.level)
    return admin


def _api_token(admin) -> tuple[object, str]:
    from django.utils import timezone

    from integrations.models import ApiScope
    from integrations.services.tokens import api_token_create

    return api_token_create(
        actor=admin,
        name=f"Benchmark {timezone.now():%Y-%m-%d %H:%M}",
        scopes=[ApiScope.CREDENTIALS_READ, ApiScope.CREDENTIALS_REVEAL, ApiScope.CHECKOUTS_WRITE],
        expires_at=timezone.now() + timedelta(days=1),
    )


def _session(user) -> str:
    """A session that passed MFA just now, written through the session engine."""
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts.mfa import MFA_VERIFIED_AT, SESSION_STARTED_AT

    client = Client(SERVER_NAME="localhost")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    now = timezone.now().timestamp()
    session[SESSION_STARTED_AT] = now
    session[DEVICE_ID_SESSION_KEY] = user.totpdevice_set.get(confirmed=True).persistent_id
    session[MFA_VERIFIED_AT] = now
    session.save()
    return client.cookies[settings.SESSION_COOKIE_NAME].value


# --- What to reveal and check out --------------------------------------------------------


def _credentials_for(technician, *, level, high: bool, limit: int) -> list[tuple[str, str]]:
    """(id, client slug) of active credentials the technician reaches at `level`, at random.

    Reveals use standard and service credentials without a TOTP seed (a seed adds a second
    audited read); checkouts use high-privilege ones nobody holds, of clients whose policy
    starts a lease without a manager's approval.
    """
    from django.utils import timezone

    from vault.models import Checkout, ClientVaultPolicy, Credential, PrivilegeTier

    credentials = Credential.objects.filter(
        client__assignments__user=technician,
        client__assignments__revoked_at__isnull=True,
        client__assignments__level__gte=level,
        status=Credential.Status.ACTIVE,
        is_emergency=False,
    )
    if high:
        strict = ClientVaultPolicy.objects.filter(checkout_approval_required=True)
        held = Checkout.objects.filter(
            status=Checkout.Status.ACTIVE, expires_at__gt=timezone.now()
        ).values("credential_id")
        credentials = (
            credentials.filter(privilege_tier=PrivilegeTier.HIGH)
            .exclude(client__in=strict.values("client_id"))
            .exclude(pk__in=held)
        )
    else:
        credentials = credentials.exclude(privilege_tier=PrivilegeTier.HIGH).filter(
            totp_seed__isnull=True
        )
    rows = credentials.order_by("?").values_list("pk", "client__slug")[:limit]
    return [(str(pk), slug) for pk, slug in rows]


# --- HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request; `then` names a follow-up (check_in: return the checkout just made)."""

    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    expect: int = 200
    then: str = ""


@dataclass
class Scenario:
    key: str
    label: str
    calls: list[Call]
    clients: int = 1
    seconds: float = 0.0  # > 0: as many requests as fit; else `runs` requests
    runs: int = 0
    warmup: float = 0.0  # seconds, or requests when measuring by runs
    actor: str = ""  # technician, manager or token: who the in-process probe acts as
    probe_runs: int = 1


def _send(connection: http.client.HTTPConnection, call: Call) -> tuple[int, bytes, float]:
    """The call's status, body and seconds; reconnects once if the server closed the socket."""
    for attempt in (1, 2):
        started = time.perf_counter()
        try:
            connection.request(
                call.method, call.path, body=call.body or None, headers=dict(call.headers)
            )
            response = connection.getresponse()
            body = response.read()
        except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
            connection.close()
            if attempt == 2:
                raise
            continue
        return response.status, body, time.perf_counter() - started
    raise AssertionError("unreachable")


def _check_in_call(call: Call, body: bytes) -> Call:
    checkout_id = json.loads(body)["id"]
    return Call("POST", f"/api/v1/checkouts/{checkout_id}/check-in/", headers=call.headers)


def _http_worker(
    port: int, scenario: Scenario, offset: int, start_at: float
) -> dict[str, list | dict]:
    """One client process: its latencies, follow-up latencies and unexpected answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=300)
    calls = scenario.calls
    latencies: list[float] = []
    follow: list[float] = []
    errors: list[str] = []
    statuses: Counter = Counter()
    index = offset
    while time.time() < start_at:
        time.sleep(0.001)
    by_time = scenario.seconds > 0
    measure_from = start_at + scenario.warmup
    stop_at = measure_from + scenario.seconds
    done = warm = 0
    first = last = 0.0
    while True:
        now = time.time()
        if by_time:
            if now >= stop_at:
                break
            measuring = now >= measure_from
        else:
            if done >= scenario.runs:
                break
            measuring = warm >= scenario.warmup
        call = calls[index % len(calls)]
        index += 1
        status, body, seconds = _send(connection, call)
        statuses[status] += 1
        if status != call.expect and len(errors) < 5:
            errors.append(f"{call.method} {call.path} → {status}: {body[:300]!r}")
        if call.then == "check_in" and status == call.expect:
            check_in = _check_in_call(call, body)
            follow_status, follow_body, follow_seconds = _send(connection, check_in)
            statuses[follow_status] += 1
            if follow_status != 200 and len(errors) < 5:
                errors.append(f"check-in → {follow_status}: {follow_body[:300]!r}")
            if measuring:
                follow.append(follow_seconds)
        if measuring:
            if not latencies:
                first = now
            latencies.append(seconds)
            last = now + seconds
            done += 1
        else:
            warm += 1
    connection.close()
    return {
        "latencies": latencies,
        "follow": follow,
        "errors": errors,
        "statuses": dict(statuses),
        "window": max(last - first, 1e-9),
    }


def _summary(latencies: list[float], window: float) -> dict:
    if not latencies:
        return {"requests": 0}
    return {
        "requests": len(latencies),
        "seconds": round(window, 3),
        "per_second": round(len(latencies) / window, 1),
        "p50_ms": round(floor.percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(floor.percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(floor.percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def http_run(port: int, scenario: Scenario) -> dict:
    """The scenario from `scenario.clients` processes at once, each on its own connection."""
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 0.3
    spread = max(len(scenario.calls) // scenario.clients, 1)
    arguments = [(port, scenario, n * spread, start_at) for n in range(scenario.clients)]
    with context.Pool(scenario.clients) as pool:
        parts = pool.starmap(_http_worker, arguments)
    latencies = [value for part in parts for value in part["latencies"]]
    follow = [value for part in parts for value in part["follow"]]
    window = max(part["window"] for part in parts)
    statuses: Counter = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    result = {
        "clients": scenario.clients,
        **_summary(latencies, window),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "errors": [error for part in parts for error in part["errors"]][:5],
    }
    if follow:
        # Check-ins run between the timed requests: their rate is not a throughput.
        result["follow_up"] = {
            key: value for key, value in _summary(follow, window).items() if key != "per_second"
        }
    return result


# --- gunicorn ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn_running(env: dict[str, str], args: argparse.Namespace, log: Path):
    """gunicorn serving config.wsgi on loopback until the block ends; yields its port."""
    port = args.port or _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--timeout",
        "300",
        "--keep-alive",
        "30",
        "--error-logfile",
        str(log),
    ]
    with open(log, "ab") as output:
        server = subprocess.Popen(  # noqa: S603  (our interpreter, our arguments)
            command, cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True
        )
    try:
        deadline = time.time() + 90
        while True:
            if server.poll() is not None:
                raise SystemExit(f"gunicorn stopped:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                probe = http.client.HTTPConnection(HOST, port, timeout=30)
                probe.request("GET", "/login/")
                if probe.getresponse().status < 500:
                    probe.close()
                    break
            if time.time() > deadline:
                raise SystemExit(f"gunicorn did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- In-process: queries and time in the database ----------------------------------------


class QueryTimer:
    """Counts and times every statement sent on the default connection."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started


def probe(scenario: Scenario, clients: dict) -> dict:
    """The scenario's first call(s) through Django in this process: queries and DB time."""
    from django.db import connection

    client, headers = clients[scenario.actor]
    counts, follow_counts, database, wall = [], [], [], []
    for run in range(scenario.probe_runs + 1):  # the first run warms caches, unmeasured
        call = scenario.calls[run % len(scenario.calls)]
        kind = dict(call.headers).get("Content-Type", "application/octet-stream")
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            started = time.perf_counter()
            response = client.generic(
                call.method, call.path, data=call.body, content_type=kind, headers=headers
            )
            elapsed = time.perf_counter() - started
        if response.status_code != call.expect:
            raise SystemExit(
                f"{scenario.label}: {call.method} {call.path} answered "
                f"{response.status_code} in-process: {response.content[:300]!r}"
            )
        if call.then == "check_in":
            follow_timer = QueryTimer()
            with connection.execute_wrapper(follow_timer):
                check_in = _check_in_call(call, response.content)
                response = client.post(check_in.path, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{scenario.label}: check-in answered {response.status_code}")
            follow_counts.append(follow_timer.count)
        if run:
            counts.append(timer.count)
            database.append(timer.seconds)
            wall.append(elapsed)
    result = {
        "queries": max(counts),
        "queries_min": min(counts),
        "runs": len(counts),
        "db_p50_ms": round(floor.percentile(database, 0.50) * 1000, 2),
        "db_p95_ms": round(floor.percentile(database, 0.95) * 1000, 2),
        "in_process_p50_ms": round(floor.percentile(wall, 0.50) * 1000, 2),
    }
    if follow_counts:
        result["follow_up_queries"] = max(follow_counts)
    return result


def rotation_scan(runs: int) -> dict:
    """rotation_due_scan as the hourly job runs it: once to warm up, then `runs` timed."""
    from django.db import connection

    from rotation.services.tasks import rotation_due_scan

    opened_in_warmup = rotation_due_scan(actor=None)
    seconds, counts, touched = [], [], []
    for _ in range(runs):
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            started = time.perf_counter()
            touched.append(rotation_due_scan(actor=None))
            seconds.append(time.perf_counter() - started)
        counts.append(timer.count)
    return {
        "requests": runs,
        "p50_ms": round(floor.percentile(seconds, 0.50) * 1000, 2),
        "p95_ms": round(floor.percentile(seconds, 0.95) * 1000, 2),
        "p99_ms": round(floor.percentile(seconds, 0.99) * 1000, 2),
        "queries": max(counts),
        "tasks_touched_in_warmup": opened_in_warmup,
        "tasks_touched": touched,
    }


# --- Import, on a scratch database -------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def import_run(env: dict[str, str], rows: int) -> dict:
    """bench/import_bench.py (time, then tracemalloc's peak) on a database made for it."""
    import psycopg

    url = env["DATABASE_URL"]
    base = urlsplit(url).path.lstrip("/") or "keyhold"
    scratch = f"{base[:40]}_import_{os.getpid()}"
    admin_url = _with_database(url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{scratch}"')
    try:
        scratch_env = {**env, "DATABASE_URL": _with_database(url, scratch), "LOG_LEVEL": "WARNING"}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=scratch_env, check=True
        )
        migrated = time.perf_counter() - started
        done = subprocess.run(  # noqa: S603  (our interpreter and script)
            [sys.executable, str(ROOT / "bench" / "import_bench.py"), "--rows", str(rows)],
            cwd=ROOT,
            env=scratch_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"import_bench failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout)
        result["migrate_seconds"] = round(migrated, 1)
        return result
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


# --- Scenarios ---------------------------------------------------------------------------


def _month_of(args: argparse.Namespace) -> tuple[str, str]:
    if args.month:
        month = args.month
    else:
        today = datetime.now(UTC).date()
        month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    year, number = (int(part) for part in month.split("-"))
    return month, f"{year}-Q{(number - 1) // 3 + 1}"


def scenarios(
    args: argparse.Namespace,
    *,
    token: str,
    sessions: dict[str, str],
    csrf: str,
    reveals: list[tuple[str, str]],
    checkouts: list[tuple[str, str]],
) -> list[Scenario]:
    from django.conf import settings

    from vault.scale import SEARCH_COMMON_TERM, SEARCH_RARE_TERM

    bearer = (("Authorization", f"Bearer {token}"),)
    json_body = (*bearer, ("Content-Type", "application/json"))

    def cookie(who: str) -> tuple[tuple[str, str], ...]:
        return (("Cookie", f"{settings.SESSION_COOKIE_NAME}={sessions[who]}"),)

    api_reveals = [
        Call(
            "POST",
            f"/api/v1/credentials/{pk}/reveal/",
            json.dumps({"ticket": f"T-{100_000 + n}"}).encode(),
            json_body,
        )
        for n, (pk, _slug) in enumerate(reveals)
    ]
    browser_headers = (
        (
            "Cookie",
            f"{settings.SESSION_COOKIE_NAME}={sessions['technician']}; "
            f"{settings.CSRF_COOKIE_NAME}={csrf}",
        ),
        ("X-CSRFToken", csrf),
        ("HX-Request", "true"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    )
    browser_reveals = [
        Call(
            "POST",
            f"/clients/{slug}/credentials/{pk}/reveal/",
            urlencode({"purpose": "reveal", "ticket": f"T-{200_000 + n}"}).encode(),
            browser_headers,
        )
        for n, (pk, slug) in enumerate(reveals)
    ]
    checkout_calls = [
        Call(
            "POST",
            "/api/v1/checkouts/",
            json.dumps(
                {
                    "credential_id": pk,
                    "ticket": f"T-{300_000 + n}",
                    "reason": "Benchmark: firmware update window",
                    "duration_minutes": 30,
                }
            ).encode(),
            json_body,
            expect=201,
            then="check_in",
        )
        for n, (pk, _slug) in enumerate(checkouts)
    ]
    month, quarter = _month_of(args)
    page = {"runs": args.runs, "warmup": 3, "probe_runs": args.runs}
    slow = {"runs": args.slow_runs, "warmup": 1, "probe_runs": 1}
    timed = {"seconds": args.seconds, "warmup": args.warmup}
    technician = cookie("technician")
    manager = cookie("manager")
    listed = [
        Scenario("api_reveal_1", "API reveal, 1 client", api_reveals, 1, **timed, actor="token"),
        Scenario("api_reveal_4", "API reveal, 4 clients", api_reveals, 4, **timed, actor="token"),
        Scenario(
            "browser_reveal",
            "Browser reveal (htmx, session + CSRF), 1 client",
            browser_reveals,
            1,
            **timed,
            actor="technician",
        ),
        Scenario(
            "credential_list",
            "Technician's credential list, page 1 (HTML)",
            [Call("GET", "/credentials/", headers=technician)],
            actor="technician",
            **page,
        ),
        Scenario(
            "search_common",
            f'Global search, common term "{SEARCH_COMMON_TERM}" (HTML)',
            [Call("GET", f"/search/?q={SEARCH_COMMON_TERM}", headers=technician)],
            actor="technician",
            **page,
        ),
        Scenario(
            "search_rare",
            f'Global search, rare term "{SEARCH_RARE_TERM}" (HTML)',
            [Call("GET", f"/search/?q={SEARCH_RARE_TERM}", headers=technician)],
            actor="technician",
            **page,
        ),
        Scenario(
            "api_list",
            f"API list of {API_PAGE_SIZE:,} credentials",
            [Call("GET", f"/api/v1/credentials/?page_size={API_PAGE_SIZE}", headers=bearer)],
            actor="token",
            **page,
        ),
    ]
    if checkout_calls:
        listed.append(
            Scenario(
                "checkout",
                "Checkout request (API)",
                checkout_calls,
                actor="token",
                **page,
            )
        )
    listed += [
        Scenario(
            "monthly_review",
            f"Monthly access review, whole MSP ({month})",
            [Call("GET", f"/audit/reviews/?month={month}", headers=manager)],
            actor="manager",
            **slow,
        ),
        Scenario(
            "hygiene",
            f"Hygiene audit ({quarter})",
            [Call("GET", f"/audit/hygiene/?quarter={quarter}", headers=manager)],
            actor="manager",
            **slow,
        ),
    ]
    return listed


# --- The report --------------------------------------------------------------------------

# Issue 9's targets: what each measurement is held to, and the test of it (result, floor).
TARGETS = {
    "api_reveal_1": ("p50 ≤ 4x floor p50", lambda r, f: r["p50_ms"] <= 4 * f["1"]["p50_ms"]),
    "api_reveal_4": (
        "req/s ≥ ¼ floor tx/s (4 conn.)",
        lambda r, f: r["per_second"] >= 0.25 * f["4"]["tx_per_second"],
    ),
    "credential_list": (
        "p95 < 150 ms, DB p95 < 50 ms",
        lambda r, f: r["p95_ms"] < 150 and r["db_p95_ms"] < 50,
    ),
    "search_common": (
        "p95 < 150 ms, DB p95 < 50 ms",
        lambda r, f: r["p95_ms"] < 150 and r["db_p95_ms"] < 50,
    ),
    "search_rare": (
        "p95 < 150 ms, DB p95 < 50 ms",
        lambda r, f: r["p95_ms"] < 150 and r["db_p95_ms"] < 50,
    ),
    "api_list": ("p95 < 300 ms", lambda r, f: r["p95_ms"] < 300),
    "monthly_review": ("p95 < 500 ms", lambda r, f: r["p95_ms"] < 500),
    "hygiene": ("p95 < 1 s", lambda r, f: r["p95_ms"] < 1000),
    "rotation_scan": ("p95 < 2 s", lambda r, f: r["p95_ms"] < 2000),
    "import": (
        "< 60 s, < 300 MB",
        lambda r, f: r["total_seconds"] < 60 and r["ru_maxrss_mb"] < 300,
    ),
}


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:,.2f} s" if value >= 1000 else f"{value:,.1f} ms"


def _target(key: str, result: dict, floors: dict) -> str:
    if key not in TARGETS:
        return ""
    text, met = TARGETS[key]
    try:
        return f"{text}: {'met' if met(result, floors) else '**missed**'}"
    except (KeyError, TypeError):
        return f"{text}: not measured"


def _row(key: str, result: dict, floors: dict) -> str:
    """One measurement's line; HTTP figures where there are some, else in-process ones."""
    base = floors.get("4" if result.get("clients") == 4 else "1")
    p50 = result.get("p50_ms")
    ratio = f"{p50 / base['p50_ms']:,.1f}x" if base and p50 else "—"
    per_second = result.get("per_second")
    throughput = f"{per_second / base['tx_per_second']:,.2f}x" if base and per_second else "—"
    return (
        f"| {result['label']} | {result.get('requests', 0):,} | {_ms(p50)} | "
        f"{_ms(result.get('p95_ms'))} | {_ms(result.get('p99_ms'))} | "
        f"{f'{per_second:,.0f}' if per_second else '—'} | {ratio} | {throughput} | "
        f"{result.get('queries', '—')} | {_ms(result.get('db_p95_ms'))} | "
        f"{_target(key, result, floors)} |"
    )


def markdown(report: dict) -> str:
    machine, data, floors = report["machine"], report["dataset"], report.get("floor", {})
    lines = [
        f"Keyhold benchmark, {report['date']}{' (--quick)' if report['quick'] else ''}: "
        f"{data['clients']:,} clients, {data['credentials']:,} credentials, "
        f"{data['systems']:,} systems, {data['staff']:,} staff, "
        f"{data['audit_events']:,} audit events, {data['open_rotation_tasks']:,} open rotation "
        f"tasks; the technician sees {data['technician_clients']:,} clients "
        f"({data['technician_credentials']:,} credentials), the manager "
        f"{data['manager_clients']:,}.",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB RAM, "
        f"load {machine['load_average_at_start'][0]} at start; PostgreSQL "
        f"{machine['postgresql']} (shared_buffers {machine['shared_buffers']}, "
        f"synchronous_commit {machine['synchronous_commit']}); Python {machine['python']}, "
        f"Django {machine['django']}, gunicorn {machine['gunicorn']}, cache "
        f"{machine['cache']}.",
        "",
        "| measurement | requests | p50 | p95 | p99 | req/s | x floor p50 | x floor tx/s "
        "| queries | DB p95 | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for count in ("1", "4"):
        if count in floors:
            row = floors[count]
            lines.append(
                f"| Floor: SELECT + AES-GCM decrypt + audit INSERT, committed, {count} "
                f"conn. | {row['transactions']:,} | {_ms(row['p50_ms'])} | "
                f"{_ms(row['p95_ms'])} | {_ms(row['p99_ms'])} | {row['tx_per_second']:,.0f} | "
                f"1 | 1 | 2 + COMMIT | — | |"
            )
    for key, result in report["results"].items():
        if key == "import":
            lines.append(
                f"| {result['label']} | {result['rows']:,} rows | "
                f"{result['total_seconds']:,.1f} s | | | "
                f"{result['rows'] / max(result['total_seconds'], 1e-9):,.0f} rows/s | | | | | "
                f"{_target(key, result, floors)} (peak RSS {result['ru_maxrss_mb']:,.0f} MB, "
                f"Python objects {result['tracemalloc_peak_mb']:,.0f} MB) |"
            )
            continue
        lines.append(_row(key, result, floors))
        if "follow_up" in result:
            check_in = {
                "label": "Check-in of that checkout (API)",
                **result["follow_up"],
                "queries": result.get("follow_up_queries", "—"),
            }
            lines.append(_row("check_in", check_in, floors))
    errors = {key: r["errors"] for key, r in report["results"].items() if r.get("errors")}
    if errors:
        lines += ["", "Unexpected answers:"]
        lines += [f"- {key}: {'; '.join(found)}" for key, found in errors.items()]
    lines += [
        "",
        "Requests over HTTP/1.1 with keep-alive to gunicorn on loopback; queries and DB p95 "
        "(all statements of one request) measured in-process with the same settings; "
        "the floor measured in the same run (bench/floor.py). Reproduce: `python "
        "bench/bench.py` (see its docstring).",
    ]
    return "\n".join(lines)


# --- Main --------------------------------------------------------------------------------


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Tiny counts: checks the wiring.")
    parser.add_argument("--runs", type=int, help="Requests per page measurement (30).")
    parser.add_argument("--slow-runs", type=int, help="Runs of review, hygiene, scan (5).")
    parser.add_argument("--seconds", type=float, help="Seconds per reveal and floor (10).")
    parser.add_argument("--warmup", type=float, help="Warm-up seconds before those (2).")
    parser.add_argument("--import-rows", type=int, help="Rows of the import (50,000).")
    parser.add_argument("--floor-rows", type=int, help="Rows of the floor's table (50,000).")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2).")
    parser.add_argument(
        "--worker-class", default="gthread", help="gthread keeps connections alive (sync closes)."
    )
    parser.add_argument("--port", type=int, default=0, help="Default: a free port.")
    parser.add_argument("--technician", default="", help="Email (default: the seeded one).")
    parser.add_argument("--manager", default="", help="Email (default: the seeded one).")
    parser.add_argument("--month", default="", help="YYYY-MM to review (default: last month).")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--skip", nargs="*", choices=PHASES, default=[])
    parser.add_argument("--output", default="", help="JSON path (default: bench/results/).")
    parser.add_argument("--markdown", default=str(RESULTS / "bench-latest.md"))
    args = parser.parse_args()
    quick = args.quick
    defaults = {
        "runs": 3 if quick else 30,
        "slow_runs": 1 if quick else 5,
        "seconds": 1.0 if quick else 10.0,
        "warmup": 0.3 if quick else 2.0,
        "import_rows": 200 if quick else 50_000,
        "floor_rows": 2_000 if quick else floor.DEFAULT_ROWS,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main() -> None:
    args = _options()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Point DATABASE_URL at the seeded PostgreSQL database.")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="keyhold-bench-"))
    env = _bench_environment(args, work / "static")

    def say(text: str) -> None:
        print(f"… {text} ({time.perf_counter() - started:,.0f} s)", file=sys.stderr, flush=True)  # noqa: T201

    say("collectstatic")
    _collectstatic(env)
    _django_setup(env)
    from django.db import connections
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Role
    from integrations.services.tokens import api_token_revoke
    from tenants.models import AccessLevel

    technician = _with_authenticator(_acting(Role.TECHNICIAN, args.technician))
    manager = _with_authenticator(_acting(Role.MANAGER, args.manager))
    report: dict = {
        "date": f"{timezone.now():%Y-%m-%d}",
        "quick": args.quick,
        "options": {
            key: value
            for key, value in vars(args).items()
            if key not in ("redis_url", "output", "markdown")
        },
        "machine": _machine(args),
        "dataset": _dataset(technician, manager),
        "seed": _seed_manifest(),
        "results": {},
    }
    say("bench administrator, token and sessions")
    admin = _bench_administrator(technician)
    token, plaintext = _api_token(admin)
    csrf = _get_new_csrf_string()
    sessions = {"technician": _session(technician), "manager": _session(manager)}
    reveals = _credentials_for(technician, level=AccessLevel.USE, high=False, limit=REVEAL_SAMPLE)
    checkouts = _credentials_for(
        technician, level=AccessLevel.PRIVILEGED, high=True, limit=CHECKOUT_SAMPLE
    )
    if not reveals:
        raise SystemExit("The technician has no credential to reveal: seed the database first.")
    report["dataset"]["reveal_credentials"] = len(reveals)
    report["dataset"]["checkout_credentials"] = len(checkouts)
    planned = scenarios(
        args, token=plaintext, sessions=sessions, csrf=csrf, reveals=reveals, checkouts=checkouts
    )
    try:
        connections.close_all()  # the floor and the HTTP clients are forked from here
        if "floor" not in args.skip:
            say("floor")
            report["floor"] = floor.measure(
                url, seconds=args.seconds, warmup=args.warmup, rows=args.floor_rows
            )
        if "http" not in args.skip:
            with gunicorn_running(env, args, work / "gunicorn.log") as port:
                for scenario in planned:
                    say(scenario.label)
                    result = http_run(port, scenario)
                    report["results"][scenario.key] = {"label": scenario.label, **result}
        if "queries" not in args.skip:
            say("queries and database time, in-process")
            bearer = {"Authorization": f"Bearer {plaintext}"}
            clients = {"token": (Client(SERVER_NAME="localhost"), bearer)}
            for who, key in sessions.items():
                browser = Client(SERVER_NAME="localhost")
                browser.cookies.load({_session_cookie_name(): key})
                clients[who] = (browser, {})
            for scenario in planned:
                found = probe(scenario, clients)
                report["results"].setdefault(scenario.key, {"label": scenario.label})
                report["results"][scenario.key].update(found)
        if "rotation" not in args.skip:
            say("rotation due scan, in-process")
            report["results"]["rotation_scan"] = {
                "label": "Rotation due scan, all credentials (in-process)",
                **rotation_scan(args.slow_runs),
            }
        if "import" not in args.skip:
            say(f"import of {args.import_rows:,} rows on a scratch database")
            report["results"]["import"] = {
                "label": f"Import of {args.import_rows:,} rows (IT Glue CSV, preview + confirm)",
                **import_run(env, args.import_rows),
            }
    finally:
        api_token_revoke(actor=admin, token=token, reason="The benchmark finished.")
        shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    table = markdown(report)
    print(table)  # noqa: T201
    output = Path(args.output) if args.output else RESULTS / f"bench-{report['date']}.json"
    for path, text in ((output, json.dumps(report, indent=2)), (Path(args.markdown), table)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    print(f"\nWrote {output} and {args.markdown}", file=sys.stderr)  # noqa: T201


def _session_cookie_name() -> str:
    from django.conf import settings

    return settings.SESSION_COOKIE_NAME


if __name__ == "__main__":
    main()
