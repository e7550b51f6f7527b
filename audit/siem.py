"""The SIEM feed: every audit event, in sequence order, as one JSON object to the SIEM.

AUDIT_SIEM_URL chooses the way out: https:// (one POST per event, any 2xx acknowledges it),
http:// to a loopback host only (a local collector or a test), or syslog://host[:port] (an
RFC 5424 message over UDP, JSON as MSG). Forwarding runs in a periodic job and reads events
after a stored cursor, so an action never waits for the SIEM: when the SIEM is down, events
wait in the audit table and the next run resumes at the first one not acknowledged.

Delivery is at least once: a run that dies between the SIEM's answer and the cursor update
sends the last few events again. audit.record() assigns sequences under the chain head's row
lock, so committed events always form a gap-free prefix and the cursor never skips one.
"""

import http.client
import ipaddress
import logging
import re
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.export import EXPORT_FIELDS, compact_json, event_record, utc_timestamp
from audit.models import AuditEvent, Outcome, SiemCursor

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
HTTP_TIMEOUT_SECONDS = 10
# A run stops starting new sends after this long, so runs a minute apart rarely overlap.
RUN_BUDGET_SECONDS = 50
# Longer than a run can last (budget + one timeout): a crashed worker's lease lapses.
LEASE = timedelta(minutes=5)
SYSLOG_DEFAULT_PORT = 514
SYSLOG_FACILITY_LOG_AUDIT = 13
# rsyslog and syslog-ng accept 8 KiB by default; larger messages lose their long fields.
SYSLOG_MAX_BYTES = 8192
SYSLOG_FIELD_KEEP = 1024
_SYSLOG_SEVERITY = {Outcome.SUCCESS: 6, Outcome.DENIED: 4, Outcome.ERROR: 3}
_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]")


class SiemDeliveryError(Exception):
    """The SIEM did not acknowledge a record; the message names no secret."""


@dataclass(frozen=True)
class SiemTarget:
    """Where the feed goes, parsed from AUDIT_SIEM_URL."""

    scheme: str
    host: str
    port: int
    path: str

    def describe(self) -> str:
        """Scheme, host and port: never the path or query, which may carry a collector key."""
        return f"{self.scheme}://{self.host}:{self.port}"


