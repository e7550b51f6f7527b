"""Generic signed webhook: Keyhold POSTs JSON events to one URL the MSP runs.

Every request (and every callback the MSP sends back) carries:

- ``X-Keyhold-Timestamp``: Unix time in seconds when the request was signed;
- ``X-Keyhold-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed by the shared secret, over
  ``timestamp + "." + raw body`` (the exact bytes sent, not re-serialised JSON);
- ``X-Keyhold-Event``: ``ticket.open``, ``ticket.note`` or ``ticket.close``;
- ``X-Keyhold-Idempotency-Key``: the same for every retry of one call; a receiver that
  sees a key twice answers with what it answered the first time.

Bodies: ``{"event", "idempotency_key", "ticket_id", "summary", "text"}``. The answer to
``ticket.open`` may name the receiver's ticket as ``{"ticket_id": "..."}``; otherwise the
idempotency key is the ticket id. A receiver refuses a timestamp more than five minutes off.

Callbacks to Keyhold use the same headers and secret with a body such as
``{"event": "ticket.closed", "ticket_id": "..."}``.
"""

import hashlib
import hmac
import json
import time

from rotation.psa.base import CallbackEvent, Field, PsaAdapter, PsaError, header, hmac_equal

TIMESTAMP_HEADER = "X-Keyhold-Timestamp"
SIGNATURE_HEADER = "X-Keyhold-Signature"
EVENT_HEADER = "X-Keyhold-Event"
IDEMPOTENCY_HEADER = "X-Keyhold-Idempotency-Key"
TOLERANCE_SECONDS = 300


def webhook_signature(*, secret: str, timestamp: str, raw_body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookAdapter(PsaAdapter):
    kind = "webhook"
    label = "The webhook receiver"
    settings_fields = ()
    secret_fields = (
        Field("signing_secret", "Shared signing secret", "Used for HMAC-SHA256 both ways."),
    )

    def _post(self, *, event: str, key: str, payload: dict) -> dict:
        raw = json.dumps({"event": event, "idempotency_key": key, **payload}).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: webhook_signature(
                secret=self.secret("signing_secret"), timestamp=timestamp, raw_body=raw
            ),
            EVENT_HEADER: event,
            IDEMPOTENCY_HEADER: key,
        }
        answer = self.request("POST", self.base_url, data=raw, headers=headers)
        return answer if isinstance(answer, dict) else {}

    def open_ticket(self, *, key: str, summary: str, description: str, company: str = "") -> str:
        answer = self._post(
            event="ticket.open",
            key=key,
            payload={"summary": summary, "text": description, "company": company},
        )
        return str(answer.get("ticket_id") or key)

    def add_note(self, *, ticket_id: str, text: str) -> None:
        self._post(
            event="ticket.note",
            key=f"{ticket_id}:note:{hashlib.sha256(text.encode()).hexdigest()[:16]}",
            payload={"ticket_id": ticket_id, "text": text},
        )

    def close_ticket(self, *, ticket_id: str, text: str) -> None:
        self._post(
            event="ticket.close",
            key=f"{ticket_id}:close",
            payload={"ticket_id": ticket_id, "text": text},
        )

    def find_ticket_by_key(self, *, key: str) -> str | None:
        # A webhook has no search: the receiver de-duplicates on the idempotency key.
        return None

    def callback_verify(self, *, raw_body: bytes, headers: dict[str, str]) -> bool:
        timestamp = header(headers, TIMESTAMP_HEADER)
        given = header(headers, SIGNATURE_HEADER)
        if not timestamp.isdigit() or not given:
            return False
        if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            return False
        try:
            secret = self.secret("signing_secret")
        except PsaError:
            return False
        expected = webhook_signature(secret=secret, timestamp=timestamp, raw_body=raw_body)
        return hmac_equal(expected, given)

    def callback_event(self, *, raw_body: bytes) -> CallbackEvent | None:
        payload = json.loads(raw_body)
        if not isinstance(payload, dict) or not payload.get("ticket_id"):
            return None
        return CallbackEvent(
            ticket_id=str(payload["ticket_id"]), closed=payload.get("event") == "ticket.closed"
        )
