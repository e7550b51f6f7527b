"""Append-only audit events and signed reviews, enforced by the database itself.

PostgreSQL: row triggers reject UPDATE and DELETE, a statement trigger rejects TRUNCATE.
SQLite: triggers reject UPDATE and DELETE (SQLite has no TRUNCATE). The owner of a
PostgreSQL table can still disable its triggers, so the application connects as a role that
does not own these tables (docs/decisions/0004-audit-log.md, `manage.py db_app_role`).
"""

from django.db import migrations

TABLES = ["audit_auditevent", "audit_reviewsignoff"]

POSTGRES_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION keyhold_reject_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'keyhold: % on % is not allowed: the table is append-only',
            TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END
    $$ LANGUAGE plpgsql;
    """,
    *[
        statement
        for table in TABLES
        for statement in (
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION keyhold_reject_change();",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION keyhold_reject_change();",
        )
    ],
]
POSTGRES_BACKWARD = [
    *[
        statement
        for table in TABLES
        for statement in (
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
        )
    ],
    "DROP FUNCTION IF EXISTS keyhold_reject_change();",
]
SQLITE_FORWARD = [
    statement
    for table in TABLES
    for statement in (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'keyhold: UPDATE on {table} is not allowed: "
        "the table is append-only'); END;",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'keyhold: DELETE on {table} is not allowed: "
        "the table is append-only'); END;",
    )
]
SQLITE_BACKWARD = [
    statement
    for table in TABLES
    for statement in (
        f"DROP TRIGGER IF EXISTS {table}_no_update;",
        f"DROP TRIGGER IF EXISTS {table}_no_delete;",
    )
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}.get(vendor)
    if statements is None:
        raise RuntimeError(f"Keyhold's audit triggers support PostgreSQL and SQLite, not {vendor}")
    for statement in statements:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}[vendor]:
        schema_editor.execute(statement, params=None)


def create_chain_head(apps, schema_editor):
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    AuditChainHead.objects.get_or_create(pk=1, defaults={"sequence": 0, "entry_hash": "0" * 64})


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(install, uninstall),
        migrations.RunPython(create_chain_head, migrations.RunPython.noop),
    ]
