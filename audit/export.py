"""Export of the audit log: a filtered range as CSV or JSON lines, streamed row by row.

Rows come from a server-side cursor as plain tuples, a few thousand at a time, and leave as
chunks of about 64 KiB, so an export of millions of events never sits in memory. CSV cells
that a spreadsheet would run as a formula are neutralised (OWASP CSV injection guidance);
JSON is ASCII-only, so no character inside a value can end a line early for any reader.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from accounts.models import Role, User
from accounts.services import require_role
from audit import services as audit
from audit.catalogue import ACTIONS
from audit.models import AuditEvent, Outcome
from audit.services import Attempt, recording_failures
from config.errors import InvalidRequest, NotFound
from tenants.models import AccessLevel, Client

EXPORT_FIELDS = (
    "sequence",
    "occurred_at",
    "actor_kind",
    "actor_label",
    "action",
    "outcome",
    "client_label",
    "target_type",
    "target_id",
    "target_label",
    "ticket",
    "reason",
    "ip_address",
    "user_agent",
    "request_id",
    "details",
    "previous_hash",
    "entry_hash",
)
EXPORT_FORMATS = ("csv", "jsonl")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
MAX_EXPORT_DAYS = 366
ROWS_PER_FETCH = 2000
CHUNK_BYTES = 64 * 1024
# A spreadsheet treats a cell starting with one of these as a formula (OWASP).
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Excel reads a CSV file as UTF-8 only when it starts with a byte order mark.
_UTF8_BOM = "\ufeff"


def _sequence_range(in_period: QuerySet[AuditEvent]) -> tuple[int, int]:
    """The first and last sequence of a period, from the occurred_at index.

    Sequences and times rise together (both are set under the chain-head lock), so a
    sequence range lets PostgreSQL walk the primary key from the period's first event
    instead of from the very first event of the log.
    """
    ordered = in_period.order_by("occurred_at", "sequence").values_list("sequence", flat=True)
    first = ordered.first()
    last = (
        in_period.order_by("-occurred_at", "-sequence").values_list("sequence", flat=True).first()
    )
    return (first, last) if first is not None else (0, -1)


def audit_events_for_export(
    *, actor: User, start: date, end: date, client_slug: str, action: str, outcome: str
) -> QuerySet[AuditEvent]:
    """Events of whole UTC days from start to end, of the actor's clients and of no client."""
    client = _export_scope(
        actor=actor, start=start, end=end, client_slug=client_slug, action=action, outcome=outcome
    )
    events = AuditEvent.objects.filter(
        occurred_at__gte=_day_start(start), occurred_at__lt=_day_start(end + timedelta(days=1))
    )
    events = events.filter(sequence__range=_sequence_range(events))
    if client is not None:
        events = events.filter(client_id=client.pk)
    else:
        visible = Client.objects.for_user(actor, AccessLevel.VIEW).values("pk")
        events = events.filter(Q(client_id__isnull=True) | Q(client_id__in=visible))
    if action:
        events = events.filter(action=action)
    if outcome:
        events = events.filter(outcome=outcome)
    return events.order_by("sequence")


def audit_export_record(*, actor: User, filters: dict) -> None:
    """Record an export of `filters` (from, to, format, client, action, outcome) before it runs.

    A refused export (wrong role, a client the actor cannot see) leaves a denied event.
    """
    details = {
        "from": filters["from"].isoformat(),
        "to": filters["to"].isoformat(),
        "format": filters["format"],
        "client": filters["client"],
        "action": filters["action"],
        "outcome": filters["outcome"],
    }
    attempt = Attempt(actor=actor, action="audit.exported", details=details)
    with recording_failures(attempt):
        client = _export_scope(
            actor=actor,
            start=filters["from"],
            end=filters["to"],
            client_slug=filters["client"],
            action=filters["action"],
            outcome=filters["outcome"],
        )
        if filters["format"] not in EXPORT_FORMATS:
            raise InvalidRequest("The format must be csv or jsonl.")
        with transaction.atomic():
            audit.record(actor=actor, action="audit.exported", client=client, details=details)


def export_filename(*, filters: dict) -> str:
    """A download name from validated filters only (dates, a real slug, a known format)."""
    scope = f"-{filters['client']}" if filters["client"] else ""
    return (
        f"keyhold-audit{scope}-{filters['from']:%Y-%m-%d}-to-{filters['to']:%Y-%m-%d}"
        f".{filters['format']}"
    )


def export_rows(*, events: QuerySet[AuditEvent], fmt: str) -> Iterator[bytes]:
    """The events as a header and one line each, in chunks of about CHUNK_BYTES."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest("The format must be csv or jsonl.")
    rows = (
        events.order_by("sequence").values_list(*EXPORT_FIELDS).iterator(chunk_size=ROWS_PER_FETCH)
    )
    return _csv_chunks(rows) if fmt == "csv" else _jsonl_chunks(rows)


def event_record(row: tuple) -> dict[str, Any]:
    """One event (a row of EXPORT_FIELDS) as a JSON-ready dict: the JSONL line, the SIEM body."""
    record = dict(zip(EXPORT_FIELDS, row, strict=True))
    record["occurred_at"] = utc_timestamp(record["occurred_at"])
    return record


def utc_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z, as SIEMs and RFC 5424 expect."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def compact_json(document: Any) -> str:
    """Sorted, compact, ASCII-only JSON: one line whatever the values hold."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def csv_cell(value: Any) -> str:
    """The cell as text, with a quote in front when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_TRIGGERS) or text.lstrip().startswith(_FORMULA_TRIGGERS):
        return "'" + text
    return text


def _export_scope(
    *, actor: User, start: date, end: date, client_slug: str, action: str, outcome: str
) -> Client | None:
    require_role(actor, Role.MANAGER, Role.AUDITOR, action="export the audit log")
    if end < start:
        raise InvalidRequest("The 'to' date is before the 'from' date.")
    if (end - start).days + 1 > MAX_EXPORT_DAYS:
        raise InvalidRequest(f"Export at most {MAX_EXPORT_DAYS} days at a time.")
    if action and action not in ACTIONS:
        raise InvalidRequest("Unknown action: choose one from the audit catalogue.")
    if outcome and outcome not in Outcome.values:
        raise InvalidRequest("The outcome must be success, denied or error.")
    if not client_slug:
        return None
    client = Client.objects.for_user(actor, AccessLevel.VIEW).filter(slug=client_slug).first()
    if client is None:
        raise NotFound()
    return client


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _csv_values(row: tuple) -> list[str]:
    record = dict(zip(EXPORT_FIELDS, row, strict=True))
    record["occurred_at"] = utc_timestamp(record["occurred_at"])
    record["details"] = json.dumps(
        record["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return [csv_cell(record[name]) for name in EXPORT_FIELDS]


def _csv_chunks(rows: Iterable[tuple]) -> Iterator[bytes]:
    buffer = io.StringIO()
    # Every cell quoted, quotes doubled: OWASP's advice next to the leading quote.
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    buffer.write(_UTF8_BOM)
    writer.writerow(EXPORT_FIELDS)
    for row in rows:
        writer.writerow(_csv_values(row))
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _jsonl_chunks(rows: Iterable[tuple]) -> Iterator[bytes]:
    parts: list[bytes] = []
    size = 0
    for row in rows:
        line = (compact_json(event_record(row)) + "\n").encode()
        parts.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)
