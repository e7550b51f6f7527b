"""KeePass and KeePassXC databases (KDBX 3 and 4) read with pykeepass.

pykeepass decrypts the whole database in memory, so the file is read whole and capped at
WHOLE_FILE_MAX_BYTES. The group path below the root becomes the folder; entries in the
recycle bin and old versions of entries are left out; custom string fields are appended to
the notes, which are sealed like the password.
"""

import io
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlencode

from django.views.decorators.debug import sensitive_variables
from pykeepass import PyKeePass
from pykeepass.exceptions import CredentialsError

from intake.importers.base import (
    ImportedRow,
    ImportFormatError,
    finish_row,
    guess_credential_type,
    join_notes,
)
from intake.importers.reading import KDB_MAGIC, is_kdbx, read_whole

WRONG_KEY = "The password or key file is wrong."
KEY_MISSING = "Enter the master password of the KeePass database."
UNREADABLE = "The KeePass database is damaged or of a version that cannot be read."

# Where KeePass 2 (TimeOtp-*) and older KeePassXC (TOTP Seed) keep a TOTP secret.
_KEEPASS_OTP = "TimeOtp-Secret-Base32"
_KEEPASS_OTP_PARAMETERS = {
    "TimeOtp-Length": "digits",
    "TimeOtp-Period": "period",
    "TimeOtp-Algorithm": "algorithm",
}
_KEEPASSXC_OTP = "TOTP Seed"
_OTP_FIELDS = frozenset(
    {_KEEPASS_OTP, _KEEPASSXC_OTP, "TOTP Settings", "TimeOtp-Secret", "TimeOtp-Secret-Hex"}
    | set(_KEEPASS_OTP_PARAMETERS)
)


@sensitive_variables("password", "data")
def parse_keepass_kdbx(upload: BinaryIO, *, password: str | None) -> Iterator[ImportedRow]:
    """The entries of a KDBX database opened with its master password (key files are not
    supported); a wrong password is an ImportFormatError raised here, before any row."""
    if not password:
        raise ImportFormatError(KEY_MISSING)
    data = read_whole(upload, what="KeePass database")
    if data.startswith(KDB_MAGIC) or not is_kdbx(data):
        raise ImportFormatError("This is not a KeePass 2 (.kdbx) database.")
    try:
        database = PyKeePass(io.BytesIO(data), password=password)
    except CredentialsError:
        raise ImportFormatError(WRONG_KEY) from None
    except Exception:
        # The parser's own errors may quote the file's bytes; none of it is passed on.
        raise ImportFormatError(UNREADABLE) from None
    return _rows(database)


def _recycle_bin(database: PyKeePass) -> Any:
    try:
        group = database.recyclebin_group
    except Exception:  # a database without a recycle bin has no valid RecycleBinUUID
        return None
    return group.uuid if group is not None else None


def _in_group(group: Any, uuid: Any) -> bool:
    while group is not None:
        if group.uuid == uuid:
            return True
        group = group.parentgroup
    return False


def _rows(database: PyKeePass) -> Iterator[ImportedRow]:
    recycle_bin = _recycle_bin(database)
    position = 0
    for entry in database.entries:
        if recycle_bin is not None and _in_group(entry.group, recycle_bin):
            continue
        position += 1
        yield _entry_row(position, entry)


@sensitive_variables("custom", "secret", "parameters")
def _totp(entry: Any, custom: dict[str, str]) -> str:
    if entry.otp:
        return entry.otp
    secret = custom.get(_KEEPASS_OTP) or custom.get(_KEEPASSXC_OTP) or ""
    parameters = {
        name: custom[field] for field, name in _KEEPASS_OTP_PARAMETERS.items() if custom.get(field)
    }
    if secret and parameters:
        # KeePass 2 keeps the code's shape beside the secret; as a link it is checked.
        parameters["algorithm"] = (
            parameters.get("algorithm", "").replace("HMAC-", "").replace("-", "")
        )
        parameters = {name: value for name, value in parameters.items() if value}
        return f"otpauth://totp/?{urlencode({'secret': secret, **parameters})}"
    return secret


@sensitive_variables("custom", "row")
def _entry_row(position: int, entry: Any) -> ImportedRow:
    custom = {name: value or "" for name, value in entry.custom_properties.items()}
    extra = [
        f"{name}: {value}" for name, value in custom.items() if value and name not in _OTP_FIELDS
    ]
    row = ImportedRow(
        row_number=position,
        name=entry.title or "",
        username=entry.username or "",
        secret=entry.password or "",
        url=entry.url or "",
        notes=join_notes(entry.notes or "", extra),
        totp=_totp(entry, custom),
        folder="/".join(name for name in entry.group.path if name),
    )
    row.credential_type = guess_credential_type(row.name)
    return finish_row(row)
