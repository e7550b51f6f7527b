"""Parsers of previous providers' password exports (issue 6, item 4): pure functions over an
uploaded file, with no models and no database.

    kind = detect_format(upload, filename=name)
    for row in parse(upload, format=kind, password=..., mapping=..., has_header=...):
        ...  # an ImportedRow; row.errors lists why it cannot be imported as it is

CSV is streamed (one record at a time from a TextIOWrapper over the upload); Bitwarden JSON
and KDBX are read whole, because their libraries need that, and are capped at
WHOLE_FILE_MAX_BYTES. ImportFormatError is the file-level refusal, and may also come while
iterating (a bad byte deep in a streamed file). Parsers keep values as given: they are
sealed on arrival and rendered escaped; is_formula flags cells a spreadsheet would run.
"""

from collections.abc import Iterator
from typing import BinaryIO

from intake.importers.base import (
    GENERIC_FIELDS,
    LIMITS,
    WHOLE_FILE_MAX_BYTES,
    ImportedRow,
    ImportFormatError,
    guess_credential_type,
    is_formula,
    normalise_totp,
)
from intake.importers.bitwarden import parse_bitwarden_csv, parse_bitwarden_json
from intake.importers.csv_formats import (
    parse_itglue,
    parse_keepass_csv,
    parse_keepassxc_csv,
    parse_onepassword_csv,
    parse_passportal,
)
from intake.importers.detect import csv_columns, detect_format
from intake.importers.generic import parse_generic_csv
from intake.importers.keepass import parse_keepass_kdbx

FORMATS: dict[str, str] = {
    "itglue": "IT Glue passwords.csv",
    "passportal": "N-able Passportal passwords CSV",
    "bitwarden_csv": "Bitwarden or Vaultwarden CSV",
    "bitwarden_json": "Bitwarden or Vaultwarden JSON (unencrypted)",
    "keepass_csv": "KeePass CSV (1.x)",
    "keepassxc_csv": "KeePassXC CSV",
    "keepass_kdbx": "KeePass or KeePassXC database (.kdbx)",
    "onepassword_csv": "1Password 8 CSV",
    "generic_csv": "Other CSV (choose the columns)",
}

_PARSERS = {
    "itglue": parse_itglue,
    "bitwarden_csv": parse_bitwarden_csv,
    "bitwarden_json": parse_bitwarden_json,
    "keepass_csv": parse_keepass_csv,
    "keepassxc_csv": parse_keepassxc_csv,
    "onepassword_csv": parse_onepassword_csv,
}


def parse(
    upload: BinaryIO,
    *,
    format: str,
    mapping: dict[str, str] | None = None,
    password: str | None = None,
    has_header: bool | None = None,
) -> Iterator[ImportedRow]:
    """The rows of an upload in the given format, one at a time.

    `mapping` (generic_csv only): GENERIC_FIELDS key -> column name from csv_columns.
    `password` (keepass_kdbx only): the master password. `has_header` (passportal only):
    None decides by matching the first row against Passportal's column names. The header,
    the encoding, the KDBX password and the JSON shape are checked before this returns.
    """
    if format not in FORMATS:
        raise ImportFormatError("Choose one of the import formats offered.")
    if mapping and format != "generic_csv":
        raise ValueError("A column mapping is for generic_csv only.")
    upload.seek(0)
    if format == "generic_csv":
        return parse_generic_csv(upload, mapping=mapping)
    if format == "passportal":
        return parse_passportal(upload, has_header=has_header)
    if format == "keepass_kdbx":
        return parse_keepass_kdbx(upload, password=password)
    return _PARSERS[format](upload)


__all__ = [
    "FORMATS",
    "GENERIC_FIELDS",
    "LIMITS",
    "WHOLE_FILE_MAX_BYTES",
    "ImportFormatError",
    "ImportedRow",
    "csv_columns",
    "detect_format",
    "guess_credential_type",
    "is_formula",
    "normalise_totp",
    "parse",
]
