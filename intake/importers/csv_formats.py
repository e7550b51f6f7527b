"""Vendors' CSV exports, read by header names (never by position, except Passportal's
header-less export, which follows its import template's order).

Columns and their meaning: ../shared/reference/ecosystem.md section 3.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import BinaryIO

from intake.importers.base import (
    ImportedRow,
    ImportFormatError,
    finish_row,
    guess_credential_type,
)
from intake.importers.reading import EMPTY, csv_records


@dataclass(frozen=True)
class Layout:
    """A vendor's CSV: the header names that identify it (all of `signature` and, when
    given, one of `one_of`) and the columns each ImportedRow field is read from (the first
    one present wins). Names are normalised by header_key."""

    key: str
    signature: frozenset[str]
    columns: dict[str, tuple[str, ...]]
    one_of: frozenset[str] = field(default_factory=frozenset)

    def matches(self, names: set[str]) -> bool:
        return self.signature <= names and (not self.one_of or bool(self.one_of & names))


def header_key(name: str) -> str:
    """A header name compared without case, spaces, a stray BOM or a template's "*"."""
    return name.strip().lstrip("\ufeff").rstrip("*").strip().lower()


ITGLUE = Layout(
    key="itglue",
    signature=frozenset({"name", "password"}),
    one_of=frozenset({"password_category", "organization", "resource_type", "otp_secret"}),
    columns={
        "client_name": ("organization",),
        "name": ("name",),
        "username": ("username",),
        "secret": ("password",),
        "totp": ("otp_secret", "one_time_password"),
        "url": ("url",),
        "notes": ("notes",),
    },
)
PASSPORTAL = Layout(
    key="passportal",
    signature=frozenset({"credential", "username", "password"}),
    one_of=frozenset({"passportalid", "expires", "expires (yes/no)", "totp secret"}),
    columns={
        "client_name": ("client name",),
        "username": ("username",),
        "secret": ("password",),
        "name": ("description",),
        "notes": ("notes",),
        "url": ("url",),
        "folder": ("folder",),
        "totp": ("totp secret",),
    },
)
KEEPASS_CSV = Layout(
    key="keepass_csv",
    signature=frozenset({"account", "login name", "password"}),
    columns={
        "name": ("account",),
        "username": ("login name",),
        "secret": ("password",),
        "url": ("web site",),
        "notes": ("comments",),
    },
)
KEEPASSXC_CSV = Layout(
    key="keepassxc_csv",
    signature=frozenset({"group", "title", "username", "password"}),
    columns={
        "folder": ("group",),
        "name": ("title",),
        "username": ("username",),
        "secret": ("password",),
        "url": ("url",),
        "notes": ("notes",),
        "totp": ("totp",),
    },
)
ONEPASSWORD_CSV = Layout(
    key="onepassword_csv",
    signature=frozenset({"title", "username", "password"}),
    one_of=frozenset({"otpauth", "archived", "favorite"}),
    columns={
        "name": ("title",),
        "url": ("url",),
        "username": ("username",),
        "secret": ("password",),
        "totp": ("otpauth",),
        "notes": ("notes",),
    },
)

# Passportal's import template order, used when the export has no header row; "My Vault"
# exports have no Client Name. Without "include TOTP secret" the last column is missing.
PASSPORTAL_CLIENT_ORDER = (
    "passportalid",
    "client name",
    "credential",
    "username",
    "password",
    "description",
    "expires",
    "notes",
    "url",
    "folder",
    "totp secret",
)
PASSPORTAL_VAULT_ORDER = tuple(name for name in PASSPORTAL_CLIENT_ORDER if name != "client name")
_PASSPORTAL_NAMES = frozenset(PASSPORTAL_CLIENT_ORDER) | {"expires (yes/no)"}
_YES_NO = frozenset({"yes", "no"})


