"""Structured logging (structlog for every logger) with secret-looking keys dropped.

Every record, whether it came from structlog or from the standard library (Django, Celery,
third-party code), passes through `redact_secrets` before it is rendered.
"""

import re
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
_SECRET_KEY_PATTERN = re.compile(
    r"pass(word|phrase|wd)?|secret|token|otp|totp|seed|api[_-]?key|private[_-]?key|"
    r"authorization|cookie|csrf|signature|credential|plaintext|backup[_-]?code",
    re.IGNORECASE,
)
# One-time tokens that travel in a link's path (invitations, share links) are cut from
# logged strings.
_TOKEN_IN_PATH = re.compile(r"(/(?:invitation|share|intake)/)[^/\s?\"']+")
_KEPT_KEYS = frozenset({"event", "level", "logger", "timestamp", "request_id", "exc_info"})


def _redact(value: Any) -> Any:
    if isinstance(value, MutableMapping):
        return {
            key: (REDACTED if is_secret_key(key) else _redact(item)) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if isinstance(value, str):
        return _TOKEN_IN_PATH.sub(r"\1[redacted]", value)
    return value


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key not in _KEPT_KEYS and bool(_SECRET_KEY_PATTERN.search(key))


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping) -> MutableMapping:
    """Replace the value of any secret-looking key, at any depth, before rendering."""
    for key in list(event_dict):
        if is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


_SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def build_logging_config(level: str, *, json_output: bool) -> dict[str, Any]:
    """Configure structlog and return the matching dictConfig for Django's LOGGING."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": [*_SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_secrets,
                    renderer,
                ],
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
        },
    }
