"""Audit export: neutralised CSV, faithful JSON lines, streaming, scoping and its own event."""

import csv
import io
import json
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from audit import services as audit
from audit.export import (
    CHUNK_BYTES,
    EXPORT_FIELDS,
    audit_events_for_export,
    event_record,
    export_rows,
)
from audit.models import AuditEvent
from audit.services import Target
from config.errors import AccessDenied, InvalidRequest, NotFound
from tests.conftest import sign_in
from tests.factories import UserFactory

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@SUM(1)",
    "\t=1+1",
    "\r=1+1",
    '   =HYPERLINK("http://evil.example/")',
    "\n-2+3",
]
HOSTILE_USER_AGENT = '=1+1 Mozilla/5.0\r\nX-Injected: yes\x1b[31m "quoted" </script>\u2028'


def record(actor, **kwargs) -> AuditEvent:
    with transaction.atomic():
        return audit.record(actor=actor, action=kwargs.pop("action", "staff.signed_in"), **kwargs)


def csv_rows(body: bytes) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    assert tuple(reader.fieldnames) == EXPORT_FIELDS
    return list(reader)


def jsonl_rows(body: bytes) -> list[dict]:
    text = body.decode("ascii")
    # ASCII-only JSON: no U+2028, NEL or other line break can split a line for any reader.
    assert len(text.splitlines()) == text.count("\n")
    return [json.loads(line) for line in text.splitlines()]


def export(events, fmt: str) -> bytes:
    return b"".join(export_rows(events=events, fmt=fmt))


def today() -> date:
    return timezone.now().astimezone(UTC).date()


@pytest.fixture
def manager(db):
    return UserFactory(email="mona@msp.example", roles=[Role.MANAGER])


# --- export_rows: CSV --------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE)
def test_csv_cells_a_spreadsheet_would_run_get_a_leading_quote(manager, hostile):
    event = record(
        manager,
        target=Target(type="tenants.system", id=hostile, label=hostile),
        details={"note": hostile},
    )
    (row,) = csv_rows(export(AuditEvent.objects.all(), "csv"))
    assert row["sequence"] == str(event.sequence)
    assert row["target_label"] == "'" + hostile
    assert row["target_id"] == "'" + hostile
    # The details cell starts with "{", so it is safe as it is and kept exactly.
    assert json.loads(row["details"]) == {"note": hostile}


def test_no_csv_cell_starts_like_a_formula(manager, client_a):
    for hostile in HOSTILE:
        record(
            manager,
            client=client_a,
            target=Target(type="x", id="1", label=hostile),
            ticket=hostile,
            reason=hostile,
        )
    rows = csv_rows(export(AuditEvent.objects.all(), "csv"))
    assert len(rows) == AuditEvent.objects.count()
    for row in rows:
        for value in row.values():
            assert not value.startswith(TRIGGERS), value
            assert not value.lstrip().startswith(TRIGGERS), value


def test_csv_keeps_line_breaks_quotes_and_control_characters_as_inert_text(manager):
    label = 'line one\r\nline two, "quoted"; \x1b[31mred </script>'
    record(manager, target=Target(type="x", id="1", label=label), reason="a\nb")
    rows = csv_rows(export(AuditEvent.objects.all(), "csv"))
    assert len(rows) == 1
    assert rows[0]["target_label"] == label
    assert rows[0]["reason"] == "a\nb"


def test_csv_writes_times_in_utc_and_details_as_compact_json(manager):
    event = record(manager, details={"b": 2, "a": [1, "x"]})
    (row,) = csv_rows(export(AuditEvent.objects.all(), "csv"))
    assert row["occurred_at"].endswith("Z")
    assert datetime.fromisoformat(row["occurred_at"]) == event.occurred_at
    assert row["details"] == '{"a":[1,"x"],"b":2}'
    assert row["ip_address"] == ""
    assert row["entry_hash"] == event.entry_hash
    assert row["previous_hash"] == event.previous_hash


