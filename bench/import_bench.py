"""Time an import of a generated 50,000-row IT Glue passwords.csv, preview then confirm.

Runs the import services (intake.services.imports) on the configured database, as the
Imports page and `manage.py import_credentials` do, and prints one JSON document: seconds
for the preview and the confirm, and peak memory as tracemalloc saw it (Python objects)
and as the kernel saw it (ru_maxrss, the whole process). Issue 6 asks for under 60 s and,
here, under 300 MB.

Use a database of its own: each run adds two clients with the imported credentials, their
rotation tasks and the import's events.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/keyhold_importbench
    export KEYHOLD_KEYRING=/tmp/importbench-keyring.json   # created when missing
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/import_bench.py                  # --rows 50000

The CSV is generated in memory, as an upload is held in memory by the web view. Values are
random test data. Each measurement runs in a fresh process: the time (and ru_maxrss)
without tracemalloc, which slows Python several times over, then tracemalloc's peak in a
second import of its own.
"""

import argparse
import io
import json
import os
import platform
import random
import resource
import secrets
import string
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ["Domain Admin", "Service Account", "Firewall", "", "", "", "", "", "", ""]
SEED_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    from vault.keyring import keyring_create

    if not Path(settings.KEYHOLD_KEYRING).exists():
        keyring_create(Path(settings.KEYHOLD_KEYRING))


def itglue_csv(rows: int, *, seed: int = 6) -> bytes:
    """An IT Glue passwords.csv of `rows` distinct credentials, some with TOTP and notes."""
    chance = random.Random(seed)  # noqa: S311  (test data, not secrets)
    letters = string.ascii_letters + string.digits + "!#%&*+-=?@^_"
    lines = [
        "id,organization,name,password_category,resource_type,resource_id,username,password,"
        "otp_secret,archived,url,notes"
    ]
    for n in range(1, rows + 1):
        category = chance.choice(CATEGORIES)
        password = "".join(chance.choice(letters) for _ in range(24))
        otp = "".join(chance.choice(SEED_ALPHABET) for _ in range(32)) if n % 10 == 0 else ""
        notes = f'"Set up by the previous provider.\r\nTicket {n}, see runbook."' if n % 4 else ""
        lines.append(
            f"{1000 + n},Bench Dental,Server {n:05d} {category or 'login'},{category},,,"
            f"admin{n},{password},{otp},No,https://srv{n:05d}.bench.example/,{notes}"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def _world():
    from django.contrib.auth.models import Group

    from accounts.models import Role, User
    from tenants.models import AccessLevel, Client
    from tenants.services import assignment_grant

    tag = secrets.token_hex(4)
    client = Client.objects.create(name=f"Import bench {tag}", slug=f"import-bench-{tag}")
    user = User.objects.create_user(
        email=f"import-bench-{tag}@msp.example", full_name="Import bench", password=None
    )
    user.groups.set(Group.objects.filter(name=Role.ONBOARDING))
    assignment_grant(actor=None, client=client, user=user, level=AccessLevel.MANAGE)
    return user, client


def run_phase(*, rows: int, traced: bool) -> dict:
    """One import in this process: preview then confirm, timed, with peak memory."""
    _django_setup()
    from django.db import connection

    from intake.services.imports import import_confirm, import_preview_create

    user, client = _world()
    data = itglue_csv(rows)
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    batch = import_preview_create(
        actor=user, client=client, upload=io.BytesIO(data), filename="passwords.csv"
    )
    previewed = time.perf_counter()
    result = import_confirm(actor=user, batch=batch)
    confirmed = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1] if traced else None
    return {
        "database": connection.vendor,
        "rows": rows,
        "csv_bytes": len(data),
        "row_errors": batch.error_count,
        "imported": result.imported,
        "preview_seconds": round(previewed - started, 2),
        "confirm_seconds": round(confirmed - previewed, 2),
        "total_seconds": round(confirmed - started, 2),
        "tracemalloc_peak_mb": round(peak / 2**20, 1) if peak is not None else None,
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--phase", choices=["time", "memory"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.phase:
        print(json.dumps(run_phase(rows=options.rows, traced=options.phase == "memory")))  # noqa: T201
        return
    phases = {}
    for phase in ("time", "memory"):
        done = subprocess.run(  # noqa: S603  (this script, with our own arguments)
            [sys.executable, __file__, "--rows", str(options.rows), "--phase", phase],
            check=True,
            capture_output=True,
            text=True,
        )
        phases[phase] = json.loads(done.stdout.strip().splitlines()[-1])
    timed, traced = phases["time"], phases["memory"]
    report = {
        "database": timed["database"],
        "rows": timed["rows"],
        "csv_bytes": timed["csv_bytes"],
        "imported": timed["imported"],
        "preview_seconds": timed["preview_seconds"],
        "confirm_seconds": timed["confirm_seconds"],
        "total_seconds": timed["total_seconds"],
        "ru_maxrss_mb": timed["ru_maxrss_mb"],
        "tracemalloc_peak_mb": traced["tracemalloc_peak_mb"],
        "ru_maxrss_mb_traced": traced["ru_maxrss_mb"],
        "total_seconds_traced": traced["total_seconds"],
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
