"""The embedded default: DEBUG on, SQLite under var/, a generated local secret key."""

import secrets

from config.env import env_bool
from config.logging import build_logging_config
from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR

DEBUG = env_bool("DEBUG", True)


def _local_secret_key() -> str:
    """A per-checkout key kept in var/, so sessions survive restarts without a shared key."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = SECRET_KEY or _local_secret_key()  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
LOGGING = build_logging_config(LOG_LEVEL, json_output=env_bool("LOG_JSON", False))  # noqa: F405
# runserver already prints one line per request.
LOGGING["loggers"]["django_structlog.middlewares.request"] = {"level": "WARNING"}
