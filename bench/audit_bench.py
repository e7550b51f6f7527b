"""Time the audit pages and jobs on a seeded PostgreSQL database.

Seed a database of its own once (about four minutes for 5,000,000 events), then run the bench:

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/keyhold_bench
    export DJANGO_SETTINGS_MODULE=config.settings.development
    export AUDIT_CHECKPOINT_DIR=var/bench-checkpoints
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py seed_audit_scale            # 5M events, 2,000 clients, 300 staff
    .venv/bin/python bench/audit_bench.py --month 2026-10  # --runs 5 --quarter 2026-Q4

What it measures, each in a fresh process (so one measurement's memory does not inflate the
next one's peak), after one warm-up run, as p50 / p95 / max over --runs runs:

  review   GET /audit/reviews/?month=... for the whole MSP, through the real view and
           template, by a manager assigned to every client, signed in with MFA
  events   GET /audit/reviews/events/?month=...&finding=off_hours, page 1 of a finding
  hygiene  GET /audit/hygiene/?quarter=... (same manager)
  export   the month as CSV through audit.export.export_rows, every byte consumed
  verify   audit_chain_check() over the whole chain: what `manage.py audit_verify` does,
           without the one event it records; a single run (minutes at 5M events)

DEBUG is off unless the environment sets it (query logging and template debugging would
skew the figures). A Markdown table goes to stdout and a JSON file to
bench/results/audit-<date>.json; bench/results/audit-reference.json holds the figures the
README quotes. The bench signs the manager in (one staff.signed_in event per process) and
gives them an authenticator if they have none; it changes nothing else.
"""

import argparse
import json
import math
import os
import platform
import resource
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PHASES = ("review", "events", "hygiene", "export", "verify")


