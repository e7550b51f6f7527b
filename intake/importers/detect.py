"""Which export an upload is: KDBX by its magic bytes, Bitwarden JSON by its keys, a CSV by
its header names (a table of vendor signatures), and Passportal's header-less export by its
literal Yes/No "Expires" column; any other CSV is generic and goes to column mapping."""

import re
from typing import BinaryIO

from intake.importers.base import ImportFormatError
from intake.importers.bitwarden import BITWARDEN_CSV, ENCRYPTED, NOT_BITWARDEN
from intake.importers.csv_formats import (
    ITGLUE,
    KEEPASS_CSV,
    KEEPASSXC_CSV,
    ONEPASSWORD_CSV,
    PASSPORTAL,
    header_key,
    open_table,
    passportal_has_header,
    passportal_order,
)
from intake.importers.reading import (
    first_record,
    is_kdbx,
    read_sample,
    refuse_other_files,
    text_head,
)

# Most specific first: KeePassXC's columns include 1Password's required ones.
CSV_LAYOUTS = (PASSPORTAL, ITGLUE, BITWARDEN_CSV, KEEPASSXC_CSV, ONEPASSWORD_CSV, KEEPASS_CSV)
_BITWARDEN_KEYS = re.compile(r'"(?:encrypted|items|folders|collections)"\s*:')
_ENCRYPTED = re.compile(r'"(?:encrypted|passwordProtected)"\s*:\s*true')


def detect_format(upload: BinaryIO, *, filename: str = "") -> str:
    """The FORMATS key of an upload, or ImportFormatError when it is not an export that can
    be read. Reads only the start of the file; rewinds the upload."""
    try:
        head = read_sample(upload)
        refuse_other_files(head, filename=filename)
        if is_kdbx(head):
            return "keepass_kdbx"
        text = text_head(upload, filename=filename)[1].lstrip("\ufeff \t\r\n")
        if text.startswith(("{", "[")):
            if _ENCRYPTED.search(text):
                raise ImportFormatError(ENCRYPTED)
            if text.startswith("{") and _BITWARDEN_KEYS.search(text):
                return "bitwarden_json"
            raise ImportFormatError(NOT_BITWARDEN)
        header = first_record(text)
        names = {header_key(name) for name in header}
        for layout in CSV_LAYOUTS:
            if layout.matches(names):
                return layout.key
        if not passportal_has_header(header) and passportal_order(header):
            return "passportal"
        return "generic_csv"
    finally:
        upload.seek(0)


def csv_columns(upload: BinaryIO) -> list[str]:
    """The header names of a CSV upload, as the column-mapping screen offers them (the first
    non-empty row is taken as the header); rewinds the upload."""
    if detect_format(upload) in ("bitwarden_json", "keepass_kdbx"):
        raise ImportFormatError("This file is not a CSV, so it has no columns to map.")
    try:
        header, _records = open_table(upload)
        return [name.strip().lstrip("\ufeff") for name in header]
    finally:
        upload.seek(0)
