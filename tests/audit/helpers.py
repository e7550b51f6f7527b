"""What a database superuser could do to the audit table, for tamper and failure tests."""

import importlib

from django.db import connection

_append_only = importlib.import_module("audit.migrations.0002_append_only")


def as_superuser(*statements: tuple[str, list]) -> None:
    """Run statements with the append-only triggers out of the way."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                for sql, params in statements:
                    cursor.execute(sql, params)
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
        else:
            for sql in _append_only.SQLITE_BACKWARD:
                cursor.execute(sql)
            try:
                for sql, params in statements:
                    cursor.execute(sql, params)
            finally:
                for sql in _append_only.SQLITE_FORWARD:
                    cursor.execute(sql)


def break_audit_inserts() -> None:
    """Make every INSERT into the event table fail, as a full disk or lost grant would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION keyhold_test_fail() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'audit storage unavailable'; END $$ LANGUAGE plpgsql",
                None,
            )
            cursor.execute(
                "CREATE TRIGGER keyhold_test_fail BEFORE INSERT ON audit_auditevent "
                "FOR EACH ROW EXECUTE FUNCTION keyhold_test_fail()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER keyhold_test_fail BEFORE INSERT ON audit_auditevent "
                "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"
            )
