"""A local stand-in for the four PSAs, checking each documented call exactly.

One threaded HTTP server on 127.0.0.1 (port 0) answers the generic webhook, ConnectWise
Manage, Autotask (zone lookup and zone) and HaloPSA. It checks method, path, auth headers
and body shape of every call as ecosystem.md section 2 describes; a call that does not fit
is answered 400 and kept in `errors` (tests assert it stays empty). Fault injection:
`fail_next(n)` answers the next n calls 503; `lose_next_create()` creates the next ticket
and then drops the connection without answering (a lost response).
"""

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WEBHOOK_SECRET = "whsec-test-9f8e7d6c5b4a"
CW_COMPANY = "keyholdmsp"
CW_PUBLIC_KEY = "cwPublicKey123"
CW_PRIVATE_KEY = "cw-private-key-very-secret-456"
CW_CLIENT_ID = "3f0c5b2e-1111-4222-8333-944455556666"
CW_SIGNING_KEY = "cw-callback-signing-key-789"
AT_USERNAME = "keyhold-api@msp.example"
AT_INTEGRATION_CODE = "ATINTEGRATIONCODE0123456789"
AT_SECRET = "autotask-secret-abc-321"
AT_WEBHOOK_KEY = "autotask-webhook-secretkey-654"
HALO_CLIENT_ID = "halo-client-id-1"
HALO_CLIENT_SECRET = "halo-client-secret-xyz-987"

ALL_SECRETS = (
    WEBHOOK_SECRET,
    CW_PRIVATE_KEY,
    CW_SIGNING_KEY,
    AT_INTEGRATION_CODE,
    AT_SECRET,
    AT_WEBHOOK_KEY,
    HALO_CLIENT_SECRET,
)

CW_PREFIX = "/v4_6_release/apis/3.0/service/tickets"
AT_LOOKUP = "/atservicesrest/v1.0/zoneInformation"
AT_ZONE = "/zone5/atservicesrest/v1.0"


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Ticket:
    id: int
    summary: str
    vendor: str
    notes: list[str] = field(default_factory=list)
    status: object = None
    key: str = ""


