"""Logs keep secret-looking keys out, from structlog and from the standard library alike."""

import json
import logging
import logging.config

import structlog

from config.logging import REDACTED, build_logging_config

CANARY = "canary-Zq8v1Xw"


def render(record: logging.LogRecord) -> str:
    logging.config.dictConfig(build_logging_config("INFO", json_output=True))
    return logging.getLogger().handlers[0].format(record)


def test_standard_library_extras_with_secret_keys_are_redacted():
    record = logging.LogRecord("keyhold.test", logging.INFO, __file__, 1, "login", None, None)
    record.password = CANARY
    record.api_key = CANARY
    record.details = {"totp_secret": CANARY, "client": "Contoso"}
    output = render(record)
    assert CANARY not in output
    payload = json.loads(output)
    assert payload["password"] == REDACTED
    assert payload["details"] == {"totp_secret": REDACTED, "client": "Contoso"}


def test_structlog_keys_are_redacted_at_any_depth(capsys):
    logging.config.dictConfig(build_logging_config("INFO", json_output=True))
    logger = structlog.get_logger("keyhold.test")
    logger.info(
        "credential.revealed", secret=CANARY, extra={"nested": [{"token": CANARY}]}, who="bob"
    )
    output = capsys.readouterr().err
    assert "credential.revealed" in output
    assert "bob" in output
    assert CANARY not in output


def test_invitation_tokens_in_paths_are_cut():
    record = logging.LogRecord(
        "django.request", logging.INFO, __file__, 1, f"GET /invitation/{CANARY}/", None, None
    )
    output = render(record)
    assert CANARY not in output
    assert "/invitation/[redacted]" in output