def siem_target(url: str) -> SiemTarget | None:
    """The parsed AUDIT_SIEM_URL, None when empty; ImproperlyConfigured when unusable."""
    url = url.strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured("AUDIT_SIEM_URL is not a valid URL.") from None
    if parts.scheme not in ("https", "http", "syslog"):
        raise ImproperlyConfigured("AUDIT_SIEM_URL must start with https://, http:// or syslog://.")
    host = parts.hostname or ""
    if not host:
        raise ImproperlyConfigured("AUDIT_SIEM_URL names no host.")
    if parts.username or parts.password:
        raise ImproperlyConfigured("AUDIT_SIEM_URL must not carry a user name or password.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if parts.scheme == "https":
        return SiemTarget(scheme="https", host=host, port=port or 443, path=path)
    if parts.scheme == "http":
        if not _is_loopback(host):
            raise ImproperlyConfigured(
                "AUDIT_SIEM_URL may use http:// only for a loopback host; use https://."
            )
        return SiemTarget(scheme="http", host=host, port=port or 80, path=path)
    return SiemTarget(scheme="syslog", host=host, port=port or SYSLOG_DEFAULT_PORT, path="")


def siem_forward(*, batch_size: int = BATCH_SIZE) -> str:
    """Send the events after the cursor to the SIEM, in order; say what happened."""
    target = siem_target(settings.AUDIT_SIEM_URL)
    if target is None:
        return "SIEM forwarding is off: AUDIT_SIEM_URL is empty."
    holder = uuid.uuid4().hex
    position = _lease_claim(holder=holder)
    if position is None:
        return "Another forwarder holds the SIEM cursor; nothing sent."
    deadline = time.monotonic() + RUN_BUDGET_SECONDS
    sent = 0
    sender = _sender(target)
    try:
        while time.monotonic() < deadline:
            batch = list(
                AuditEvent.objects.filter(sequence__gt=position)
                .order_by("sequence")
                .values_list(*EXPORT_FIELDS)[:batch_size]
            )
            if not batch:
                break
            delivered = position
            error = None
            undelivered = 0
            for row in batch:
                if time.monotonic() >= deadline:
                    break
                try:
                    sender.send(event_record(row))
                except SiemDeliveryError as failure:
                    error, undelivered = str(failure), row[0]
                    break
                delivered = row[0]
                sent += 1
            if not _lease_advance(
                holder=holder, sequence=delivered, previous=position, error=error
            ):
                return f"Sent {sent} events, then another forwarder took over the SIEM cursor."
            position = delivered
            if error is not None:
                logger.warning(
                    "audit.siem_undelivered",
                    extra={"siem": target.describe(), "waiting_from": undelivered},
                )
                return (
                    f"Sent {sent} events to {target.describe()}; #{undelivered} was not "
                    f"delivered ({error}). The next run resumes there."
                )
    finally:
        sender.close()
        _lease_release(holder=holder)
    return f"Sent {sent} events to {target.describe()}; delivered up to #{position}."


def siem_send_checkpoint(checkpoint: dict) -> None:
    """Send a signed chain checkpoint the way events go; SiemDeliveryError when refused.

    Does nothing when AUDIT_SIEM_URL is empty.
    """
    target = siem_target(settings.AUDIT_SIEM_URL)
    if target is None:
        return
    sender = _sender(target)
    try:
        sender.send(dict(checkpoint))
    finally:
        sender.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lease_claim(*, holder: str) -> int | None:
    SiemCursor.objects.get_or_create(pk=1)
    now = timezone.now()
    with transaction.atomic():
        cursor = SiemCursor.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if cursor is None or (cursor.leased_until is not None and cursor.leased_until > now):
            return None
        cursor.leased_by = holder
        cursor.leased_until = now + LEASE
        cursor.save(update_fields=["leased_by", "leased_until"])
    return cursor.sequence


def _lease_advance(*, holder: str, sequence: int, previous: int, error: str | None) -> bool:
    now = timezone.now()
    fields: dict[str, Any] = {"sequence": sequence, "leased_until": now + LEASE}
    if sequence > previous:
        fields["delivered_at"] = now
    if error is None:
        fields |= {"failing_since": None, "last_error": ""}
    else:
        fields |= {
            "failing_since": Coalesce(F("failing_since"), Value(now)),
            "last_error": error[:200],
        }
    with transaction.atomic():
        return SiemCursor.objects.filter(pk=1, leased_by=holder).update(**fields) == 1


def _lease_release(*, holder: str) -> None:
    with transaction.atomic():
        SiemCursor.objects.filter(pk=1, leased_by=holder).update(leased_by="", leased_until=None)


def _sender(target: SiemTarget) -> "_HttpSender | _SyslogSender":
    return _SyslogSender(target) if target.scheme == "syslog" else _HttpSender(target)


class _HttpSender:
    """POSTs over one kept-alive connection; http.client follows no redirect."""

    def __init__(self, target: SiemTarget):
        self._target = target
        if target.scheme == "https":
            self._connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                target.host,
                target.port,
                timeout=HTTP_TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            self._connection = http.client.HTTPConnection(
                target.host, target.port, timeout=HTTP_TIMEOUT_SECONDS
            )

    def send(self, record: dict) -> None:
        body = compact_json(record).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Keyhold-SIEM-feed/1"}
        try:
            self._connection.request("POST", self._target.path, body=body, headers=headers)
            response = self._connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as error:
            self._connection.close()
            raise SiemDeliveryError(
                f"{self._target.describe()} could not be reached: {type(error).__name__}"
            ) from error
        if not 200 <= response.status < 300:
            raise SiemDeliveryError(f"{self._target.describe()} answered HTTP {response.status}")

    def close(self) -> None:
        self._connection.close()


class _SyslogSender:
    """RFC 5424 over UDP (RFC 5426): one datagram per record, JSON as an ASCII MSG."""

    def __init__(self, target: SiemTarget):
        self._target = target
        self._socket: socket.socket | None = None
        self._hostname = _PRINTABLE_ASCII.sub("", socket.gethostname())[:255] or "-"

    def send(self, record: dict) -> None:
        message = self._message(record)
        try:
            if self._socket is None:
                family, kind, protocol, _, address = socket.getaddrinfo(
                    self._target.host, self._target.port, type=socket.SOCK_DGRAM
                )[0]
                self._socket = socket.socket(family, kind, protocol)
                self._socket.settimeout(HTTP_TIMEOUT_SECONDS)
                self._socket.connect(address)
            self._socket.send(message)
        except OSError as error:
            self.close()
            raise SiemDeliveryError(
                f"{self._target.describe()} could not be reached: {type(error).__name__}"
            ) from error

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _message(self, record: dict) -> bytes:
        severity = _SYSLOG_SEVERITY.get(record.get("outcome"), 6)
        priority = SYSLOG_FACILITY_LOG_AUDIT * 8 + severity
        msgid = _PRINTABLE_ASCII.sub("", str(record.get("action") or record.get("type") or ""))
        timestamp = _syslog_timestamp(record.get("occurred_at") or record.get("written_at"))
        header = f"<{priority}>1 {timestamp} {self._hostname} keyhold - {msgid[:32] or '-'} - "
        message = header.encode("ascii") + compact_json(record).encode("ascii")
        if len(message) <= SYSLOG_MAX_BYTES:
            return message
        # An event too large for a datagram would block the feed forever: cut its long fields.
        shortened = {
            key: value[:SYSLOG_FIELD_KEEP] if isinstance(value, str) else value
            for key, value in record.items()
        }
        shortened["details"] = {}
        shortened["truncated"] = True
        return header.encode("ascii") + compact_json(shortened).encode("ascii")


def _syslog_timestamp(value: Any) -> str:
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        moment = timezone.now()
    return utc_timestamp(moment)