class PsaServer:
    def __init__(self):
        self.calls: list[dict] = []
        self.errors: list[str] = []
        self.tickets: dict[int, Ticket] = {}
        self.halo_tokens: list[str] = []
        self._failures_left = 0
        self._lose_next_create = False
        self._lock = threading.Lock()
        self._next_id = 1000
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server._dispatch(self, raw)

            do_GET = do_POST = do_PATCH = do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    # --- Control -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "PsaServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail_next(self, n: int) -> None:
        with self._lock:
            self._failures_left = n

    def lose_next_create(self) -> None:
        with self._lock:
            self._lose_next_create = True

    def tickets_of(self, vendor: str) -> list[Ticket]:
        return [t for t in self.tickets.values() if t.vendor == vendor]

    def close_ticket(self, ticket_id: int, status) -> None:
        self.tickets[ticket_id].status = status

    # --- Dispatch ------------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        parts = urlsplit(handler.path)
        headers = {k: v for k, v in handler.headers.items()}
        call = {"method": handler.command, "path": parts.path, "headers": headers, "body": raw}
        with self._lock:
            self.calls.append(call)
            if self._failures_left > 0:
                self._failures_left -= 1
                return self._answer(handler, 503, {"message": "Service unavailable"})
        try:
            status, body, created = self._route(handler.command, parts, headers, raw)
        except Refused as refusal:
            self.errors.append(f"{handler.command} {parts.path}: {refusal}")
            return self._answer(handler, refusal.status, {"message": str(refusal)})
        with self._lock:
            lose = created and self._lose_next_create
            if lose:
                self._lose_next_create = False
        if lose:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return None
        return self._answer(handler, status, body)

    def _answer(self, handler, status: int, body) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _new_ticket(self, *, summary: str, vendor: str, key: str = "") -> Ticket:
        with self._lock:
            self._next_id += 1
            ticket = Ticket(id=self._next_id, summary=summary, vendor=vendor, key=key)
            self.tickets[ticket.id] = ticket
        return ticket

    def _route(self, method, parts, headers, raw):
        path = parts.path
        query = parse_qs(parts.query)
        if path == "/webhook":
            return self._webhook(method, headers, raw)
        if path.startswith(CW_PREFIX):
            return self._connectwise(method, path, query, headers, raw)
        if path == AT_LOOKUP:
            return self._autotask_lookup(method, query)
        if path.startswith(AT_ZONE):
            return self._autotask(method, path, headers, raw)
        if path == "/auth/token":
            return self._halo_token(method, headers, raw)
        if path.startswith("/api/"):
            return self._halo(method, path, query, headers, raw)
        raise Refused(404, f"no such endpoint {path}")

    # --- Generic webhook -----------------------------------------------------------------

    def _webhook(self, method, headers, raw):
        if method != "POST":
            raise Refused(405, "webhook takes POST")
        timestamp = headers.get("X-Keyhold-Timestamp", "")
        expected = (
            "sha256="
            + hmac.new(
                WEBHOOK_SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
            ).hexdigest()
        )
        if not hmac.compare_digest(expected, headers.get("X-Keyhold-Signature", "")):
            raise Refused(401, "bad webhook signature")
        body = json.loads(raw)
        key = headers.get("X-Keyhold-Idempotency-Key", "")
        if not key or key != body.get("idempotency_key"):
            raise Refused(400, "idempotency key missing or different from the body's")
        if headers.get("X-Keyhold-Event") != body.get("event"):
            raise Refused(400, "event header differs from the body's")
        event = body["event"]
        if event == "ticket.open":
            existing = [t for t in self.tickets.values() if t.vendor == "webhook" and t.key == key]
            if existing:
                return 200, {"ticket_id": str(existing[0].id)}, False
            ticket = self._new_ticket(summary=body["summary"], vendor="webhook", key=key)
            return 201, {"ticket_id": str(ticket.id)}, True
        ticket = self.tickets.get(int(body["ticket_id"]))
        if ticket is None:
            raise Refused(404, "unknown webhook ticket")
        if event == "ticket.note":
            ticket.notes.append(body["text"])
        elif event == "ticket.close":
            ticket.notes.append(body["text"])
            ticket.status = "closed"
        else:
            raise Refused(400, f"unknown event {event}")
        return 200, {"ok": True}, False

    # --- ConnectWise Manage --------------------------------------------------------------

    def _connectwise(self, method, path, query, headers, raw):
        login = f"{CW_COMPANY}+{CW_PUBLIC_KEY}:{CW_PRIVATE_KEY}"
        if headers.get("Authorization") != "Basic " + base64.b64encode(login.encode()).decode():
            raise Refused(401, "bad ConnectWise basic auth")
        if headers.get("clientId") != CW_CLIENT_ID:
            raise Refused(401, "missing or wrong clientId header")
        rest = path[len(CW_PREFIX) :]
        if rest == "" and method == "POST":
            body = json.loads(raw)
            summary = body.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 100:
                raise Refused(400, "summary missing or over 100 characters")
            if not isinstance(body.get("board", {}).get("id"), int):
                raise Refused(400, "board.id missing")
            company = body.get("company", {})
            named = isinstance(company.get("identifier"), str) and company["identifier"]
            if not isinstance(company.get("id"), int) and not named:
                raise Refused(400, "company.id or company.identifier missing")
            ticket = self._new_ticket(summary=summary, vendor="connectwise")
            return 201, {"id": ticket.id, "summary": ticket.summary}, True
        if rest == "" and method == "GET":
            conditions = query.get("conditions", [""])[0]
            match = re.fullmatch(r'summary like "%(.+)%"', conditions)
            if not match:
                raise Refused(400, f"unexpected conditions {conditions!r}")
            found = [
                {"id": t.id, "summary": t.summary}
                for t in self.tickets_of("connectwise")
                if match.group(1) in t.summary
            ]
            return 200, found, False
        note = re.fullmatch(r"/(\d+)/notes", rest)
        if note and method == "POST":
            body = json.loads(raw)
            if not isinstance(body.get("text"), str) or not body["text"]:
                raise Refused(400, "note text missing")
            self._ticket(int(note.group(1))).notes.append(body["text"])
            return 201, {"id": 1, "text": body["text"]}, False
        one = re.fullmatch(r"/(\d+)", rest)
        if one and method == "PATCH":
            body = json.loads(raw)
            if not (
                isinstance(body, list)
                and len(body) == 1
                and body[0].get("op") == "replace"
                and body[0].get("path") == "status/id"
                and isinstance(body[0].get("value"), int)
            ):
                raise Refused(400, "expected a JSON-Patch replace of status/id")
            ticket = self._ticket(int(one.group(1)))
            ticket.status = body[0]["value"]
            return 200, {"id": ticket.id, "status": {"id": ticket.status}}, False
        raise Refused(404, f"no ConnectWise endpoint {method} {path}")

    def _ticket(self, ticket_id: int) -> Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise Refused(404, f"no ticket {ticket_id}")
        return ticket

    # --- Autotask ------------------------------------------------------------------------

    def _autotask_lookup(self, method, query):
        if method != "GET" or query.get("user") != [AT_USERNAME]:
            raise Refused(400, "zone lookup is a GET with ?user=<API user>")
        return 200, {"zoneName": "Test zone", "url": f"{self.url}/zone5/atservicesrest/"}, False

    def _autotask(self, method, path, headers, raw):
        if (
            headers.get("ApiIntegrationCode") != AT_INTEGRATION_CODE
            or headers.get("UserName") != AT_USERNAME
            or headers.get("Secret") != AT_SECRET
        ):
            raise Refused(401, "bad Autotask auth headers")
        if headers.get("Content-Type") != "application/json":
            raise Refused(400, "Autotask wants Content-Type: application/json")
        rest = path[len(AT_ZONE) :]
        body = json.loads(raw) if raw else None
        if rest == "/Tickets" and method == "POST":
            for name in ("companyID", "title", "status", "priority", "queueID"):
                if name not in body:
                    raise Refused(400, f"Tickets needs {name}")
            ticket = self._new_ticket(summary=body["title"], vendor="autotask")
            ticket.status = body["status"]
            return 200, {"itemId": ticket.id}, True
        if rest == "/Tickets" and method == "PATCH":
            if not isinstance(body.get("id"), int) or "status" not in body:
                raise Refused(400, "PATCH Tickets needs id and status")
            self._ticket(body["id"]).status = body["status"]
            return 200, {"itemId": body["id"]}, False
        if rest == "/Tickets/query" and method == "POST":
            filters = body.get("filter")
            if not (
                isinstance(filters, list)
                and len(filters) == 1
                and filters[0].get("op") == "contains"
                and filters[0].get("field") == "title"
            ):
                raise Refused(400, "expected one contains filter on title")
            value = filters[0]["value"]
            items = [
                {"id": t.id, "title": t.summary}
                for t in self.tickets_of("autotask")
                if value in t.summary
            ]
            return 200, {"items": items, "pageDetails": {"count": len(items)}}, False
        note = re.fullmatch(r"/Tickets/(\d+)/Notes", rest)
        if note and method == "POST":
            if not body.get("description") or "noteType" not in body or "publish" not in body:
                raise Refused(400, "a note needs description, noteType and publish")
            self._ticket(int(note.group(1))).notes.append(body["description"])
            return 200, {"itemId": 1}, False
        raise Refused(404, f"no Autotask endpoint {method} {path}")

    # --- HaloPSA -------------------------------------------------------------------------

    def _halo_token(self, method, headers, raw):
        if method != "POST" or not headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            raise Refused(400, "token request is a form POST")
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if form != {
            "grant_type": "client_credentials",
            "client_id": HALO_CLIENT_ID,
            "client_secret": HALO_CLIENT_SECRET,
            "scope": "all",
        }:
            raise Refused(401, "bad client credentials")
        token = f"halo-token-{len(self.halo_tokens) + 1}"
        self.halo_tokens.append(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}, False

    def _halo(self, method, path, query, headers, raw):
        auth = headers.get("Authorization", "")
        if not self.halo_tokens or auth not in {f"Bearer {t}" for t in self.halo_tokens}:
            raise Refused(401, "bad bearer token")
        body = json.loads(raw) if raw else None
        if path == "/api/Tickets" and method == "POST":
            if not isinstance(body, list) or len(body) != 1:
                raise Refused(400, "Tickets takes a JSON array")
            item = body[0]
            if "id" in item:
                ticket = self._ticket(item["id"])
                if "status_id" in item:
                    ticket.status = item["status_id"]
                return 201, {"id": ticket.id, "status_id": ticket.status}, False
            for name in ("summary", "details", "tickettype_id", "client_id"):
                if name not in item:
                    raise Refused(400, f"a ticket needs {name}")
            ticket = self._new_ticket(summary=item["summary"], vendor="halopsa")
            ticket.status = 1
            return 201, {"id": ticket.id, "summary": ticket.summary}, True
        if path == "/api/Tickets" and method == "GET":
            search = query.get("search", [""])[0]
            found = [
                {"id": t.id, "summary": t.summary}
                for t in self.tickets_of("halopsa")
                if search and search in t.summary
            ]
            return 200, {"record_count": len(found), "tickets": found}, False
        one = re.fullmatch(r"/api/Tickets/(\d+)", path)
        if one and method == "GET":
            ticket = self._ticket(int(one.group(1)))
            return (
                200,
                {"id": ticket.id, "summary": ticket.summary, "status_id": ticket.status},
                False,
            )
        if path == "/api/Actions" and method == "POST":
            if not isinstance(body, list) or not body or "ticket_id" not in body[0]:
                raise Refused(400, "Actions takes a JSON array with ticket_id")
            self._ticket(body[0]["ticket_id"]).notes.append(body[0].get("note", ""))
            return 201, [{"id": 1}], False
        raise Refused(404, f"no HaloPSA endpoint {method} {path}")
