"""Any other CSV with a header row, through the user's column mapping (GENERIC_FIELDS key ->
column name, as csv_columns returned it)."""

from collections.abc import Iterator
from typing import BinaryIO

from intake.importers.base import (
    GENERIC_FIELDS,
    ImportedRow,
    ImportFormatError,
    finish_row,
    guess_credential_type,
)
from intake.importers.csv_formats import converted_rows, header_key, open_table, table_rows


def _mapping_clean(mapping: dict[str, str] | None, header: list[str]) -> dict[str, str]:
    """{field: header key}; column names are not repeated in messages, since a file without
    a header row would make them values."""
    if not mapping or not mapping.get("secret"):
        raise ImportFormatError("Choose the column that holds the password.")
    unknown = sorted(set(mapping) - set(GENERIC_FIELDS))
    if unknown:
        raise ImportFormatError(f"{', '.join(unknown)} is not a field that can be imported.")
    names = {header_key(name) for name in header}
    chosen = {field: header_key(column) for field, column in mapping.items() if column}
    if any(column not in names for column in chosen.values()):
        raise ImportFormatError("A chosen column is not in the file; choose the columns again.")
    return chosen


def parse_generic_csv(upload: BinaryIO, *, mapping: dict[str, str] | None) -> Iterator[ImportedRow]:
    """A CSV read through the mapping; the type column, when mapped, is read like a vendor's
    category (a Keyhold type name, or words such as "Domain Admin")."""
    header, records = open_table(upload)
    chosen = _mapping_clean(mapping, header)

    def convert(row_number: int, record: dict[str, str]) -> ImportedRow:
        cells = {field: record.get(column, "") for field, column in chosen.items()}
        hint = cells.pop("credential_type", "")
        row = ImportedRow(row_number=row_number, **cells)
        row.credential_type = guess_credential_type(hint, row.name)
        return finish_row(row)

    return converted_rows(table_rows(header, records), convert)
