"""The benchmark keeps working: seed_scale at a tiny size into the test database, then
bench/bench.py --quick end to end (floor, gunicorn, every measurement, the import).

No timing is asserted: only that every row of the report is there and nothing failed.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.management import call_command
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


def _test_database_url() -> str:
    """DATABASE_URL with the test database's name: what the bench and gunicorn open."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = connection.settings_dict["NAME"]
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_seed_scale_and_quick_bench_report_every_measurement_without_error(tmp_path):
    call_command(
        "seed_scale",
        clients=6,
        credentials=600,
        systems=18,
        staff=10,
        tech_clients=4,
        events=3000,
        months=2,
        workers=0,
        manifest=tmp_path / "manifest.json",
        stdout=io.StringIO(),
    )
    connection.close()  # the bench and gunicorn open their own
    report_path, table_path = tmp_path / "bench.json", tmp_path / "bench.md"
    environment = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "KEYHOLD_KEYRING": str(settings.KEYHOLD_KEYRING),
        "KEYHOLD_VAR_DIR": str(tmp_path / "var"),
        "AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit-checkpoints"),
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
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
