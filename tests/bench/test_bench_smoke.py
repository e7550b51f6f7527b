"""The benchmark keeps working: seed_scale at a tiny size into a database of its own, then
bench/bench.py --quick end to end (floor, gunicorn, every measurement, the import).

The database is created, migrated and seeded by subprocesses and dropped afterwards, never the
test database: the seed's bulk loads and the bench's gunicorn would otherwise leave rows that
the tests after this one do not expect. No timing is asserted: only that every row of the
report is there and nothing failed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
MEASUREMENTS = {
    "api_reveal_1",
    "api_reveal_4",
    "browser_reveal",
    "credential_list",
    "search_common",
    "search_rare",
    "api_list",
    "checkout",
    "monthly_review",
    "hygiene",
    "rotation_scan",
    "import",
}
OVER_HTTP = MEASUREMENTS - {"rotation_scan", "import"}


def _bench_database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture
def bench_database():
    """A fresh database beside the test database, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_bench"
    server = _bench_database_url("postgres")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _bench_database_url(name)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(environment: dict, *arguments: str) -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-4000:]


@pytest.mark.postgresql
def test_seed_scale_and_quick_bench_report_every_measurement_without_error(
    tmp_path, bench_database
):
    environment = {
        **os.environ,
        "DATABASE_URL": bench_database,
        "KEYHOLD_KEYRING": str(settings.KEYHOLD_KEYRING),
        "KEYHOLD_VAR_DIR": str(tmp_path / "var"),
        "AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit-checkpoints"),
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
    }
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    _manage(environment, "migrate", "--no-input")
    _manage(
        environment,
        "seed_scale",
        "--clients=6",
        "--credentials=600",
        "--systems=18",
        "--staff=10",
        "--tech-clients=4",
        "--events=3000",
        "--months=2",
        "--workers=0",
        f"--manifest={tmp_path / 'manifest.json'}",
    )
    environment.pop("DJANGO_SETTINGS_MODULE")
    report_path, table_path = tmp_path / "bench.json", tmp_path / "bench.md"
    finished = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench.py"),
            "--quick",
            "--output",
            str(report_path),
            "--markdown",
            str(table_path),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-4000:]
    report = json.loads(report_path.read_text())
    assert set(report["floor"]) >= {"1", "4"}
    assert all(report["floor"][count]["transactions"] > 0 for count in ("1", "4"))
    assert set(report["results"]) == MEASUREMENTS
    for key in OVER_HTTP:
        result = report["results"][key]
        assert result["errors"] == [], (key, result["errors"])
        assert result["requests"] > 0, key
        assert result["queries"] > 0, key
    assert report["results"]["import"]["imported"] == report["options"]["import_rows"]
    assert report["dataset"]["technician"] == "bench.technician@scale.keyhold.test"
    table = table_path.read_text()
    for key, result in report["results"].items():
        assert result["label"] in table, key
    assert "Floor: SELECT" in table
