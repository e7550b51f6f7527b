"""The adapter interface every PSA implements, and the HTTP plumbing they share.

A ticket's summary carries a short marker derived from the idempotency key
("[KH-1a2b3c4d5e6f] Rotate ..."), so a retried "open" first finds the ticket an earlier,
lost attempt created instead of opening a second one. Ticket text holds names and due
dates, never a secret; error reasons name the PSA and the HTTP status, never a key.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

TIMEOUT_SECONDS = (5, 15)  # connect, read
SUMMARY_MAX = 100


class PsaError(Exception):
    """A PSA call failed; `reason` is safe to show to an administrator and to store."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason[:500]


@dataclass(frozen=True)
class Field:
    """A setting or secret an adapter needs, as the settings page shows it."""

    name: str
    label: str
    help: str = ""
    required: bool = True
    integer: bool = False


@dataclass(frozen=True)
class CallbackEvent:
    """What a verified PSA callback says: which ticket, and whether it is now closed."""

    ticket_id: str
    closed: bool


def ticket_marker(key: str) -> str:
    """The short, searchable form of an idempotency key that goes into the summary."""
    return "KH-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def ticket_summary(*, key: str, text: str, limit: int = SUMMARY_MAX) -> str:
    """ "[KH-…] text", cut to the PSA's limit without ever cutting the marker."""
    prefix = f"[{ticket_marker(key)}] "
    room = limit - len(prefix)
    body = text if len(text) <= room else text[: room - 1].rstrip() + "…"
    return prefix + body


def hmac_equal(expected: str | bytes, given: str | bytes) -> bool:
    left = expected.encode() if isinstance(expected, str) else expected
    right = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


def header(headers: dict[str, str], name: str) -> str:
    """A request header by name, whatever its case."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""


class PsaAdapter:
    """One PSA: open a ticket, add a note, close it, find it by its key, check callbacks."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    settings_fields: ClassVar[tuple[Field, ...]] = ()
    secret_fields: ClassVar[tuple[Field, ...]] = ()

    def __init__(self, *, base_url: str, settings: dict, secrets: dict):
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self._secrets = secrets
        self._http = requests.Session()

    def __repr__(self) -> str:  # never shows the secrets
        return f"<{type(self).__name__} {self.base_url}>"

    # --- The interface ---------------------------------------------------------------------

    def open_ticket(self, *, key: str, summary: str, description: str, company: str = "") -> str:
        """Open a ticket whose summary carries the key's marker; return its id.

        `company` is the client's id in the PSA (tenants Client.psa_company_id); without one
        the ticket goes to the connection's default company.
        """
        raise NotImplementedError

    def add_note(self, *, ticket_id: str, text: str) -> None:
        raise NotImplementedError

    def close_ticket(self, *, ticket_id: str, text: str) -> None:
        raise NotImplementedError

    def find_ticket_by_key(self, *, key: str) -> str | None:
        """The id of the ticket an earlier attempt opened for `key`, or None."""
        raise NotImplementedError

    def callback_verify(self, *, raw_body: bytes, headers: dict[str, str]) -> bool:
        """True when the callback proves it comes from the PSA (the path token aside)."""
        raise NotImplementedError

    def callback_event(self, *, raw_body: bytes) -> CallbackEvent | None:
        """What a verified callback says about a ticket; None when it is not about one."""
        raise NotImplementedError

    # --- Helpers ---------------------------------------------------------------------------

    def secret(self, name: str) -> str:
        value = self._secrets.get(name, "")
        if not value:
            raise PsaError(f"The {self.label} connection has no {name.replace('_', ' ')} set.")
        return value

    def company_number(self, company: str, default_setting: str) -> int:
        """The client's numeric PSA company id, or the connection's default company."""
        if not company:
            return int(self.setting(default_setting))
        if not company.strip().isdigit():
            raise PsaError(
                f"{self.label} needs a numeric company id; the client's PSA company id is "
                f"{company!r}. Correct it on the client's page."
            )
        return int(company)

    def setting(self, name: str, default: Any = None) -> Any:
        value = self.settings.get(name, default)
        if value in (None, ""):
            raise PsaError(f"The {self.label} connection has no {name.replace('_', ' ')} set.")
        return value

    def request(self, method: str, url: str, *, expect_json: bool = True, **kwargs) -> Any:
        """One HTTP call with timeouts; any failure becomes a PsaError with a plain reason."""
        host = urlsplit(url).netloc
        try:
            response = self._http.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
        except requests.Timeout:
            raise PsaError(f"{self.label} at {host} did not answer in time.") from None
        except requests.ConnectionError:
            raise PsaError(f"Could not reach {self.label} at {host}.") from None
        except requests.RequestException as error:
            raise PsaError(
                f"Calling {self.label} at {host} failed ({type(error).__name__})."
            ) from None
        if response.status_code in (401, 403):
            raise PsaError(
                f"{self.label} refused Keyhold's credentials ({response.status_code}); "
                "check the API keys on the PSA settings page."
            )
        if response.status_code >= 400:
            raise PsaError(
                f"{self.label} answered {response.status_code} {response.reason} "
                f"to {method} {urlsplit(url).path}."
            )
        if not expect_json:
            return None
        if not response.content:
            return {}
        try:
            return response.json()
        except json.JSONDecodeError:
            raise PsaError(f"{self.label} answered with something that is not JSON.") from None
