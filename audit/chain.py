"""The keyed hash chain over audit events.

entry_hash = HMAC-SHA256(chain key, "keyhold-audit-v1" NUL previous_hash NUL canonical event),
where the canonical event is sorted-key, compact JSON of every stored field except the two
hashes. The chain key is derived from the system key (vault/system_keys.py), which only the
key provider can unwrap, and its version is part of each event so old events stay verifiable.

Ordering: audit.record() takes a row lock on AuditChainHead, assigns sequence = head + 1 and
updates the head in the same transaction, so appends are serialised in commit order and
the sequence has no gaps. record() is the last write of a service's transaction, which keeps
the lock short and its order after every other lock (no deadlock cycles through the head).
"""

import hashlib
import hmac
import json
from typing import Any

from vault.system_keys import system_mac_key

CHAIN_PURPOSE = "keyhold:audit:chain"
DOMAIN = b"keyhold-audit-v1"
GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "sequence",
    "occurred_at",
    "actor_kind",
    "actor_user_id",
    "actor_label",
    "actor_ref",
    "action",
    "client_id",
    "client_label",
    "target_type",
    "target_id",
    "target_label",
    "ticket",
    "reason",
    "outcome",
    "ip_address",
    "user_agent",
    "request_id",
    "details",
    "key_version",
)


def _canonical_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat(timespec="microseconds")
    if value is not None and not isinstance(value, str | int | float | bool | dict | list):
        return str(value)
    return value


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    document = {name: _canonical_value(fields[name]) for name in HASHED_FIELDS}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(*, previous_hash: str, fields: dict[str, Any], key: bytes) -> str:
    message = DOMAIN + b"\x00" + previous_hash.encode() + b"\x00" + canonical_bytes(fields)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def chain_key(version: int | None = None) -> tuple[int, bytes]:
    """The chain key from the key provider; the vault's providers implement the same call."""
    return system_mac_key(purpose=CHAIN_PURPOSE, version=version)


def event_fields(event) -> dict[str, Any]:
    """The hashed fields of an AuditEvent, as stored."""
    return {name: getattr(event, name) for name in HASHED_FIELDS}
