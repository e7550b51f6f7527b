"""Give the application's PostgreSQL role what it needs, and no power over the audit log.

Run as the role that owns the tables (the one that runs migrations), after every migrate:
the application role gets read and write on ordinary tables but only INSERT and SELECT on
the append-only tables, never ownership, so it cannot UPDATE, DELETE or TRUNCATE events nor
disable their triggers (docs/decisions/0004-audit-log.md).
"""

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from psycopg import sql

APPEND_ONLY_TABLES = ("audit_auditevent", "audit_reviewsignoff")


class Command(BaseCommand):
    help = "Grant the application role its privileges (PostgreSQL; run as the table owner)."

    def add_arguments(self, parser):
        parser.add_argument("role", help="The role the application connects as.")
        parser.add_argument(
            "--create",
            action="store_true",
            help="Create the role (LOGIN) if it does not exist.",
        )
        parser.add_argument(
            "--password-env",
            default="",
            help="Name of an environment variable holding the role's password (with --create).",
        )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("db_app_role is for PostgreSQL; SQLite has no roles.")
        role = options["role"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            owner = cursor.fetchone()[0]
            if role == owner:
                raise CommandError(
                    f"{role} runs the migrations and owns the tables; the application needs a "
                    "role of its own."
                )
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
            found = cursor.fetchone()
            if found is None:
                if not options["create"]:
                    raise CommandError(f"Role {role} does not exist; pass --create.")
                self._create(cursor, role, options["password_env"])
            elif found[0]:
                raise CommandError(f"Role {role} is a superuser; it could rewrite the audit log.")
            self._grant(cursor, role)
        self.stdout.write(
            self.style.SUCCESS(f"Granted {role} its privileges; audit tables append-only.")
        )

    def _create(self, cursor, role: str, password_env: str) -> None:
        password = os.environ.get(password_env, "") if password_env else ""
        if password_env and not password:
            raise CommandError(f"{password_env} is empty.")
        statement = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
            sql.Identifier(role)
        )
        if password:
            statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
        cursor.execute(statement)

    def _grant(self, cursor, role: str) -> None:
        ident = sql.Identifier(role)
        cursor.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(connection.settings_dict["NAME"]), ident
            )
        )
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        cursor.execute(
            sql.SQL(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
            ).format(ident)
        )
        cursor.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident)
        )
        for table in APPEND_ONLY_TABLES:
            cursor.execute(
                sql.SQL(
                    "REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {} FROM {}"
                ).format(sql.Identifier(table), ident)
            )
