"""Bulk inserts of many new rows: COPY on PostgreSQL, bulk_create on SQLite."""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model

BULK_CREATE_BATCH = 500


def bulk_insert(model: type[Model], objects: Sequence[Model]) -> None:
    """Insert new instances of `model`, primary keys already set, in the caller's transaction.

    Django's bulk_create builds a parameterised INSERT in Python value by value: about
    0.9 ms a row for an imported credential, most of a 50,000-row import's time (issue 9).
    COPY streams the same values, each prepared as bulk_create prepares it (the field's
    pre_save, then get_db_prep_save), several times faster. No library fits here:
    django-postgres-copy loads CSV files into tables, not model instances. A constraint
    violation is Django's IntegrityError, as with bulk_create.
    """
    if not objects:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects, batch_size=BULK_CREATE_BATCH)
        return
    from psycopg import sql

    fields = model._meta.concrete_fields
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(field.column) for field in fields),
    )
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(statement) as copy,
    ):
        for instance in objects:
            copy.write_row(
                [
                    field.get_db_prep_save(field.pre_save(instance, add=True), connection)
                    for field in fields
                ]
            )
    for instance in objects:
        instance._state.adding = False
        instance._state.db = connection.alias
