"""The event table refuses UPDATE, DELETE and TRUNCATE in the database itself."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit import services as audit
from audit.models import AuditEvent


@pytest.fixture
def event(db, alice):
    with transaction.atomic():
        return audit.record(actor=alice, action="staff.signed_in")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'staff.signed_out'",
        "UPDATE audit_auditevent SET details = '{}' WHERE sequence = %s",
        "DELETE FROM audit_auditevent",
        "DELETE FROM audit_auditevent WHERE sequence = %s",
    ],
)
def test_raw_update_and_delete_fail(event, sql):
    params = [event.sequence] if "%s" in sql else []
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    assert AuditEvent.objects.get(sequence=event.sequence).action == "staff.signed_in"


@pytest.mark.postgresql
def test_truncate_fails_on_postgresql(event):
    before = AuditEvent.objects.count()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == before > 0


def test_orm_update_and_delete_fail(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(sequence=event.sequence).update(reason="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(sequence=event.sequence).delete()
    event.reason = "edited"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    assert AuditEvent.objects.get(sequence=event.sequence).reason == ""
