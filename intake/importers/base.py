"""What every importer shares: the row it yields, its file-level error, and the checks that
turn a vendor's cells into a row the import preview can show and the vault can take.

Values are never logged and never put in a message: every message here names a field or a
row, not its contents.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from django.views.decorators.debug import sensitive_variables

from config.errors import InvalidRequest
from vault.models import CredentialType

GENERIC_FIELDS: tuple[str, ...] = (
    "name",
    "username",
    "secret",
    "url",
    "notes",
    "totp",
    "folder",
    "client_name",
    "credential_type",
)

# Files whose libraries need them whole (JSON, KDBX) are refused above this size.
WHOLE_FILE_MAX_BYTES = 50 * 1024 * 1024

# The sizes the vault and the import preview (intake.ImportRow) store; a longer value is an
# error of its row, and is cut to the limit so that the row can still be shown.
LIMITS = {
    "name": 200,
    "username": 254,
    "url": 500,
    "folder": 500,
    "client_name": 200,
    "secret": 4096,
    "notes": 20000,
    "totp": 512,
}
_LABELS = {
    "name": "name",
    "username": "username",
    "url": "URL",
    "folder": "folder",
    "client_name": "client name",
    "secret": "password",
    "notes": "notes",
    "totp": "TOTP secret",
}

# The codes Keyhold shows (vault.services.history): 6 digits, 30 seconds, SHA-1, and a key
# of at least 10 bytes (16 base32 characters).
TOTP_DIGITS = "6"
TOTP_PERIOD = "30"
TOTP_ALGORITHM = "SHA1"
TOTP_MIN_BASE32_CHARS = 16
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

# Cells a spreadsheet would run as a formula (OWASP CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_ADMIN = r"[\s_-]*admin(?:istrator)?s?\b"
# Words in a type, category or name that say clearly what a credential is; first match wins,
# the most privileged meanings first. Anything else stays unknown ("").
_TYPE_WORDS = (
    (re.compile(rf"\b(?:domain|enterprise){_ADMIN}", re.IGNORECASE), CredentialType.DOMAIN_ADMIN),
    (re.compile(rf"\b(?:global|tenant){_ADMIN}", re.IGNORECASE), CredentialType.CLOUD_TENANT_ADMIN),
    (re.compile(r"\bfirewall\b", re.IGNORECASE), CredentialType.FIREWALL_ADMIN),
    (re.compile(rf"\blocal{_ADMIN}", re.IGNORECASE), CredentialType.LOCAL_ADMIN),
    (re.compile(r"\bservice[\s_-]*accounts?\b", re.IGNORECASE), CredentialType.SERVICE_ACCOUNT),
    (re.compile(r"\bapi\b", re.IGNORECASE), CredentialType.API_KEY),
)
_TYPE_NAMES = {
    **{value.lower(): value for value in CredentialType.values},
    **{str(label).lower(): value for value, label in CredentialType.choices},
}


class ImportFormatError(InvalidRequest):
    """The file as a whole cannot be read: wrong kind, encoding, password or shape.

    Raised by detect_format, csv_columns and parse, and also while iterating parse's rows
    (a decoding problem deep in a streamed file is found only when it is reached); the
    import must then discard what it has read. The message is plain words without values.
    """


@dataclass
class ImportedRow:
    """One credential read from an export, or the reason it cannot be imported.

    `row_number` is what the user finds the row by: in a CSV the spreadsheet row (the header
    is row 1 and empty lines count, so it matches Excel or LibreOffice even when a cell
    holds several lines); in JSON the position of the item; in KDBX the position of the
    entry. Every field fits LIMITS; `errors` says in plain words why the row cannot be
    imported as it is. The secret, notes and TOTP secret stay out of repr.
    """

    row_number: int
    name: str = ""
    username: str = ""
    secret: str = field(default="", repr=False)
    url: str = ""
    notes: str = field(default="", repr=False)
    totp: str = field(default="", repr=False)
    folder: str = ""
    client_name: str = ""
    credential_type: str = ""  # a vault CredentialType value or ""
    errors: list[str] = field(default_factory=list)


def is_formula(value: str) -> bool:
    """Whether a spreadsheet would run this cell as a formula: for the preview to flag and
    for CSV exports to neutralise. Importers keep such values as given."""
    return value.startswith(_FORMULA_STARTS)


def guess_credential_type(*texts: str) -> str:
    """The vault credential type that the texts (a vendor's type or category, then the name)
    state plainly, or "" when unsure: a guess must never lower a credential's tier."""
    for text in texts:
        exact = _TYPE_NAMES.get(text.strip().lower())
        if exact:
            return exact
    for pattern, credential_type in _TYPE_WORDS:
        if any(pattern.search(text) for text in texts):
            return credential_type.value
    return ""


@sensitive_variables("value", "text", "secret", "params")
def normalise_totp(value: str) -> tuple[str, str]:
    """A TOTP secret as the vault stores it, and an error ("" when fine).

    An otpauth:// link is kept as given when Keyhold can show its codes; a bare base32
    secret is upper-cased with spaces, dashes and padding removed.
    """
    text = value.strip()
    if not text:
        return "", ""
    if text.lower().startswith("otpauth://"):
        parts = urlsplit(text)
        kind = parts.netloc.lower()
        if kind == "hotp":
            return "", "The TOTP link is for counter-based (HOTP) codes, which are not supported."
        params = {key.lower(): values[0] for key, values in parse_qs(parts.query).items()}
        secret = params.get("secret", "")
        if kind != "totp" or not secret:
            return "", "The TOTP link is not a valid otpauth://totp/ link with a secret."
        problem = _base32_problem(re.sub(r"[\s-]", "", secret).upper().rstrip("="))
        if problem:
            return "", problem
        if (
            params.get("digits", TOTP_DIGITS) != TOTP_DIGITS
            or params.get("period", TOTP_PERIOD) != TOTP_PERIOD
            or params.get("algorithm", TOTP_ALGORITHM).upper() != TOTP_ALGORITHM
        ):
            return "", (
                "The TOTP link asks for codes other than 6 digits every 30 seconds with SHA-1, "
                "which Keyhold cannot show."
            )
        return text, ""
    secret = re.sub(r"[\s-]", "", text).upper().rstrip("=")
    problem = _base32_problem(secret)
    return ("", problem) if problem else (secret, "")


def _base32_problem(secret: str) -> str:
    if not secret or any(char not in _BASE32 for char in secret):
        return "The TOTP secret is not a base32 secret or an otpauth:// link."
    if len(secret) < TOTP_MIN_BASE32_CHARS:
        return "The TOTP secret is too short to generate codes."
    return ""


def join_notes(notes: str, extra: list[str]) -> str:
    """Notes followed by extra lines (custom fields, other URLs) after a blank line."""
    extra = [line for line in extra if line]
    if not extra:
        return notes
    return "\n".join([notes, "", *extra]) if notes else "\n".join(extra)


def _url_host(url: str) -> str:
    try:
        return urlsplit(url if "://" in url else f"//{url}").hostname or ""
    except ValueError:
        return ""


@sensitive_variables("row", "secret", "totp", "value")
def finish_row(row: ImportedRow, *, credential: bool = True) -> ImportedRow:
    """Tidy and check a row read from a file; `credential` False for a row already refused
    (not a login, wrong column count) so that only its labels are kept.

    Labels are stripped; secrets are kept exactly as given; notes get LF line endings. A row
    without a name takes its URL's host or its username as the name.
    """
    row.name = row.name.strip()
    row.username = row.username.strip()
    row.url = row.url.strip()
    row.folder = row.folder.strip()
    row.client_name = row.client_name.strip()
    row.notes = row.notes.replace("\r\n", "\n")
    if credential:
        if not row.name:
            row.name = _url_host(row.url) or row.username
        if not row.secret.strip():
            row.errors.append("There is no password.")
        if not row.name:
            row.errors.append("There is no name, username or URL to name this credential by.")
        totp, problem = normalise_totp(row.totp)
        row.totp = totp
        if problem:
            row.errors.append(problem)
    for name, limit in LIMITS.items():
        value = getattr(row, name)
        if len(value) > limit:
            row.errors.append(f"The {_LABELS[name]} is longer than {limit} characters.")
            setattr(row, name, value[:limit])
    if not credential:
        row.secret = row.notes = row.totp = ""
    return row
