"""On PostgreSQL the application's role cannot change or hide audit events."""

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit import services as audit
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

APP_ROLE = "keyhold_app_test"


@pytest.fixture
def app_connection():
    with transaction.atomic():
        audit.record(actor=UserFactory(), action="staff.signed_in")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        exists = cursor.fetchone()
    call_command("db_app_role", APP_ROLE, *([] if exists else ["--create"]))
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=APP_ROLE,
        autocommit=True,
    ) as conn:
        yield conn


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET reason = 'edited'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_no_change",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
        "DROP TRIGGER audit_auditevent_no_change ON audit_auditevent",
        "UPDATE audit_reviewsignoff SET notes = 'edited'",
    ],
)
def test_application_role_cannot_change_or_unprotect_the_log(app_connection, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_connection.execute(statement)


def test_application_role_can_append_and_read(app_connection):
    count = app_connection.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0]
    assert count >= 1
    head = app_connection.execute("SELECT sequence FROM audit_auditchainhead").fetchone()[0]
    assert head == count
    app_connection.execute("SELECT 1 FROM accounts_user LIMIT 1")
    privileges = app_connection.execute(
        "SELECT has_table_privilege('audit_auditevent', 'INSERT'), "
        "has_table_privilege('audit_auditchainhead', 'UPDATE'), "
        "has_table_privilege('tenants_client', 'UPDATE')"
    ).fetchone()
    assert privileges == (True, True, True)


def test_the_owner_role_is_refused_as_application_role():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    with pytest.raises(CommandError, match="owns the tables"):
        call_command("db_app_role", owner)
