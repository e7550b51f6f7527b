"""Trigram indexes for the credential search, on PostgreSQL only (issue 9).

Django's `icontains` compiles to `UPPER(col::text) LIKE UPPER('%term%')`, which no B-tree
index can serve, so every search read each visible credential (1.9 s for a rare term among
500,000 credentials). A pg_trgm GIN index on the same `UPPER(col)` expression answers the
LIKE from the index; an index on the bare column would not match the expression. SQLite,
the embedded default, has no such index type and keeps its plain scan.
"""

from django.db import migrations

TABLE = "vault_credential"
INDEXES = {
    "vault_cred_name_trgm_idx": "name",
    "vault_cred_username_trgm_idx": "username",
    "vault_cred_host_trgm_idx": "host",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    # A trusted extension: the database owner may create it without superuser rights.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(TABLE)} "
            f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops)"
        )
    # Statistics on the new expressions let the planner tell a rare term from a common one
    # right away, instead of after the next autovacuum.
    schema_editor.execute(f"ANALYZE {quote(TABLE)}")


def drop_indexes(apps, schema_editor):
    """Drop the indexes; the extension stays, as other objects may have come to use it."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("vault", "0006_credential_used_by"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
