"""bulk_insert: COPY on PostgreSQL must write exactly what bulk_create writes."""

import pytest
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict

from config.bulk import bulk_insert
from intake.models import ImportBatch, ImportRow


def rows_for(batch: ImportBatch, *, start: int) -> list[ImportRow]:
    """Rows with every kind of value an import writes: text with tabs, quotes, backslashes
    and line breaks, bytes (sealed values), NULLs, JSON and booleans."""
    return [
        ImportRow(
            batch=batch,
            client=batch.client,
            row_number=start + n,
            name=f'Server\t{n} "admin" \\ back\nslash',
            username=f"admin{n}",
            url="https://srv.example/?a=1&b=2",
            credential_type="domain_admin" if n % 2 else "",
            secret=bytes(range(256)) if n % 2 else b"\x00\\\n\t",
            notes=None,
            totp_seed=b"" if n == 0 else None,
            errors=[{"field": "password", "message": 'Tab\there, quote " and ü'}] if n else [],
            duplicate_of=None if n % 3 else 7,
            excluded=bool(n % 2),
        )
        for n in range(6)
    ]


def stored(batch: ImportBatch, numbers: range) -> list[dict]:
    kept = []
    for row in ImportRow.objects.filter(batch=batch, row_number__in=numbers).order_by("row_number"):
        values = model_to_dict(row, exclude=["id", "row_number"])
        values.update(
            secret=bytes(row.secret) if row.secret is not None else None,
            totp_seed=bytes(row.totp_seed) if row.totp_seed is not None else None,
        )
        kept.append(values)
    return kept


@pytest.mark.django_db
def test_bulk_insert_writes_what_bulk_create_writes(client_a):
    batch = ImportBatch.objects.create(client=client_a, format="itglue", filename="p.csv")
    copied = rows_for(batch, start=0)
    bulk_insert(ImportRow, copied)
    ImportRow.objects.bulk_create(rows_for(batch, start=100))
    assert stored(batch, range(0, 6)) == stored(batch, range(100, 106))
    assert ImportRow.objects.filter(batch=batch).count() == 12
    assert all(not row._state.adding for row in copied)
    assert ImportRow.objects.get(pk=copied[1].pk).errors[0]["message"] == 'Tab\there, quote " and ü'


@pytest.mark.django_db
def test_bulk_insert_raises_integrity_error_and_writes_nothing(client_a):
    batch = ImportBatch.objects.create(client=client_a, format="itglue", filename="p.csv")
    bulk_insert(ImportRow, rows_for(batch, start=0))
    with pytest.raises(IntegrityError), transaction.atomic():
        # Row numbers 3 to 8: 3, 4 and 5 exist already (one row per number and batch).
        bulk_insert(ImportRow, rows_for(batch, start=3))
    assert ImportRow.objects.filter(batch=batch).count() == 6


@pytest.mark.django_db
def test_bulk_insert_of_nothing_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        bulk_insert(ImportRow, [])
