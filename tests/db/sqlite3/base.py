"""SQLite for tests: DELETE between transactional tests with the audit triggers dropped."""

import importlib

from django.db.backends.sqlite3 import base

_append_only = importlib.import_module("audit.migrations.0002_append_only")


class DatabaseOperations(base.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(
            style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if not statements:
            return statements
        return [*_append_only.SQLITE_BACKWARD, *statements, *_append_only.SQLITE_FORWARD]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
