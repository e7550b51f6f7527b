"""A local stand-in for HashiCorp Vault's Transit secrets engine, over real HTTP.

It speaks the documented API for the calls Keyhold makes, with Vault's JSON shapes, status
codes and error texts (builtin/logical/transit and sdk/helper/keysutil in Vault's source):

    GET  /v1/<mount>/keys/<name>          read a key (404 with {"errors": []} when missing)
    POST /v1/<mount>/keys/<name>          create a key (type, derived)
    POST /v1/<mount>/keys/<name>/rotate   add a key version
    POST /v1/<mount>/encrypt/<name>       {"plaintext", "context"} -> {"ciphertext", "key_version"}
    POST /v1/<mount>/decrypt/<name>       {"ciphertext", "context"} -> {"plaintext"}
    POST /v1/<mount>/rewrap/<name>        {"ciphertext", "context"} -> {"ciphertext", "key_version"}

Every request needs the X-Vault-Token header (403 {"errors": ["permission denied"]}
otherwise); PUT is accepted wherever POST is, as in Vault. Successful answers use Vault's
envelope with the payload under "data"; failures are {"errors": [...]} with 400, 403 or 404.
Ciphertext is "vault:v<N>:" and base64, as in Vault, but the bytes after the prefix are a
vault/crypto.py sealed value rather than Vault's nonce|ciphertext|tag: clients treat them
as opaque. A derived key's per-context key comes from HKDF-SHA256 with the context as info,
as Vault's hkdf_sha256 KDF does.
"""

import base64
import binascii
import contextlib
import json
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vault import crypto

MISSING_CONTEXT = (
    "missing 'context' for key derivation; the key was created using a derived key, which "
    "means additional, per-request information must be included in order to perform "
    "operations with the key"
)
NAME = r"\w(?:[\w.@-]*\w)?"
ROUTES = [
    ("GET", re.compile(rf"/v1/(?P<mount>[\w-]+)/keys/(?P<name>{NAME})"), "read_key"),
    ("POST", re.compile(rf"/v1/(?P<mount>[\w-]+)/keys/(?P<name>{NAME})/rotate"), "rotate"),
    ("POST", re.compile(rf"/v1/(?P<mount>[\w-]+)/keys/(?P<name>{NAME})"), "create_key"),
    ("POST", re.compile(rf"/v1/(?P<mount>[\w-]+)/encrypt/(?P<name>{NAME})"), "encrypt"),
    ("POST", re.compile(rf"/v1/(?P<mount>[\w-]+)/decrypt/(?P<name>{NAME})"), "decrypt"),
    ("POST", re.compile(rf"/v1/(?P<mount>[\w-]+)/rewrap/(?P<name>{NAME})"), "rewrap"),
]


class TransitError(Exception):
    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = list(errors)


@dataclass
class TransitKey:
    name: str
    type: str = "aes256-gcm96"
    derived: bool = False
    versions: dict[int, bytes] = field(default_factory=dict)
    created: dict[int, int] = field(default_factory=dict)
    min_decryption_version: int = 1

    @property
    def latest_version(self) -> int:
        return max(self.versions)

    def add_version(self) -> None:
        version = len(self.versions) + 1
        self.versions[version] = crypto.generate_key()
        self.created[version] = int(time.time())

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "derived": self.derived,
            "deletion_allowed": False,
            "min_available_version": 0,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": 0,
            "latest_version": self.latest_version,
            "exportable": False,
            "allow_plaintext_backup": False,
            "supports_encryption": True,
            "supports_decryption": True,
            "supports_signing": False,
            "supports_derivation": True,
            "auto_rotate_period": 0,
            "imported_key": False,
            "keys": {str(v): t for v, t in self.created.items()},
        }
        if self.derived:
            data["kdf"] = "hkdf_sha256"
            data["convergent_encryption"] = False
        return data

    def encryption_key(self, version: int, context: bytes) -> bytes:
        if not self.derived:
            return self.versions[version]
        if not context:
            raise TransitError(400, MISSING_CONTEXT)
        # latin-1 maps every byte to one character, so distinct contexts stay distinct.
        return crypto.derive_key(self.versions[version], purpose=context.decode("latin-1"))

    def encrypt(self, plaintext: bytes, context: bytes) -> tuple[str, int]:
        version = self.latest_version
        sealed = crypto.seal(
            plaintext,
            key=self.encryption_key(version, context),
            key_version=version,
            associated_data=b"",
        )
        return f"vault:v{version}:{base64.b64encode(sealed).decode()}", version

    def decrypt(self, ciphertext: str, context: bytes) -> bytes:
        if not ciphertext.startswith("vault:v"):
            raise TransitError(400, "invalid ciphertext: no prefix")
        parts = ciphertext.removeprefix("vault:v").split(":", 1)
        if len(parts) != 2:
            raise TransitError(400, "invalid ciphertext: wrong number of fields")
        try:
            version = int(parts[0])
        except ValueError:
            raise TransitError(
                400, "invalid ciphertext: version number could not be decoded"
            ) from None
        version = max(version, 1)
        if version > self.latest_version:
            raise TransitError(400, "invalid ciphertext: version is too new")
        if version < self.min_decryption_version:
            raise TransitError(
                400, "ciphertext or signature version is disallowed by policy (too old)"
            )
        try:
            sealed = base64.b64decode(parts[1], validate=True)
        except binascii.Error:
            raise TransitError(400, "invalid ciphertext: could not decode base64") from None
        key = self.encryption_key(version, context)
        try:
            return crypto.open_sealed(sealed, key_for_version=lambda _: key, associated_data=b"")
        except crypto.DecryptionFailed:
            raise TransitError(400, "cipher: message authentication failed") from None


