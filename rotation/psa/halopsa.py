"""HaloPSA: OAuth2 client credentials, then tickets through /api/Tickets.

- token: ``POST {base}/auth/token`` (``?tenant=`` for hosted tenants) with the form fields
  ``grant_type=client_credentials``, ``client_id``, ``client_secret``, ``scope=all``; the
  bearer token is cached in process memory until a minute before it expires;
- open: ``POST {base}/api/Tickets`` with a JSON array of one ticket (summary, details,
  tickettype_id, client_id, site_id);
- note: ``POST {base}/api/Actions`` with ``[{"ticket_id", "note", "outcome"}]``;
- close: ``POST {base}/api/Tickets`` with ``[{"id": N, "status_id": <closed status>}]``;
- find: ``GET {base}/api/Tickets?search=<marker>``.

HaloPSA signs no callback: Keyhold's callback URL carries a long random token (checked by
the service), and the ticket is fetched again (``GET /api/Tickets/{id}``) before Keyhold
believes it is closed.
"""

import hashlib
import json
import threading
import time

from rotation.psa.base import (
    CallbackEvent,
    Field,
    PsaAdapter,
    PsaError,
    ticket_marker,
)

TOKEN_MARGIN_SECONDS = 60
_token_lock = threading.Lock()
# (base url, client id, secret digest) -> (bearer token, expires at monotonic time)
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}


def halo_token_cache_clear() -> None:
    with _token_lock:
        _tokens.clear()


class HaloPsaAdapter(PsaAdapter):
    kind = "halopsa"
    label = "HaloPSA"
    settings_fields = (
        Field("tenant", "Tenant name", "Hosted tenants only.", required=False),
        Field("client_id", "Client id"),
        Field("tickettype_id", "Ticket type id", integer=True),
        Field(
            "halo_client_id",
            "Default HaloPSA client (customer) id",
            "For clients without a PSA company id of their own.",
            integer=True,
        ),
        Field("site_id", "Site id", required=False, integer=True),
        Field("closed_status_id", "Closed status id", "Usually 9.", integer=True),
    )
    secret_fields = (Field("client_secret", "Client secret"),)

    def _cache_key(self) -> tuple[str, str, str]:
        digest = hashlib.sha256(self.secret("client_secret").encode()).hexdigest()
        return (self.base_url, str(self.setting("client_id")), digest)

    def _token(self) -> str:
        cache_key = self._cache_key()
        with _token_lock:
            cached = _tokens.get(cache_key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        params = {"tenant": self.settings["tenant"]} if self.settings.get("tenant") else None
        answer = self.request(
            "POST",
            f"{self.base_url}/auth/token",
            params=params,
            data={
                "grant_type": "client_credentials",
                "client_id": str(self.setting("client_id")),
                "client_secret": self.secret("client_secret"),
                "scope": "all",
            },
        )
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            raise PsaError("HaloPSA did not issue an access token.")
        lifetime = int(answer.get("expires_in") or 3600)
        with _token_lock:
            _tokens[cache_key] = (token, time.monotonic() + lifetime - TOKEN_MARGIN_SECONDS)
        return token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token()}", "Content-Type": "application/json"}

    def open_ticket(self, *, key: str, summary: str, description: str, company: str = "") -> str:
        ticket = {
            "summary": summary,
            "details": description,
            "tickettype_id": int(self.setting("tickettype_id")),
            "client_id": self.company_number(company, "halo_client_id"),
        }
        if self.settings.get("site_id") not in (None, ""):
            ticket["site_id"] = int(self.settings["site_id"])
        answer = self.request(
            "POST", f"{self.base_url}/api/Tickets", json=[ticket], headers=self._headers()
        )
        created = answer[0] if isinstance(answer, list) and answer else answer
        if not isinstance(created, dict) or "id" not in created:
            raise PsaError("HaloPSA did not return the new ticket's id.")
        return str(created["id"])

    def add_note(self, *, ticket_id: str, text: str) -> None:
        action = {"ticket_id": int(ticket_id), "note": text, "outcome": "Note"}
        self.request("POST", f"{self.base_url}/api/Actions", json=[action], headers=self._headers())

    def close_ticket(self, *, ticket_id: str, text: str) -> None:
        if text:
            self.add_note(ticket_id=ticket_id, text=text)
        update = {"id": int(ticket_id), "status_id": int(self.setting("closed_status_id"))}
        self.request("POST", f"{self.base_url}/api/Tickets", json=[update], headers=self._headers())

    def find_ticket_by_key(self, *, key: str) -> str | None:
        marker = ticket_marker(key)
        answer = self.request(
            "GET",
            f"{self.base_url}/api/Tickets",
            params={"search": marker},
            headers=self._headers(),
        )
        tickets = answer.get("tickets", []) if isinstance(answer, dict) else []
        for ticket in tickets:
            if marker in str(ticket.get("summary", "")):
                return str(ticket["id"])
        return None

    def ticket_closed(self, *, ticket_id: str) -> bool:
        answer = self.request(
            "GET", f"{self.base_url}/api/Tickets/{int(ticket_id)}", headers=self._headers()
        )
        status = answer.get("status_id") if isinstance(answer, dict) else None
        return str(status) == str(self.setting("closed_status_id"))

    def callback_verify(self, *, raw_body: bytes, headers: dict[str, str]) -> bool:
        # No signature exists; the path token (checked by the service) is the proof.
        return True

    def callback_event(self, *, raw_body: bytes) -> CallbackEvent | None:
        payload = json.loads(raw_body)
        ticket = payload.get("ticket") if isinstance(payload, dict) else None
        ticket = ticket if isinstance(ticket, dict) else payload
        if not isinstance(ticket, dict) or not ticket.get("id"):
            return None
        ticket_id = str(ticket["id"])
        # Never trust an unsigned body: ask HaloPSA itself.
        return CallbackEvent(ticket_id=ticket_id, closed=self.ticket_closed(ticket_id=ticket_id))