# --- export_rows: JSON lines ---------------------------------------------------------------


def test_jsonl_round_trips_every_field(manager, client_a):
    hostile = "\u2028=cmd|' /C calc'!A0\r\n\x85\u00e9"
    events = [
        record(manager, client=client_a, reason=hostile, details={"text": hostile}),
        record(manager, action="staff.signed_out", target=Target(type="x", id="7", label="+1")),
    ]
    lines = jsonl_rows(export(AuditEvent.objects.all(), "jsonl"))
    assert [line["sequence"] for line in lines] == [event.sequence for event in events]
    first = lines[0]
    assert list(first) == sorted(EXPORT_FIELDS)
    assert first["reason"] == hostile.strip()
    assert first["details"] == {"text": hostile}
    assert first["client_label"] == client_a.name
    assert datetime.fromisoformat(first["occurred_at"]) == events[0].occurred_at
    # JSON needs no neutralising: values come back exactly as stored.
    assert lines[1]["target_label"] == "+1"
    assert first == event_record(
        AuditEvent.objects.values_list(*EXPORT_FIELDS).get(sequence=events[0].sequence)
    )


def test_export_rows_refuses_an_unknown_format(manager):
    with pytest.raises(InvalidRequest):
        export_rows(events=AuditEvent.objects.all(), fmt="xlsx")


# --- streaming ----------------------------------------------------------------------------


def _bulk_events(count: int) -> None:
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            sequence=number,
            occurred_at=now,
            actor_kind="user",
            actor_label="load@msp.example",
            action="staff.signed_in",
            outcome="success",
            target_label=f"target {number}",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) " * 8,
            reason="x" * 200,
            details={"number": number, "note": "y" * 100},
            key_version=1,
            previous_hash="0" * 64,
            entry_hash=f"{number:064x}",
        )
        for number in range(1, count + 1)
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_memory_stays_flat_however_many_rows(db, fmt):
    """Peak memory is one fetch of ROWS_PER_FETCH rows (~6 MB here), whatever the row count.

    20,000 rows held at once would take ~50 MB; 60,000 measure the same peak as 20,000.
    """
    _bulk_events(20_000)
    tracemalloc.start()
    try:
        total = chunks = 0
        for chunk in export_rows(events=AuditEvent.objects.all(), fmt=fmt):
            assert len(chunk) < CHUNK_BYTES + 8192
            total += len(chunk)
            chunks += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 10_000_000
    assert chunks > 100
    assert peak < 10_000_000, f"peak {peak} bytes"


@pytest.mark.postgresql
def test_export_reads_through_a_server_side_cursor(db):
    _bulk_events(5000)
    chunks = export_rows(events=AuditEvent.objects.all(), fmt="jsonl")
    first = next(chunks)
    assert first.startswith(b'{"action":"staff.signed_in"')
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors")
        open_cursors = cursor.fetchone()[0]
    assert open_cursors >= 1
    rest = b"".join(chunks)
    assert (first + rest).count(b"\n") == 5000


# --- the selector --------------------------------------------------------------------------


@pytest.fixture
def world(alice, charlie, client_a, client_b):
    """One event each: client A, client B, and no client (a sign-in)."""
    return {
        "a": record(alice, client=client_a, reason="event of A"),
        "b": record(charlie, client=client_b, reason="event of B"),
        "none": record(charlie, reason="event of no client"),
    }


def _selected(actor, **filters):
    arguments = {
        "start": today() - timedelta(days=1),
        "end": today(),
        "client_slug": "",
        "action": "",
        "outcome": "",
        **filters,
    }
    return {event.reason for event in audit_events_for_export(actor=actor, **arguments)} - {""}


def test_selector_gives_a_manager_their_clients_and_events_without_a_client(alice, world):
    assert _selected(alice) == {"event of A", "event of no client"}
    assert _selected(alice, client_slug="contoso-dental") == {"event of A"}


