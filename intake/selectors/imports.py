"""Reads of a client's imports: the history, one import, and its preview rows page by page.

The caller reached `client` through tenants.selectors.client_get_for_user; the batch reads
also start from the actor's own clients, so a wrong `client` can never widen them. No read
returns a sealed value: rows say only whether they have a secret, notes or a TOTP seed.
"""

import uuid
from dataclasses import dataclass, field
from typing import BinaryIO

from django.core.paginator import Page, Paginator
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet

from accounts.models import User
from config.errors import NotFound
from intake.importers import csv_columns, detect_format, is_formula
from intake.models import ImportBatch, ImportRow
from tenants.models import AccessLevel, Client
from vault.models import CredentialType, PrivilegeTier, privilege_tier_for

PAGE_SIZE = 100
_FORMULA_FIELDS = (("name", "name"), ("username", "username"), ("url", "URL"), ("folder", "folder"))


def import_batch_list_for_client(*, actor: User, client: Client) -> QuerySet[ImportBatch]:
    """The client's imports, newest first, with who started and finished them."""
    return (
        ImportBatch.objects.filter(
            client_id=client.pk, client__in=Client.objects.for_user(actor, AccessLevel.VIEW)
        )
        .select_related("created_by", "finished_by")
        .order_by("-created_at")
    )


def import_batch_get(*, actor: User, client: Client, batch_id: uuid.UUID | str) -> ImportBatch:
    """One import of the client; NotFound when missing or another client's."""
    batch = (
        ImportBatch.objects.filter(
            client_id=client.pk,
            pk=batch_id,
            client__in=Client.objects.for_user(actor, AccessLevel.VIEW),
        )
        .select_related("client", "created_by", "finished_by")
        .first()
    )
    if batch is None:
        raise NotFound()
    return batch


def _row_warnings(row: ImportRow) -> list[str]:
    """What to point out about a row without refusing it: values that look like formulas."""
    return [
        f"The {label} starts like a spreadsheet formula; Keyhold keeps it as text."
        for attribute, label in _FORMULA_FIELDS
        if is_formula(getattr(row, attribute))
    ]


def import_row_page(
    *, actor: User, batch: ImportBatch, page: int | str | None, errors_only: bool = False
) -> Page:
    """One page of PAGE_SIZE preview rows in two queries, each row with its warnings and tier."""
    rows = (
        ImportRow.objects.filter(batch_id=batch.pk)
        .defer("secret", "notes", "totp_seed")
        .annotate(
            has_secret=ExpressionWrapper(Q(secret__isnull=False), output_field=BooleanField()),
            has_notes=ExpressionWrapper(Q(notes__isnull=False), output_field=BooleanField()),
            has_totp=ExpressionWrapper(Q(totp_seed__isnull=False), output_field=BooleanField()),
        )
        .order_by("row_number")
    )
    if errors_only:
        rows = rows.exclude(errors=[])
    result = Paginator(rows, PAGE_SIZE).get_page(page)
    result.object_list = list(result.object_list)
    labels = dict(CredentialType.choices)
    for row in result.object_list:
        credential_type = row.credential_type or CredentialType.OTHER
        row.warnings = _row_warnings(row)
        row.type_label = labels.get(credential_type, credential_type)
        row.high_privilege = privilege_tier_for(credential_type) == PrivilegeTier.HIGH
    return result


@dataclass(frozen=True)
class ImportProgress:
    """Rows of an import by state, for its page."""

    excluded: int
    blocking: int
    imported: int


def import_progress(*, actor: User, batch: ImportBatch) -> ImportProgress:
    """How many rows are excluded, block the confirm (an error, not excluded), are imported."""
    counts = ImportRow.objects.filter(batch_id=batch.pk).aggregate(
        excluded_rows=Count("pk", filter=Q(excluded=True)),
        blocking_rows=Count(
            "pk", filter=Q(excluded=False, credential__isnull=True) & ~Q(errors=[])
        ),
        imported_rows=Count("pk", filter=Q(credential__isnull=False)),
    )
    return ImportProgress(
        excluded=counts["excluded_rows"],
        blocking=counts["blocking_rows"],
        imported=counts["imported_rows"],
    )


def import_rows_with_errors(*, actor: User, batch: ImportBatch) -> QuerySet[ImportRow]:
    """The rows of an import that have errors, by row number (number and messages only)."""
    return (
        ImportRow.objects.filter(batch_id=batch.pk)
        .exclude(errors=[])
        .only("id", "row_number", "errors", "excluded")
        .order_by("row_number")
    )


def import_file_kind(
    *, actor: User, upload: BinaryIO, filename: str, format: str = ""
) -> tuple[str, list[str]]:
    """The file's format (detected unless given) and, for a generic CSV, its column names.

    Reads only the start of the file; ImportFormatError when it cannot be read at all.
    """
    if not format:
        format = detect_format(upload, filename=filename)
    if format != "generic_csv":
        return format, []
    return format, csv_columns(upload)


@dataclass(frozen=True)
class ImportSummary:
    """What a preview found: counts, and each row's problems by row number (never values)."""

    format: str
    filename: str
    row_count: int
    error_count: int
    duplicate_count: int
    organizations: list[str]
    row_errors: list[tuple[int, list[str]]] = field(default_factory=list)


def import_summary(*, actor: User, batch: ImportBatch) -> ImportSummary:
    """The counts and row errors of a preview, for the shell (never values)."""
    return ImportSummary(
        format=batch.format,
        filename=batch.filename,
        row_count=batch.row_count,
        error_count=batch.error_count,
        duplicate_count=batch.duplicate_count,
        organizations=list(batch.mapping.get("organizations", [])),
        row_errors=[
            (row.row_number, list(row.errors))
            for row in import_rows_with_errors(actor=actor, batch=batch)
        ],
    )
