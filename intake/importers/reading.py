"""Reading an upload: what kind of file it is, its text encoding, and its CSV records one at
a time, so that a large export is never held in memory.

Encoding rule: a byte order mark decides (UTF-8, UTF-16 or UTF-32); without one the file
must be UTF-8. Legacy code pages (Excel's "CSV" on Windows) are refused rather than
guessed: a wrong guess would import wrong passwords without anyone noticing.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import BinaryIO

from intake.importers.base import WHOLE_FILE_MAX_BYTES, ImportFormatError

SAMPLE_BYTES = 64 * 1024

NOT_UTF8 = (
    "The file is not UTF-8 text{where}. Save the export as UTF-8 (in Excel: Save As, "
    '"CSV UTF-8") and upload it again.'
)
NOT_TEXT = (
    "This is not a CSV, JSON or KeePass file, or it is UTF-16 text without a byte order "
    "mark. Save the export as UTF-8 and upload it again."
)
EMPTY = "The file is empty."

KDBX_MAGIC = (b"\x03\xd9\xa2\x9a\x66\xfb\x4b\xb5", b"\x03\xd9\xa2\x9a\x67\xfb\x4b\xb5")
KDB_MAGIC = b"\x03\xd9\xa2\x9a\x65\xfb\x4b\xb5"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_OTHER_FILES = (
    (b"\x89PNG", "This is an image, not a password export."),
    (b"\xff\xd8\xff", "This is an image, not a password export."),
    (b"GIF8", "This is an image, not a password export."),
    (b"%PDF", "This is a PDF, not a password export."),
    (b"\x1f\x8b", "This is a compressed file; extract it and upload the export inside."),
)
_ZIP_MAGIC = b"PK\x03\x04"
DELIMITERS = (",", ";", "\t")


class _Borrowed(io.RawIOBase):
    """The upload seen through a reader that never closes it: a TextIOWrapper closes its
    buffer when collected, and the caller still owns the upload."""

    def __init__(self, upload: BinaryIO):
        self._upload = upload

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._upload.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_sample(upload: BinaryIO) -> bytes:
    """The first bytes of the upload; the upload is rewound."""
    upload.seek(0)
    head = upload.read(SAMPLE_BYTES)
    upload.seek(0)
    return head


def refuse_other_files(head: bytes, *, filename: str = "") -> None:
    """Raise a plain refusal for files that are clearly not an export we read."""
    if not head.strip():
        raise ImportFormatError(EMPTY)
    if head.startswith(KDB_MAGIC):
        raise ImportFormatError(
            "This is a KeePass 1 (.kdb) database. Open it in KeePass 2 or KeePassXC and save "
            "it as a .kdbx database, or export it as CSV."
        )
    if head.startswith(_ZIP_MAGIC):
        name = filename.lower()
        if name.endswith((".xlsx", ".xls", ".ods")):
            raise ImportFormatError(
                'This is a spreadsheet workbook. Save it as "CSV UTF-8" and upload the CSV.'
            )
        if name.endswith(".1pux"):
            raise ImportFormatError(
                "1Password's .1pux export is not supported. Export the vault as CSV instead."
            )
        raise ImportFormatError(
            "This is a zip archive. Extract it and upload the export inside (an IT Glue "
            "export holds passwords.csv)."
        )
    for magic, message in _OTHER_FILES:
        if head.startswith(magic):
            raise ImportFormatError(message)


def is_kdbx(head: bytes) -> bool:
    return head.startswith(KDBX_MAGIC)


def text_encoding(head: bytes) -> str:
    """The encoding of a text upload from its first bytes, or ImportFormatError."""
    encoding = next((name for bom, name in _BOMS if head.startswith(bom)), "utf-8")
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        if b"\x00" in head:
            raise ImportFormatError(NOT_TEXT) from None
        raise ImportFormatError(NOT_UTF8.format(where="")) from None
    if "\x00" in text:
        raise ImportFormatError(NOT_TEXT)
    return encoding


def text_head(upload: BinaryIO, *, filename: str = "") -> tuple[str, str]:
    """(encoding, decoded start) of a text upload; refuses non-text and undecodable files.
    The upload is rewound."""
    head = read_sample(upload)
    refuse_other_files(head, filename=filename)
    if is_kdbx(head):
        raise ImportFormatError("This is a KeePass database, not a CSV or JSON file.")
    encoding = text_encoding(head)
    return encoding, codecs.getincrementaldecoder(encoding)(errors="ignore").decode(head)


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon (Excel in many European locales) or tab, from the first line."""
    first_line = re.sub(r'"[^"]*"', "", text.lstrip("\ufeff")).split("\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def first_record(text: str) -> list[str]:
    """The first non-empty CSV record of a decoded sample, or [] when there is none."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    try:
        return next((cells for cells in reader if any(cell.strip() for cell in cells)), [])
    except csv.Error:
        return []


def csv_records(upload: BinaryIO) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, cells) for each non-empty record, streamed from the upload.

    Empty lines and rows of empty cells are skipped but counted. A decoding problem or broken
    quoting deep in the file raises ImportFormatError when it is reached.
    """
    encoding, sample = text_head(upload)
    delimiter = sniff_delimiter(sample)
    text = io.TextIOWrapper(
        io.BufferedReader(_Borrowed(upload)), encoding=encoding, errors="strict", newline=""
    )
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    row_number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            # Text is decoded a chunk ahead of the rows, so the bad byte is here or later.
            where = f" (at row {row_number + 1} or later)"
            raise ImportFormatError(NOT_UTF8.format(where=where)) from None
        except csv.Error:
            raise ImportFormatError(
                f"Row {row_number + 1} cannot be read as CSV: a quote is not closed, text "
                "follows a closing quote, or a cell is too long. Fix the row and upload the "
                "file again."
            ) from None
        row_number += 1
        if any(cell.strip() for cell in cells):
            yield row_number, cells


def read_whole(upload: BinaryIO, *, what: str) -> bytes:
    """The whole upload, for formats whose library needs it at once; refused above the cap."""
    upload.seek(0)
    data = upload.read(WHOLE_FILE_MAX_BYTES + 1)
    if len(data) > WHOLE_FILE_MAX_BYTES:
        raise ImportFormatError(
            f"The {what} is larger than {WHOLE_FILE_MAX_BYTES // (1024 * 1024)} MB. Export "
            "it as CSV, or in parts, and upload those."
        )
    if not data.strip():
        raise ImportFormatError(EMPTY)
    return data