def test_selector_hides_another_clients_slug_as_not_found(alice, world):
    with pytest.raises(NotFound):
        _selected(alice, client_slug="fabrikam-logistics")
    with pytest.raises(NotFound):
        _selected(alice, client_slug="no-such-client")


def test_selector_gives_an_unassigned_auditor_only_events_without_a_client(world):
    auditor = UserFactory(roles=[Role.AUDITOR])
    assert _selected(auditor) == {"event of no client"}


def test_selector_refuses_technicians(bob, world):
    with pytest.raises(AccessDenied):
        _selected(bob)


def test_selector_takes_whole_utc_days_inclusive(manager):
    with time_machine.travel(datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC), tick=False):
        record(manager, reason="last second of March 1")
    with time_machine.travel(datetime(2025, 3, 2, 0, 0, 0, tzinfo=UTC), tick=False):
        record(manager, reason="first second of March 2")
    with time_machine.travel(datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC), tick=False):
        record(manager, reason="last second of March 31")
    with time_machine.travel(datetime(2025, 4, 1, 0, 0, 0, tzinfo=UTC), tick=False):
        record(manager, reason="first second of April")
    selected = _selected(manager, start=date(2025, 3, 2), end=date(2025, 3, 31))
    assert selected == {"first second of March 2", "last second of March 31"}
    assert _selected(manager, start=date(2025, 3, 1), end=date(2025, 3, 1)) == {
        "last second of March 1"
    }


def test_selector_filters_by_action_and_outcome(alice, world):
    record(alice, action="staff.sign_in_failed", outcome="denied", reason="refused")
    assert _selected(alice, action="staff.sign_in_failed") == {"refused"}
    assert _selected(alice, outcome="denied") == {"refused"}
    assert _selected(alice, action="staff.sign_in_failed", outcome="success") == set()


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"start": date(2025, 2, 1), "end": date(2025, 1, 31)}, "before"),
        ({"start": date(2024, 1, 1), "end": date(2025, 1, 1)}, "366 days"),
        ({"action": "credential.stolen"}, "Unknown action"),
        ({"outcome": "maybe"}, "outcome"),
    ],
)
def test_selector_refuses_bad_filters_with_a_clear_message(alice, filters, message):
    with pytest.raises(InvalidRequest) as error:
        _selected(alice, **filters)
    assert message in error.value.message


def test_selector_allows_a_full_leap_year(alice):
    last_day = datetime(2024, 12, 31, 12, tzinfo=UTC)
    with time_machine.travel(last_day, tick=False), transaction.atomic():
        audit.record(actor=alice, action="staff.signed_in", reason="last day of 2024")
    found = _selected(alice, start=date(2024, 1, 1), end=date(2024, 12, 31))
    assert found == {"last day of 2024"}


# --- the view ------------------------------------------------------------------------------


def _export_url(**params) -> str:
    query = {"from": (today() - timedelta(days=1)).isoformat(), "to": today().isoformat()}
    query.update(params)
    return reverse("audit:events_export") + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def _exported_events():
    return AuditEvent.objects.filter(action="audit.exported")


