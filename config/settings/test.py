"""Tests: the database from DATABASE_URL (PostgreSQL in CI, SQLite too), a throwaway keyring."""

import os
import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production-use-0123456789abcdef"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tasks run inline unless a test starts a real worker (tests/config/test_celery_worker.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
KEYHOLD_KEYRING = Path(
    os.environ.get("KEYHOLD_KEYRING", Path(tempfile.gettempdir()) / "keyhold-test-keyring.json")
)
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Flushing between transactional tests must get past the audit triggers (tests/db/).
DATABASES["default"]["ENGINE"] = {  # noqa: F405
    "django.db.backends.postgresql": "tests.db.postgresql",
    "django.db.backends.sqlite3": "tests.db.sqlite3",
}[DATABASES["default"]["ENGINE"]]  # noqa: F405

# A real Celery worker started by a test opens the test database by this name; SQLite's test
# database is a file (not in memory) so that the worker can share it.
if DATABASES["default"]["ENGINE"] == "tests.db.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"keyhold-test-{os.getpid()}.sqlite3")
    }
if os.environ.get("KEYHOLD_TEST_WORKER_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["KEYHOLD_TEST_WORKER_DATABASE_NAME"]  # noqa: F405

# Threads that tests start (live server, concurrency tests) must not keep connections open
# past their request, or the test database cannot be dropped at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
INSTALLED_APPS += ["tests.vault.testapp"]  # noqa: F405