def open_table(
    upload: BinaryIO, *, layout: Layout | None = None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header of a CSV upload and an iterator over its data records; the header must
    hold the layout's signature columns."""
    records = csv_records(upload)
    first = next(records, None)
    if first is None:
        raise ImportFormatError(EMPTY)
    header = first[1]
    if layout is not None:
        require_columns(header, layout)
    return header, records


def require_columns(header: list[str], layout: Layout) -> None:
    names = {header_key(name) for name in header}
    missing = sorted(layout.signature - names)
    if missing:
        raise ImportFormatError(
            f"The file has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}; "
            "it is not in the chosen format. Choose the right format, or map the columns."
        )


def table_rows(
    header: list[str], records: Iterable[tuple[int, list[str]]]
) -> Iterator[tuple[int, dict[str, str] | None, str]]:
    """(row number, {header key: cell}, problem) per record; the record is None and the
    problem set when the row's column count differs from the header's. Extra empty cells at
    the end of a row (spreadsheets pad rows) are ignored."""
    names = [header_key(name) for name in header]
    for row_number, cells in records:
        if len(cells) > len(names) and not any(cell.strip() for cell in cells[len(names) :]):
            cells = cells[: len(names)]
        if len(cells) != len(names):
            yield (
                row_number,
                None,
                f"This row has {len(cells)} columns; the header has {len(names)}.",
            )
            continue
        record: dict[str, str] = {}
        for name, cell in zip(names, cells, strict=True):
            record.setdefault(name, cell)
        yield row_number, record, ""


def column_count_error(row_number: int, problem: str) -> ImportedRow:
    """A row whose cells cannot be matched to columns: none of its values are kept, since a
    shifted password would otherwise land in a plain field such as the name."""
    return finish_row(ImportedRow(row_number=row_number, errors=[problem]), credential=False)


def cells_of(record: dict[str, str], layout: Layout) -> dict[str, str]:
    """The ImportedRow fields of a record, by the layout's columns."""
    return {
        name: next((record[column] for column in columns if column in record), "")
        for name, columns in layout.columns.items()
    }


Convert = Callable[[int, dict[str, str]], ImportedRow]


def _layout_rows(upload: BinaryIO, layout: Layout, convert: Convert) -> Iterator[ImportedRow]:
    header, records = open_table(upload, layout=layout)
    return converted_rows(table_rows(header, records), convert)


def converted_rows(
    rows: Iterable[tuple[int, dict[str, str] | None, str]], convert: Convert
) -> Iterator[ImportedRow]:
    """ImportedRows from table_rows, through a format's conversion of one record."""
    for row_number, record, problem in rows:
        if record is None:
            yield column_count_error(row_number, problem)
        else:
            yield convert(row_number, record)


def _itglue_row(row_number: int, record: dict[str, str]) -> ImportedRow:
    row = ImportedRow(row_number=row_number, **cells_of(record, ITGLUE))
    row.credential_type = guess_credential_type(record.get("password_category", ""), row.name)
    return finish_row(row)


def _passportal_row(row_number: int, record: dict[str, str]) -> ImportedRow:
    row = ImportedRow(row_number=row_number, **cells_of(record, PASSPORTAL))
    row.credential_type = guess_credential_type(record.get("credential", ""), row.name)
    return finish_row(row)


def _keepass_row(row_number: int, record: dict[str, str]) -> ImportedRow:
    row = ImportedRow(row_number=row_number, **cells_of(record, KEEPASS_CSV))
    row.credential_type = guess_credential_type(row.name)
    return finish_row(row)


def _keepassxc_row(row_number: int, record: dict[str, str]) -> ImportedRow:
    row = ImportedRow(row_number=row_number, **cells_of(record, KEEPASSXC_CSV))
    # The group path starts with the root group, which a KDBX import leaves out too.
    row.folder = row.folder.strip().partition("/")[2]
    row.credential_type = guess_credential_type(row.name)
    return finish_row(row)


def _onepassword_row(row_number: int, record: dict[str, str]) -> ImportedRow:
    row = ImportedRow(row_number=row_number, **cells_of(record, ONEPASSWORD_CSV))
    row.credential_type = guess_credential_type(row.name)
    return finish_row(row)


def parse_itglue(upload: BinaryIO) -> Iterator[ImportedRow]:
    """IT Glue passwords.csv: organization becomes the client name; the category and the
    name hint the type."""
    return _layout_rows(upload, ITGLUE, _itglue_row)


def parse_keepass_csv(upload: BinaryIO) -> Iterator[ImportedRow]:
    """KeePass 2's "KeePass CSV (1.x)" export: no folders and no TOTP."""
    return _layout_rows(upload, KEEPASS_CSV, _keepass_row)


def parse_keepassxc_csv(upload: BinaryIO) -> Iterator[ImportedRow]:
    """KeePassXC's CSV export: the group path below the root becomes the folder."""
    return _layout_rows(upload, KEEPASSXC_CSV, _keepassxc_row)


def parse_onepassword_csv(upload: BinaryIO) -> Iterator[ImportedRow]:
    """1Password 8's CSV export (logins and passwords only; archived items included)."""
    return _layout_rows(upload, ONEPASSWORD_CSV, _onepassword_row)


def passportal_has_header(cells: list[str]) -> bool:
    """Whether a first row is Passportal's header: at least three of its known names."""
    return len({header_key(cell) for cell in cells} & _PASSPORTAL_NAMES) >= 3


def passportal_order(cells: list[str]) -> tuple[str, ...] | None:
    """The template order a header-less Passportal row follows, told by where its literal
    Yes/No "Expires" cell is; None when the row fits neither template."""
    for order in (PASSPORTAL_CLIENT_ORDER, PASSPORTAL_VAULT_ORDER):
        expires = order.index("expires")
        if len(cells) in (len(order), len(order) - 1) and cells[expires].strip().lower() in _YES_NO:
            return order[: len(cells)]
    return None


def parse_passportal(upload: BinaryIO, *, has_header: bool | None = None) -> Iterator[ImportedRow]:
    """Passportal's password export, with or without its header row (None: decided by
    matching the first row against Passportal's column names). Without a header the import
    template's order is used, so the preview is where the user confirms the columns."""
    records = csv_records(upload)
    first = next(records, None)
    if first is None:
        raise ImportFormatError(EMPTY)
    if has_header is None:
        has_header = passportal_has_header(first[1])
    if has_header:
        require_columns(first[1], PASSPORTAL)
        return converted_rows(table_rows(first[1], records), _passportal_row)
    order = passportal_order(first[1]) or PASSPORTAL_CLIENT_ORDER
    return converted_rows(table_rows(list(order), chain([first], records)), _passportal_row)
