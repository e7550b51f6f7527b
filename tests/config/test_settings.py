"""Production settings refuse unsafe configurations and pass Django's deployment checks."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 30 + "Q2w9-x_Zp8Lm3Rt6Yv1Bn4Hs7Jd0Kf5Gc"


def run_django(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "SECRET_KEY",
            "DEBUG",
            "ALLOWED_HOSTS",
            "DJANGO_SETTINGS_MODULE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    environment.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = run_django(["check"], ALLOWED_HOSTS="keyhold.msp.example")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_debug_on_a_non_local_host():
    result = run_django(
        ["check"], SECRET_KEY=GOOD_KEY, DEBUG="true", ALLOWED_HOSTS="keyhold.msp.example"
    )
    assert result.returncode != 0
    assert "DEBUG is on while ALLOWED_HOSTS names a non-local host" in result.stderr


def test_malformed_setting_is_a_clear_error():
    result = run_django(["check"], SECRET_KEY=GOOD_KEY, SESSION_IDLE_TIMEOUT_MINUTES="thirty")
    assert result.returncode != 0
    assert "SESSION_IDLE_TIMEOUT_MINUTES must be a whole number" in result.stderr


def test_check_deploy_reports_no_issues_with_production_settings():
    result = run_django(
        ["check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="keyhold.msp.example",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db
def test_security_headers_on_every_page(client):
    response = client.get("/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp


INLINE_CODE = re.compile(r"<script>|<script\s+(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=")


def test_templates_carry_no_inline_script_or_style():
    templates = [path for path in ROOT.glob("**/templates/**/*.html") if ".venv" not in path.parts]
    assert len(templates) > 20
    offenders = [
        str(path.relative_to(ROOT)) for path in templates if INLINE_CODE.search(path.read_text())
    ]
    assert offenders == []
