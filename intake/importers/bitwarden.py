"""Bitwarden and Vaultwarden exports: CSV (individual or organization vault) and
unencrypted JSON. Encrypted JSON is refused: the user exports again without encryption,
rather than Keyhold re-implementing Bitwarden's key derivation.

Only logins are credentials; secure notes, cards, identities and SSH keys become rows with
an error, so that the preview shows them and the user excludes them knowingly. Custom
fields, hidden ones included, and any further URLs are appended to the notes, which are
sealed like the password.
"""

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from intake.importers.base import (
    ImportedRow,
    ImportFormatError,
    finish_row,
    guess_credential_type,
    join_notes,
)
from intake.importers.csv_formats import Layout, cells_of, converted_rows, open_table, table_rows
from intake.importers.reading import NOT_UTF8, read_whole

BITWARDEN_CSV = Layout(
    key="bitwarden_csv",
    signature=frozenset({"type", "name", "login_username", "login_password"}),
    columns={
        "folder": ("folder", "collections"),
        "name": ("name",),
        "notes": ("notes",),
        "username": ("login_username",),
        "secret": ("login_password",),
        "totp": ("login_totp",),
    },
)
ENCRYPTED = (
    "This Bitwarden export is encrypted. Export the vault again as JSON or CSV without "
    "encryption, upload that, and delete the file once the import is done."
)
NOT_BITWARDEN = "This JSON file is not a Bitwarden or Vaultwarden export."
_LOGIN = 1
_OTHER_ITEMS = {2: "a secure note", 3: "a payment card", 4: "an identity", 5: "an SSH key"}
_LINKED_FIELD = 3


def _not_a_login(what: str) -> str:
    return f"This is {what}, not a login: there is no password to import."


def _csv_row(row_number: int, record: dict[str, str]) -> ImportedRow:
    cells = cells_of(record, BITWARDEN_CSV)
    kind = record.get("type", "").strip().lower()
    if kind not in ("", "login"):
        what = "a secure note" if kind == "note" else "an item"
        return finish_row(
            ImportedRow(
                row_number=row_number,
                name=cells["name"],
                folder=cells["folder"],
                errors=[_not_a_login(what)],
            ),
            credential=False,
        )
    uris = [uri.strip() for uri in record.get("login_uri", "").split(",") if uri.strip()]
    fields = record.get("fields", "").replace("\r\n", "\n").split("\n")
    row = ImportedRow(row_number=row_number, url=uris[0] if uris else "", **cells)
    row.notes = join_notes(row.notes, [f"Other URL: {uri}" for uri in uris[1:]] + fields)
    row.credential_type = guess_credential_type(row.name)
    return finish_row(row)


def parse_bitwarden_csv(upload: BinaryIO) -> Iterator[ImportedRow]:
    """Bitwarden CSV: individual (folder, with or without reprompt) or organization
    (collections, which become the folder)."""
    header, records = open_table(upload, layout=BITWARDEN_CSV)
    return converted_rows(table_rows(header, records), _csv_row)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return ""


def _names(entries: Any) -> dict[str, str]:
    """{id: name} of the export's folders or collections."""
    if not isinstance(entries, list):
        return {}
    return {
        _text(entry.get("id")): _text(entry.get("name"))
        for entry in entries
        if isinstance(entry, dict) and _text(entry.get("id"))
    }


def _field_lines(fields: Any) -> list[str]:
    if not isinstance(fields, list):
        return []
    return [
        f"{_text(field.get('name'))}: {_text(field.get('value'))}"
        for field in fields
        if isinstance(field, dict) and field.get("type") != _LINKED_FIELD
    ]


def _json_row(
    position: int, item: Any, folders: dict[str, str], collections: dict[str, str]
) -> ImportedRow:
    if not isinstance(item, dict):
        return finish_row(
            ImportedRow(row_number=position, errors=["This item is not a Bitwarden entry."]),
            credential=False,
        )
    name = _text(item.get("name"))
    folder = folders.get(_text(item.get("folderId")), "")
    if not folder and isinstance(item.get("collectionIds"), list):
        folder = ", ".join(
            collections[key] for key in map(_text, item["collectionIds"]) if collections.get(key)
        )
    kind = item.get("type")
    if kind != _LOGIN:
        what = _OTHER_ITEMS.get(kind, "an item") if isinstance(kind, int) else "an item"
        return finish_row(
            ImportedRow(row_number=position, name=name, folder=folder, errors=[_not_a_login(what)]),
            credential=False,
        )
    login = item.get("login") if isinstance(item.get("login"), dict) else {}
    uris = login.get("uris") if isinstance(login.get("uris"), list) else []
    urls = [_text(uri.get("uri")).strip() for uri in uris if isinstance(uri, dict)]
    urls = [url for url in urls if url]
    row = ImportedRow(
        row_number=position,
        name=name,
        username=_text(login.get("username")),
        secret=_text(login.get("password")),
        url=urls[0] if urls else "",
        notes=join_notes(
            _text(item.get("notes")),
            [f"Other URL: {url}" for url in urls[1:]] + _field_lines(item.get("fields")),
        ),
        totp=_text(login.get("totp")),
        folder=folder,
    )
    row.credential_type = guess_credential_type(row.name)
    return finish_row(row)


def _json_rows(
    items: list[Any], folders: dict[str, str], collections: dict[str, str]
) -> Iterator[ImportedRow]:
    for position, item in enumerate(items, start=1):
        yield _json_row(position, item, folders, collections)


def parse_bitwarden_json(upload: BinaryIO) -> Iterator[ImportedRow]:
    """Bitwarden's unencrypted JSON export. It is read whole (JSON has no streaming reader in
    the standard library), so it is capped at WHOLE_FILE_MAX_BYTES; the rows are still
    produced one at a time."""
    data = read_whole(upload, what="Bitwarden export")
    try:
        export = json.loads(data)
    except UnicodeDecodeError:
        raise ImportFormatError(NOT_UTF8.format(where="")) from None
    except json.JSONDecodeError as error:
        raise ImportFormatError(
            f"The JSON file is incomplete or damaged (at line {error.lineno}). "
            "Export it again and upload the new file."
        ) from None
    except RecursionError:
        raise ImportFormatError(NOT_BITWARDEN) from None
    if not isinstance(export, dict):
        raise ImportFormatError(NOT_BITWARDEN)
    if export.get("encrypted") is True or export.get("passwordProtected") is True:
        raise ImportFormatError(ENCRYPTED)
    if not isinstance(export.get("items"), list):
        raise ImportFormatError(NOT_BITWARDEN)
    return _json_rows(
        export["items"], _names(export.get("folders")), _names(export.get("collections"))
    )
