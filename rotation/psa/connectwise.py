"""ConnectWise Manage (REST 3.0): service tickets on a board.

Base URL is the site (``https://api-na.myconnectwise.net``); calls go to
``{site}/v4_6_release/apis/3.0``. Authentication is HTTP Basic with
``{company}+{public key}:{private key}`` plus the integration's ``clientId`` header.

- open: ``POST /service/tickets`` with ``summary`` (≤ 100 characters), ``board: {id}``,
  ``company: {id}`` and ``initialDescription``;
- note: ``POST /service/tickets/{id}/notes`` with ``text``;
- close: ``PATCH /service/tickets/{id}`` with the JSON-Patch
  ``[{"op": "replace", "path": "status/id", "value": <closed status id>}]``;
- find: ``GET /service/tickets?conditions=summary like "%<marker>%"``.

Callbacks carry ``x-content-signature`` = base64(HMAC-SHA256(key = SHA256(signing key),
message = raw body)). ConnectWise publishes the signing key at ``Metadata.key_url``;
Keyhold never fetches that URL (a forged payload could point it anywhere) and uses the
signing key the administrator configured instead.
"""

import base64
import hashlib
import hmac
import json

from rotation.psa.base import (
    CallbackEvent,
    Field,
    PsaAdapter,
    PsaError,
    header,
    hmac_equal,
    ticket_marker,
)

API_PATH = "/v4_6_release/apis/3.0"
SIGNATURE_HEADER = "x-content-signature"


def connectwise_signature(*, signing_key: str, raw_body: bytes) -> str:
    key = hashlib.sha256(signing_key.encode()).digest()
    return base64.b64encode(hmac.new(key, raw_body, hashlib.sha256).digest()).decode()


class ConnectWiseAdapter(PsaAdapter):
    kind = "connectwise"
    label = "ConnectWise Manage"
    settings_fields = (
        Field("company", "Login company id", "The company id you sign in to Manage with."),
        Field("client_id", "clientId", "The integration's clientId (a GUID)."),
        Field("board_id", "Service board id", integer=True),
        Field(
            "company_id",
            "Default company id",
            "For clients without a PSA company id of their own.",
            integer=True,
        ),
        Field("closed_status_id", "Closed status id", "Status that closes a ticket.", integer=True),
    )
    secret_fields = (
        Field("public_key", "API member public key"),
        Field("private_key", "API member private key"),
        Field("callback_signing_key", "Callback signing key", required=False),
    )

    def _url(self, path: str) -> str:
        return f"{self.base_url}{API_PATH}{path}"

    def _headers(self) -> dict[str, str]:
        login = (
            f"{self.setting('company')}+{self.secret('public_key')}:{self.secret('private_key')}"
        )
        return {
            "Authorization": "Basic " + base64.b64encode(login.encode()).decode(),
            "clientId": str(self.setting("client_id")),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def open_ticket(self, *, key: str, summary: str, description: str, company: str = "") -> str:
        # Manage names a company by its id or by its identifier (e.g. "ContosoDental").
        if company and not company.strip().isdigit():
            company_ref: dict = {"identifier": company.strip()}
        else:
            company_ref = {"id": self.company_number(company, "company_id")}
        body = {
            "summary": summary[:100],
            "board": {"id": int(self.setting("board_id"))},
            "company": company_ref,
            "initialDescription": description,
            "recordType": "ServiceTicket",
        }
        answer = self.request(
            "POST", self._url("/service/tickets"), json=body, headers=self._headers()
        )
        if not isinstance(answer, dict) or "id" not in answer:
            raise PsaError("ConnectWise Manage did not return the new ticket's id.")
        return str(answer["id"])

    def add_note(self, *, ticket_id: str, text: str) -> None:
        body = {"text": text, "detailDescriptionFlag": True, "internalAnalysisFlag": False}
        self.request(
            "POST",
            self._url(f"/service/tickets/{int(ticket_id)}/notes"),
            json=body,
            headers=self._headers(),
        )

    def close_ticket(self, *, ticket_id: str, text: str) -> None:
        if text:
            self.add_note(ticket_id=ticket_id, text=text)
        patch = [
            {"op": "replace", "path": "status/id", "value": int(self.setting("closed_status_id"))}
        ]
        self.request(
            "PATCH",
            self._url(f"/service/tickets/{int(ticket_id)}"),
            json=patch,
            headers=self._headers(),
        )

    def find_ticket_by_key(self, *, key: str) -> str | None:
        marker = ticket_marker(key)
        answer = self.request(
            "GET",
            self._url("/service/tickets"),
            params={"conditions": f'summary like "%{marker}%"', "fields": "id,summary"},
            headers=self._headers(),
        )
        for ticket in answer if isinstance(answer, list) else []:
            if marker in str(ticket.get("summary", "")):
                return str(ticket["id"])
        return None

    def callback_verify(self, *, raw_body: bytes, headers: dict[str, str]) -> bool:
        given = header(headers, SIGNATURE_HEADER)
        signing_key = self._secrets.get("callback_signing_key", "")
        if not given or not signing_key:
            return False
        expected = connectwise_signature(signing_key=signing_key, raw_body=raw_body)
        return hmac_equal(expected, given)

    def callback_event(self, *, raw_body: bytes) -> CallbackEvent | None:
        payload = json.loads(raw_body)
        if not isinstance(payload, dict) or payload.get("Type") not in ("Ticket", "ticket"):
            return None
        if not payload.get("ID"):
            return None
        entity = payload.get("Entity") or "{}"
        try:
            record = json.loads(entity) if isinstance(entity, str) else entity
        except json.JSONDecodeError:
            record = {}
        record = record if isinstance(record, dict) else {}
        status = record.get("status") if isinstance(record.get("status"), dict) else {}
        closed_status = self.settings.get("closed_status_id")
        closed = bool(record.get("closedFlag")) or (
            closed_status not in (None, "") and str(status.get("id")) == str(closed_status)
        )
        return CallbackEvent(ticket_id=str(payload["ID"]), closed=closed)