class TransitStandIn:
    """Start with start(); `url` and `token` are what a client needs; stop() closes the port."""

    def __init__(self, *, mount: str = "transit") -> None:
        self.mount = mount
        self.token = "hvs." + base64.urlsafe_b64encode(os.urandom(18)).decode()
        self.keys: dict[str, TransitKey] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "TransitStandIn":
        stand_in = self

        class Handler(_Handler):
            transit = stand_in

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Like a Vault that went down: the port closes and so do kept-alive connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None

    def handle(self, method: str, path: str, token: str | None, body: bytes) -> tuple[int, dict]:
        with self._lock:
            self.requests.append((method, path))
            try:
                return 200, self._envelope(*self._dispatch(method, path, token, body))
            except TransitError as exc:
                return exc.status, {"errors": exc.errors}

    def _dispatch(self, method: str, path: str, token: str | None, body: bytes):
        if token != self.token:
            raise TransitError(403, "permission denied")
        method = "POST" if method == "PUT" else method
        for route_method, pattern, action in ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method and match["mount"] == self.mount:
                request = _json_body(body) if method == "POST" else {}
                return getattr(self, f"_{action}")(match["name"], request)
        raise TransitError(
            404, f'no handler for route "{path.removeprefix("/v1/")}". route entry not found.'
        )

    def _read_key(self, name: str, request: dict) -> tuple[dict, list[str]]:
        if name not in self.keys:
            raise TransitError(404)
        return self.keys[name].describe(), []

    def _create_key(self, name: str, request: dict) -> tuple[dict, list[str]]:
        if name in self.keys:
            return self.keys[name].describe(), [f"key {name} already existed"]
        key_type = request.get("type", "aes256-gcm96")
        if key_type not in {"aes256-gcm96", "chacha20-poly1305"}:
            raise TransitError(400, f"unknown key type: {key_type}")
        key = TransitKey(name=name, type=key_type, derived=bool(request.get("derived")))
        key.add_version()
        self.keys[name] = key
        return key.describe(), []

    def _rotate(self, name: str, request: dict) -> tuple[dict, list[str]]:
        if name not in self.keys:
            raise TransitError(400, "key not found")
        self.keys[name].add_version()
        return self.keys[name].describe(), []

    def _encrypt(self, name: str, request: dict) -> tuple[dict, list[str]]:
        plaintext = _b64_field(request, "plaintext", "failed to base64-decode plaintext")
        context = _b64_field(request, "context", "failed to base64-decode context")
        if name not in self.keys:
            # Upsert, as Vault does for a token with the create capability.
            self.keys[name] = TransitKey(name=name, derived=bool(context))
            self.keys[name].add_version()
        ciphertext, version = self.keys[name].encrypt(plaintext, context)
        return {"ciphertext": ciphertext, "key_version": version}, []

    def _decrypt(self, name: str, request: dict) -> tuple[dict, list[str]]:
        ciphertext = request.get("ciphertext") or ""
        if not ciphertext:
            raise TransitError(400, "missing ciphertext to decrypt")
        context = _b64_field(request, "context", "failed to base64-decode context")
        if name not in self.keys:
            raise TransitError(400, "encryption key not found")
        plaintext = self.keys[name].decrypt(ciphertext, context)
        return {"plaintext": base64.b64encode(plaintext).decode()}, []

    def _rewrap(self, name: str, request: dict) -> tuple[dict, list[str]]:
        ciphertext = request.get("ciphertext") or ""
        if not ciphertext:
            raise TransitError(400, "missing ciphertext to decrypt")
        context = _b64_field(request, "context", "failed to base64-decode context")
        if name not in self.keys:
            raise TransitError(400, "encryption key not found")
        key = self.keys[name]
        new_ciphertext, version = key.encrypt(key.decrypt(ciphertext, context), context)
        return {"ciphertext": new_ciphertext, "key_version": version}, []

    def _envelope(self, data: dict, warnings: list[str]) -> dict:
        return {
            "request_id": str(uuid.uuid4()),
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": data,
            "wrap_info": None,
            "warnings": warnings or None,
            "auth": None,
            "mount_type": "transit",
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    transit: TransitStandIn
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment; otherwise Nagle plus delayed ACK adds 40 ms.
    disable_nagle_algorithm = True
    wbufsize = -1

    def do_GET(self) -> None:
        self._respond("GET")

    def do_POST(self) -> None:
        self._respond("POST")

    def do_PUT(self) -> None:
        self._respond("PUT")

    def _respond(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        status, document = self.transit.handle(
            method, path, self.headers.get("X-Vault-Token"), body
        )
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines would only clutter test output."""


def _json_body(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise TransitError(400, f"failed to parse JSON input: {exc}") from None
    if not isinstance(document, dict):
        raise TransitError(400, "failed to parse JSON input: not an object")
    return document


def _b64_field(request: dict, name: str, error: str) -> bytes:
    raw = request.get(name) or ""
    if not isinstance(raw, str):
        raise TransitError(400, error)
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise TransitError(400, error) from None