def test_manager_downloads_csv_of_their_scope_with_one_audit_event(client, alice, world):
    sign_in(client, alice)
    response = client.get(_export_url(format="csv"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    filename = f"keyhold-audit-{today() - timedelta(days=1)}-to-{today()}.csv"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    rows = csv_rows(b"".join(response.streaming_content))
    reasons = {row["reason"] for row in rows}
    assert {"event of A", "event of no client"} <= reasons
    assert "event of B" not in reasons
    assert not [row for row in rows if row["client_label"] == "Fabrikam Logistics"]
    exported = _exported_events().get()
    assert exported.actor_user_id == alice.pk
    assert exported.outcome == "success"
    assert exported.client_id is None
    assert exported.details == {
        "from": (today() - timedelta(days=1)).isoformat(),
        "to": today().isoformat(),
        "format": "csv",
        "client": "",
        "action": "",
        "outcome": "",
    }
    # Recorded before the first byte left, so the export contains its own event.
    assert str(exported.sequence) in {row["sequence"] for row in rows}


def test_manager_downloads_jsonl_of_one_client(client, alice, world):
    sign_in(client, alice)
    response = client.get(_export_url(format="jsonl", client="contoso-dental"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"].endswith('.jsonl"')
    assert "contoso-dental" in response["Content-Disposition"]
    lines = jsonl_rows(b"".join(response.streaming_content))
    assert {line["client_label"] for line in lines} == {"Contoso Dental"}
    assert "event of A" in {line["reason"] for line in lines}
    exported = _exported_events().get()
    assert exported.client_id == world["a"].client_id
    assert exported.details["client"] == "contoso-dental"
    assert exported.details["format"] == "jsonl"


def test_manager_asking_for_another_clients_events_gets_404_and_a_denied_event(
    client, alice, world
):
    sign_in(client, alice)
    response = client.get(_export_url(client="fabrikam-logistics"))
    assert response.status_code == 404
    assert b"event of B" not in response.content
    denied = _exported_events().get()
    assert denied.outcome == "denied"
    assert denied.actor_user_id == alice.pk
    assert denied.client_id is None
    assert denied.details["client"] == "fabrikam-logistics"


def test_technician_is_refused_with_403_and_a_denied_event(client, bob, world):
    sign_in(client, bob)
    response = client.get(_export_url())
    assert response.status_code == 403
    assert b"Only managers or auditors can export the audit log." in response.content
    denied = _exported_events().get()
    assert denied.outcome == "denied"
    assert denied.actor_user_id == bob.pk


def test_auditor_downloads_only_events_without_a_client_when_unassigned(client, world):
    auditor = UserFactory(roles=[Role.AUDITOR])
    sign_in(client, auditor)
    response = client.get(_export_url(format="jsonl"))
    assert response.status_code == 200
    lines = jsonl_rows(b"".join(response.streaming_content))
    assert {line["client_label"] for line in lines} == {""}
    assert _exported_events().filter(outcome="success").count() == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": ""}, "Choose the &#x27;from&#x27; date"),
        ({"to": "01/02/2025"}, "The &#x27;to&#x27; date must be written YYYY-MM-DD."),
        ({"from": "2025-02-30"}, "is not a day of the calendar"),
        ({"from": "2025-02-01", "to": "2025-01-31"}, "before the &#x27;from&#x27; date"),
        ({"from": "2024-01-01", "to": "2025-06-30"}, "Export at most 366 days at a time."),
        ({"format": "xlsx"}, "The format must be csv or jsonl."),
        ({"outcome": "maybe"}, "The outcome must be success, denied or error."),
    ],
)
def test_bad_filters_are_400_with_a_message_and_no_event(client, alice, params, message):
    sign_in(client, alice)
    response = client.get(_export_url(**params))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not _exported_events().exists()


def test_hostile_user_agent_is_exported_as_inert_text(client, alice):
    sign_in(client, alice)
    first = client.get(_export_url(format="jsonl"), HTTP_USER_AGENT=HOSTILE_USER_AGENT)
    b"".join(first.streaming_content)
    response = client.get(_export_url(format="csv"))
    rows = csv_rows(b"".join(response.streaming_content))
    (row,) = [row for row in rows if row["user_agent"].startswith("'")]
    assert row["user_agent"] == "'" + HOSTILE_USER_AGENT
    assert row["action"] == "audit.exported"
    response = client.get(_export_url(format="jsonl"))
    lines = jsonl_rows(b"".join(response.streaming_content))
    assert HOSTILE_USER_AGENT in {line["user_agent"] for line in lines}


def test_export_is_get_only(client, alice):
    sign_in(client, alice)
    assert client.post(_export_url()).status_code == 405
    assert not _exported_events().exists()
