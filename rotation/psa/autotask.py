"""Autotask PSA (REST v1.0): tickets in a queue, reached through the zone lookup.

Base URL is the zone lookup service (``https://webservices.autotask.net/atservicesrest``):
``GET {base}/v1.0/zoneInformation?user={API user}`` answers ``{"url": "<zone>"}`` (cached
per adapter); every later call goes to ``{zone}v1.0/...`` with the headers
``ApiIntegrationCode``, ``UserName``, ``Secret`` and ``Content-Type: application/json``.

- open: ``POST {zone}v1.0/Tickets`` (companyID, title, description, status, priority,
  queueID, dueDateTime) answers ``{"itemId": N}``;
- note: ``POST {zone}v1.0/Tickets/{id}/Notes``;
- close: ``PATCH {zone}v1.0/Tickets`` with ``{"id": N, "status": <complete status>}``;
- find: ``POST {zone}v1.0/Tickets/query`` with a ``contains`` filter on ``title``.

Callbacks (TicketWebhooks) carry ``X-Hook-Signature`` = ``sha1=`` + base64(HMAC-SHA1 of the
raw body keyed by the webhook's SecretKey).
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

SIGNATURE_HEADER = "X-Hook-Signature"
NOTE_TYPE_TASK = 1
PUBLISH_INTERNAL = 2


def autotask_signature(*, secret_key: str, raw_body: bytes) -> str:
    digest = hmac.new(secret_key.encode(), raw_body, hashlib.sha1).digest()
    return "sha1=" + base64.b64encode(digest).decode()


class AutotaskAdapter(PsaAdapter):
    kind = "autotask"
    label = "Autotask"
    settings_fields = (
        Field("username", "API user (email)"),
        Field(
            "company_id",
            "Default company id",
            "For clients without a PSA company id of their own.",
            integer=True,
        ),
        Field("queue_id", "Queue id", integer=True),
        Field("status_new", "New status value", "Picklist value, usually 1.", integer=True),
        Field("status_complete", "Complete status value", "Usually 5.", integer=True),
        Field("priority", "Priority value", "Picklist value, e.g. 2.", integer=True),
    )
    secret_fields = (
        Field("integration_code", "API integration code"),
        Field("secret", "API user secret"),
        Field("webhook_secret_key", "Webhook SecretKey", required=False),
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._zone = ""

    def _headers(self) -> dict[str, str]:
        return {
            "ApiIntegrationCode": self.secret("integration_code"),
            "UserName": str(self.setting("username")),
            "Secret": self.secret("secret"),
            "Content-Type": "application/json",
        }

    def zone_url(self) -> str:
        if not self._zone:
            answer = self.request(
                "GET",
                f"{self.base_url}/v1.0/zoneInformation",
                params={"user": self.setting("username")},
            )
            url = answer.get("url") if isinstance(answer, dict) else None
            if not url:
                raise PsaError("Autotask's zone lookup did not name a zone for the API user.")
            self._zone = url if url.endswith("/") else url + "/"
        return self._zone

    def _url(self, path: str) -> str:
        return f"{self.zone_url()}v1.0/{path}"

    def open_ticket(self, *, key: str, summary: str, description: str, company: str = "") -> str:
        body = {
            "companyID": self.company_number(company, "company_id"),
            "title": summary[:255],
            "description": description[:8000],
            "status": int(self.setting("status_new", 1)),
            "priority": int(self.setting("priority", 2)),
            "queueID": int(self.setting("queue_id")),
        }
        answer = self.request("POST", self._url("Tickets"), json=body, headers=self._headers())
        if not isinstance(answer, dict) or "itemId" not in answer:
            raise PsaError("Autotask did not return the new ticket's itemId.")
        return str(answer["itemId"])

    def add_note(self, *, ticket_id: str, text: str) -> None:
        body = {
            "title": "Keyhold",
            "description": text[:3200],
            "noteType": NOTE_TYPE_TASK,
            "publish": PUBLISH_INTERNAL,
        }
        self.request(
            "POST",
            self._url(f"Tickets/{int(ticket_id)}/Notes"),
            json=body,
            headers=self._headers(),
        )

    def close_ticket(self, *, ticket_id: str, text: str) -> None:
        if text:
            self.add_note(ticket_id=ticket_id, text=text)
        body = {"id": int(ticket_id), "status": int(self.setting("status_complete", 5))}
        self.request("PATCH", self._url("Tickets"), json=body, headers=self._headers())

    def find_ticket_by_key(self, *, key: str) -> str | None:
        marker = ticket_marker(key)
        body = {"filter": [{"op": "contains", "field": "title", "value": marker}]}
        answer = self.request(
            "POST", self._url("Tickets/query"), json=body, headers=self._headers()
        )
        items = answer.get("items", []) if isinstance(answer, dict) else []
        for item in items:
            if marker in str(item.get("title", "")):
                return str(item["id"])
        return None

    def callback_verify(self, *, raw_body: bytes, headers: dict[str, str]) -> bool:
        given = header(headers, SIGNATURE_HEADER)
        secret_key = self._secrets.get("webhook_secret_key", "")
        if not given or not secret_key:
            return False
        expected = autotask_signature(secret_key=secret_key, raw_body=raw_body)
        return hmac_equal(expected, given if given.startswith("sha1=") else "sha1=" + given)

    def callback_event(self, *, raw_body: bytes) -> CallbackEvent | None:
        payload = json.loads(raw_body)
        if not isinstance(payload, dict) or str(payload.get("EntityType", "")).lower() != "ticket":
            return None
        if not payload.get("Id"):
            return None
        fields = payload.get("Fields") if isinstance(payload.get("Fields"), dict) else {}
        status = fields.get("Status", fields.get("status", payload.get("Status")))
        complete = self.settings.get("status_complete", 5)
        return CallbackEvent(
            ticket_id=str(payload["Id"]), closed=status is not None and str(status) == str(complete)
        )