def _django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.conf import settings

    django.setup()
    # Production serves hashed names from collectstatic's manifest; the bench has none.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: with five runs, p95 is the slowest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class QueryCounter:
    """Counts statements sent on the default connection (server-side cursor fetches excluded)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _reviewer(email: str):
    from accounts.models import Role, TotpDevice, User
    from audit.management.commands.seed_audit_scale import SCALE_DOMAIN

    users = User.objects.filter(groups__name=Role.MANAGER, is_active=True)
    user = (
        users.filter(email=email).first()
        if email
        else users.filter(email__endswith=f"@{SCALE_DOMAIN}").order_by("email").first()
    )
    if user is None:
        raise SystemExit("No manager to review as: seed the database first (seed_audit_scale).")
    if not TotpDevice.objects.filter(user=user, confirmed=True).exists():
        TotpDevice.objects.create(
            user=user,
            name="Bench authenticator",
            confirmed=True,
            sealed_secret=TotpDevice.seal_secret(secrets.token_bytes(20), user_id=user.pk),
        )
    return user


def _signed_in_client(user):
    """A test Client with a session that passed MFA just now, as tests/conftest.py builds it."""
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
    return client


def _timed(work, runs: int, warm_up: bool = True) -> dict:
    from django.db import connection

    if warm_up:
        work()
    seconds, queries, notes = [], [], {}
    for _ in range(runs):
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            notes = work() or {}
            seconds.append(time.perf_counter() - started)
        queries.append(counter.count)
    return {
        "runs": runs,
        "seconds": seconds,
        "p50": percentile(seconds, 0.50),
        "p95": percentile(seconds, 0.95),
        "max": max(seconds),
        "queries": max(queries),
        **notes,
    }


def _page(client, url: str):
    def work() -> dict:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
        return {"bytes": len(response.content)}

    return work


def _month(text: str):
    from audit.reviews import Month

    year, month = (int(part) for part in text.split("-"))
    return Month(year, month)


def phase_review(args, user) -> dict:
    client = _signed_in_client(user)
    result = _timed(_page(client, f"/audit/reviews/?month={args.month}"), args.runs)
    result["rss_peak_mib"] = _rss_mib()
    return result


def phase_events(args, user) -> dict:
    client = _signed_in_client(user)
    url = f"/audit/reviews/events/?month={args.month}&finding=off_hours"
    result = _timed(_page(client, url), args.runs)
    result["rss_peak_mib"] = _rss_mib()
    return result


def phase_hygiene(args, user) -> dict:
    client = _signed_in_client(user)
    result = _timed(_page(client, f"/audit/hygiene/?quarter={args.quarter}"), args.runs)
    result["rss_peak_mib"] = _rss_mib()
    return result


def phase_export(args, user) -> dict:
    from audit.export import audit_events_for_export, export_rows

    month = _month(args.month)
    last_day = month.end - timedelta(days=1)

    def events():
        return audit_events_for_export(
            actor=user, start=month.start, end=last_day, client_slug="", action="", outcome=""
        )

    rows = events().count()
    baseline = _current_rss_mib()

    def work() -> dict:
        size = 0
        for chunk in export_rows(events=events(), fmt="csv"):
            size += len(chunk)
        return {"bytes": size}

    result = _timed(work, args.runs)
    result["rows"] = rows
    result["rows_per_second"] = rows / result["p50"]
    result["rss_before_mib"] = baseline
    result["rss_peak_mib"] = _rss_mib()
    return result


def phase_verify(args, user) -> dict:
    from audit.verification import audit_chain_check

    outcome = {}

    def work() -> dict:
        check = audit_chain_check()
        outcome["summary"] = check.summary
        if not check.ok:
            raise SystemExit(check.summary)
        return {"events": check.checked}

    result = _timed(work, args.verify_runs, warm_up=False)
    result["events_per_second"] = result["events"] / result["p50"]
    result["summary"] = outcome["summary"]
    result["rss_peak_mib"] = _rss_mib()
    return result


def run_phase(args) -> None:
    """Child process: one measurement, its result as JSON on the last line of stdout."""
    _django_setup()
    user = _reviewer(args.reviewer)
    result = globals()[f"phase_{args.phase}"](args, user)
    print(json.dumps(result))  # noqa: T201


def _dataset(month_text: str) -> dict:
    from django.db import connection

    from accounts.models import User
    from audit.models import AuditEvent
    from tenants.models import Assignment, Client

    month = _month(month_text)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
        cursor.execute("SELECT pg_total_relation_size('audit_auditevent')")
        table_bytes = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'audit_auditevent'")
        estimated_events = cursor.fetchone()[0]
        # Which indexes the figures were measured with: candidates are tried as raw SQL.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent' "
            "ORDER BY indexname"
        )
        indexes = dict(cursor.fetchall())
    in_month = AuditEvent.objects.filter(
        occurred_at__gte=month.start_at, occurred_at__lt=month.end_at
    )
    return {
        "events": estimated_events,
        "events_in_month": in_month.count(),
        "openings_in_month": in_month.filter(
            action__startswith="credential.", outcome="success"
        ).count(),
        "clients": Client.objects.count(),
        "staff": User.objects.count(),
        "assignments": Assignment.objects.count(),
        "audit_table_mib": round(table_bytes / 2**20),
        "postgresql": server,
        "shared_buffers": shared_buffers,
        "audit_indexes": indexes,
    }


def _row(name: str, result: dict) -> str:
    extra = ""
    if "rows_per_second" in result:
        extra = (
            f"{result['rows']:,} rows, {result['rows_per_second']:,.0f} rows/s, "
            f"{result['bytes'] / 2**20:,.0f} MiB of CSV, peak RSS {result['rss_peak_mib']:.0f} MiB "
            f"(from {result['rss_before_mib']:.0f})"
        )
    elif "events_per_second" in result:
        extra = f"{result['events']:,} events, {result['events_per_second']:,.0f} events/s"
    elif "bytes" in result:
        extra = (
            f"{result['bytes'] / 1024:,.0f} KiB of HTML, peak RSS {result['rss_peak_mib']:.0f} MiB"
        )
    return (
        f"| {name} | {result['runs']} | {result['p50'] * 1000:,.0f} ms | "
        f"{result['p95'] * 1000:,.0f} ms | {result['max'] * 1000:,.0f} ms | "
        f"{result['queries']} | {extra} |"
    )


LABELS = {
    "review": "Monthly access review, whole MSP (page)",
    "events": "Events of a finding, page 1 (off-hours)",
    "hygiene": "Quarterly hygiene audit (page)",
    "export": "Export of the month as CSV (streamed)",
    "verify": "audit_chain_check over the whole chain",
}


def main() -> None:
    today = datetime.now(UTC).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--month", default=last_month, help="YYYY-MM (default: last month)")
    parser.add_argument("--quarter", default="", help="YYYY-Qn (default: the month's quarter)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--verify-runs", type=int, default=1)
    parser.add_argument("--reviewer", default="", help="Manager email (default: first seeded)")
    parser.add_argument("--only", nargs="*", choices=PHASES, default=list(PHASES))
    parser.add_argument("--output", default="", help="JSON path (default: bench/results/...)")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.quarter:
        year, month = (int(part) for part in args.month.split("-"))
        args.quarter = f"{year}-Q{(month - 1) // 3 + 1}"
    if args.phase:
        run_phase(args)
        return

    _django_setup()
    from django.conf import settings

    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise SystemExit("Run the bench on the seeded PostgreSQL database (set DATABASE_URL).")
    dataset = _dataset(args.month)
    results = {}
    for phase in args.only:
        command = [sys.executable, __file__, "--phase", phase, "--month", args.month]
        command += ["--quarter", args.quarter, "--runs", str(args.runs)]
        command += ["--verify-runs", str(args.verify_runs), "--reviewer", args.reviewer]
        print(f"… {LABELS[phase]}", file=sys.stderr, flush=True)  # noqa: T201
        finished = subprocess.run(  # noqa: S603 (this script, our arguments)
            command, capture_output=True, text=True, check=False
        )
        if finished.returncode != 0:
            raise SystemExit(f"{phase} failed:\n{finished.stderr[-3000:]}")
        results[phase] = json.loads(finished.stdout.strip().splitlines()[-1])

    lines = [
        f"Audit bench, {today:%Y-%m-%d}: month {args.month}, quarter {args.quarter}; "
        f"{dataset['events']:,} events ({dataset['events_in_month']:,} in the month, "
        f"{dataset['openings_in_month']:,} credential openings), {dataset['clients']:,} clients, "
        f"{dataset['staff']:,} staff; PostgreSQL {dataset['postgresql']}, "
        f"shared_buffers {dataset['shared_buffers']}, {os.cpu_count()} CPUs.",
        f"Indexes on audit_auditevent: {', '.join(dataset['audit_indexes'])}.",
        "",
        "| measurement | runs | p50 | p95 | max | queries | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(_row(LABELS[phase], results[phase]) for phase in args.only),
    ]
    print("\n".join(lines))  # noqa: T201
    report = {
        "date": f"{today:%Y-%m-%d}",
        "month": args.month,
        "quarter": args.quarter,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "debug": settings.DEBUG,
        },
        "dataset": dataset,
        "results": results,
    }
    output = Path(args.output) if args.output else RESULTS / f"audit-{today:%Y-%m-%d}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")  # noqa: T201


if __name__ == "__main__":
    main()
