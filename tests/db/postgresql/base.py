"""PostgreSQL for tests: TRUNCATE between transactional tests with triggers off.

`session_replication_role = replica` needs a superuser, which the test run connects as; the
application's own role (manage.py db_app_role) cannot do this.
"""

from django.db.backends.postgresql import base


class DatabaseOperations(base.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(
            style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if not statements:
            return statements
        return [
            "SET session_replication_role = replica;",
            *statements,
            "SET session_replication_role = DEFAULT;",
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
