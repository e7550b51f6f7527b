"""Envelope encryption of client secret fields under per-client, versioned data keys.

A field value is a vault/crypto.py sealed value (AES-256-GCM, fresh random 96-bit nonce,
the DEK version in its header) whose associated data binds it to (client, record type,
record id, field, DEK version): a ciphertext copied to another row, field or client does
not decrypt. The DEK is stored only wrapped (vault.models.ClientDataKey); unwrapped DEKs
are kept in this process's memory for KEYHOLD_DEK_CACHE_SECONDS (default 60), keyed by the
wrapped blob's digest so a rewrap or a destroyed key is seen on the next call. Never in
Django's cache backend: that may be Redis, and a plaintext key must not leave the process.

Every failure to produce plaintext (decryption failed, key missing or destroyed, provider
unreachable or refusing) is one error, SecretUnavailable, whose message reveals nothing.
"""

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.views.decorators.debug import sensitive_variables

from audit.models import Outcome
from audit.services import Target, record
from config.errors import KeyholdError
from tenants.models import Client
from vault import crypto
from vault.models import ClientDataKey
from vault.providers import (
    KeyProviderError,
    KeyProviderUnavailable,
    WrappedKey,
    provider_from_settings,
)

logger = logging.getLogger(__name__)

AD_PREFIX = b"keyhold-field/1\x00"


# --- Errors ------------------------------------------------------------------------------


class VaultError(KeyholdError):
    """A secret could not be sealed or opened; `message` is safe to show, `code` is for audit."""

    status = 503
    default_message = "The vault cannot do this right now."

    def __init__(self, code: str, message: str | None = None):
        super().__init__(message or self.default_message)
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r})"


class SecretUnavailable(VaultError):
    default_message = (
        "This secret cannot be decrypted right now. Nothing was shown or changed; "
        "the failure is in the audit log."
    )


class SecretNotSaved(VaultError):
    default_message = (
        "This secret cannot be encrypted right now. Nothing was saved; "
        "the failure is in the audit log."
    )


# --- The registry of encrypted fields ------------------------------------------------------


class EncryptedField(NamedTuple):
    """A model field holding sealed values: rotate_client_key re-encrypts every one of them.

    The model must have a `client` foreign key; the record id bound into the associated
    data is str(pk).
    """

    model_label: str
    field: str
    record_type: str


# Filled by the apps that own encrypted fields (the credentials work), in AppConfig.ready().
ENCRYPTED_FIELDS: list[EncryptedField] = []


def encrypted_field_register(spec: EncryptedField) -> None:
    if spec not in ENCRYPTED_FIELDS:
        ENCRYPTED_FIELDS.append(spec)


# --- Associated data ---------------------------------------------------------------------


def associated_data(
    *, client_id: uuid.UUID | str, record_type: str, record_id: str, field: str, key_version: int
) -> bytes:
    """Canonical, non-secret bytes naming where a value belongs: sorted JSON of the binding."""
    parts = {
        "client": str(client_id),
        "record_type": record_type,
        "record_id": record_id,
        "field": field,
    }
    for name, value in parts.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
    if not isinstance(key_version, int) or key_version < 1:
        raise ValueError("key_version must be a positive whole number")
    document = {**parts, "key_version": key_version}
    return AD_PREFIX + json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


# --- The in-process DEK cache --------------------------------------------------------------


@dataclass(frozen=True)
class DataKey:
    """An unwrapped DEK; its repr never shows the key."""

    version: int
    key: bytes

    def __repr__(self) -> str:
        return f"<DataKey v{self.version}>"

    def __iter__(self):
        # Unpacks as (version, key), the shape data_key_for_client promises.
        return iter((self.version, self.key))


_cache_lock = threading.Lock()
_cache: dict[tuple[str, int, bytes], tuple[float, DataKey]] = {}


def _cache_seconds() -> float:
    return float(settings.KEYHOLD_DEK_CACHE_SECONDS)


def _cache_get(entry: tuple[str, int, bytes]) -> DataKey | None:
    now = time.time()
    with _cache_lock:
        cached = _cache.get(entry)
        if cached is None:
            return None
        stored_at, data_key = cached
        # A clock that went backwards counts as expired too.
        if not 0 <= now - stored_at < _cache_seconds():
            del _cache[entry]
            return None
        return data_key


def _cache_put(entry: tuple[str, int, bytes], data_key: DataKey) -> None:
    if _cache_seconds() <= 0:
        return
    now = time.time()
    with _cache_lock:
        for other in [k for k, (at, _) in _cache.items() if not 0 <= now - at < _cache_seconds()]:
            del _cache[other]
        # An older blob of the same version (before a rewrap) is dropped at once.
        for other in [k for k in _cache if k[:2] == entry[:2] and k != entry]:
            del _cache[other]
        _cache[entry] = (now, data_key)


def data_key_cache_clear(*, client_id: uuid.UUID | str | None = None) -> None:
    """Forget unwrapped keys in this process (all, or one client's)."""
    with _cache_lock:
        for entry in [k for k in _cache if client_id is None or k[0] == str(client_id)]:
            del _cache[entry]


# --- Data keys -----------------------------------------------------------------------------


def wrap_context(*, client_id: uuid.UUID | str, version: int) -> dict[str, str]:
    """The provider context of a DEK: a wrapped key moved to another client or version fails."""
    return {"client": str(client_id), "purpose": "client-data-key", "version": str(version)}


def _wrapped(row: ClientDataKey) -> WrappedKey:
    return WrappedKey(
        provider=row.provider,
        key_id=row.provider_key_id,
        key_version=row.provider_key_version,
        ciphertext=bytes(row.wrapped_key),
    )


def _unwrapped(row: ClientDataKey, *, error: type[VaultError]) -> DataKey:
    if row.state == ClientDataKey.State.DESTROYED or not row.wrapped_key:
        raise error("data_key_destroyed")
    blob = bytes(row.wrapped_key)
    entry = (str(row.client_id), row.version, hashlib.sha256(blob).digest())
    cached = _cache_get(entry)
    if cached is not None:
        return cached
    try:
        key = provider_from_settings().unwrap(
            _wrapped(row), context=wrap_context(client_id=row.client_id, version=row.version)
        )
    except KeyProviderUnavailable:
        raise error("key_provider_unavailable") from None
    except KeyProviderError:
        raise error("data_key_unwrap_failed") from None
    data_key = DataKey(version=row.version, key=key)
    _cache_put(entry, data_key)
    return data_key


def data_key_for_client(*, client: Client, version: int | None = None) -> DataKey:
    """The client's DEK (active version unless one is named), as (version, key).

    Raises SecretUnavailable when the key is missing, destroyed or cannot be unwrapped.
    """
    keys = ClientDataKey.objects.filter(client_id=client.pk)
    if version is None:
        row = keys.filter(state=ClientDataKey.State.ACTIVE).first()
    else:
        row = keys.filter(version=version).first()
    if row is None:
        raise SecretUnavailable("data_key_missing")
    return _unwrapped(row, error=SecretUnavailable)


def client_data_key_create(*, actor: Any, client: Client) -> ClientDataKey:
    """Create the client's first DEK inside the caller's transaction (first use).

    No audit event of its own: it happens inside the service that seals the first secret,
    which records that service's one event; the row keeps created_at. Refused once the
    client has been crypto-shredded (it has keys, all destroyed).
    """
    _require_transaction("client_data_key_create")
    Client.objects.select_for_update().filter(pk=client.pk).first()
    existing = ClientDataKey.objects.filter(client_id=client.pk)
    active = existing.filter(state=ClientDataKey.State.ACTIVE).first()
    if active is not None:
        return active
    if existing.exists():
        raise SecretNotSaved(
            "client_shredded",
            "This client's keys were destroyed (crypto-shredded); nothing can be saved for it.",
        )
    return new_data_key(client_id=client.pk, version=1)


def new_data_key(*, client_id: uuid.UUID, version: int) -> ClientDataKey:
    """A fresh random DEK, wrapped by the provider's current KEK, saved as the active version."""
    key = crypto.generate_key()
    try:
        wrapped = provider_from_settings().wrap(
            key, context=wrap_context(client_id=client_id, version=version)
        )
    except KeyProviderUnavailable:
        raise SecretNotSaved("key_provider_unavailable") from None
    except KeyProviderError:
        raise SecretNotSaved("data_key_wrap_failed") from None
    row = ClientDataKey.objects.create(
        client_id=client_id,
        version=version,
        state=ClientDataKey.State.ACTIVE,
        wrapped_key=wrapped.ciphertext,
        provider=wrapped.provider,
        provider_key_id=wrapped.key_id,
        provider_key_version=wrapped.key_version,
    )
    blob = bytes(row.wrapped_key)
    _cache_put((str(client_id), version, hashlib.sha256(blob).digest()), DataKey(version, key))
    return row


def _require_transaction(name: str) -> None:
    if not connection.in_atomic_block:
        raise RuntimeError(f"{name}() runs inside the service's transaction")


# --- Fields ------------------------------------------------------------------------------


def field_encrypt(
    *, client: Client, record_type: str, record_id: str, field: str, plaintext: bytes
) -> bytes:
    """Seal a field value under the client's active DEK (created on first use).

    Runs inside the caller's transaction and locks the active key row until it commits, so
    a key rotation cannot retire and destroy that version while this value is being saved.
    """
    if not isinstance(plaintext, bytes):
        raise TypeError("field_encrypt takes bytes")
    return field_encrypt_many(
        client=client, record_type=record_type, values=[(record_id, field, plaintext)]
    )[0]


@sensitive_variables("values")
def field_encrypt_many(
    *, client: Client, record_type: str, values: Sequence[tuple[str, str, bytes]]
) -> list[bytes]:
    """Seal (record id, field, plaintext) values under the client's active DEK at once.

    field_encrypt's rules, paid once for a batch (an import): inside the caller's
    transaction, the active key row locked until it commits, the use limit checked for the
    whole batch, one counter update.
    """
    _require_transaction("field_encrypt")
    if not values:
        return []
    row = (
        ClientDataKey.objects.select_for_update()
        .filter(client_id=client.pk, state=ClientDataKey.State.ACTIVE)
        .first()
    )
    if row is None:
        row = client_data_key_create(actor=None, client=client)
    if row.version < min_data_key_version():
        # Sealed now, unreadable at once: refuse until the client key is rotated.
        raise SecretNotSaved(
            "data_key_version_retired",
            "This client's data key is older than the minimum key version. Nothing was saved; "
            "run `python manage.py rotate_client_key` for this client.",
        )
    if row.encryptions + len(values) > int(settings.KEYHOLD_DEK_MAX_ENCRYPTIONS):
        raise SecretNotSaved(
            "data_key_exhausted",
            "This client's data key has reached its use limit. Nothing was saved; run "
            "`python manage.py rotate_client_key` for this client.",
        )
    data_key = _unwrapped(row, error=SecretNotSaved)
    sealed = [
        crypto.seal(
            plaintext,
            key=data_key.key,
            key_version=row.version,
            associated_data=associated_data(
                client_id=client.pk,
                record_type=record_type,
                record_id=record_id,
                field=field,
                key_version=row.version,
            ),
        )
        for record_id, field, plaintext in values
    ]
    ClientDataKey.objects.filter(pk=row.pk).update(encryptions=F("encryptions") + len(values))
    return sealed


def sealed_version(sealed: bytes) -> int:
    """The DEK version a sealed value names in its header; DecryptionFailed if malformed."""
    return crypto.sealed_key_version(bytes(sealed))


def min_data_key_version() -> int:
    """The lowest client data-key version still used (KEYHOLD_MIN_DATA_KEY_VERSION, check C25)."""
    return int(settings.KEYHOLD_MIN_DATA_KEY_VERSION)


def field_decrypt(
    *, client: Client, record_type: str, record_id: str, field: str, sealed: bytes
) -> bytes:
    """Open a field value; SecretUnavailable (nothing revealed) on any failure.

    A value sealed under a data-key version below the configured minimum is refused before
    its key is unwrapped, like Vault Transit's min_decryption_version.
    """
    return field_decrypt_many(
        client=client, record_type=record_type, values=[(record_id, field, sealed)]
    )[0]


@sensitive_variables("keys", "opened")
def field_decrypt_many(
    *, client: Client, record_type: str, values: Sequence[tuple[str, str, bytes]]
) -> list[bytes]:
    """Open (record id, field, sealed) values, each data-key version unwrapped once;
    SecretUnavailable if any one fails (field_decrypt's rules)."""
    minimum = min_data_key_version()
    keys: dict[int, bytes] = {}
    opened = []
    for record_id, field, value in values:
        sealed = bytes(value)
        try:
            version = crypto.sealed_key_version(sealed)
            if version < 1:
                raise crypto.DecryptionFailed("no such key version")
            binding = associated_data(
                client_id=client.pk,
                record_type=record_type,
                record_id=record_id,
                field=field,
                key_version=version,
            )
        except crypto.DecryptionFailed:
            raise SecretUnavailable("decryption_failed") from None
        if version < minimum:
            raise SecretUnavailable("data_key_version_retired")
        if version not in keys:
            keys[version] = data_key_for_client(client=client, version=version).key
        try:
            opened.append(
                crypto.open_sealed(
                    sealed,
                    key_for_version=keys.__getitem__,
                    associated_data=binding,
                    min_key_version=minimum,
                )
            )
        except crypto.DecryptionFailed:
            raise SecretUnavailable("decryption_failed") from None
    return opened


# --- The failure event -------------------------------------------------------------------


def record_decryption_failure(
    *, actor: Any, client: Client, target: Target, error: VaultError
) -> None:
    """Write the error event of a failed decryption in a transaction of its own.

    Call it after the action's transaction rolled back (see recording_decryption_failures),
    so the event survives. Only the fixed error code is stored, never the value.
    """
    with transaction.atomic():
        record(
            actor=actor,
            action="vault.decryption_failed",
            outcome=Outcome.ERROR,
            client=client,
            target=target,
            reason=error.code,
            details={"error": error.code},
        )
    logger.warning(
        "vault.decryption_failed",
        extra={"client_id": str(client.pk), "target": target.type, "error": error.code},
    )


@contextmanager
def recording_decryption_failures(*, actor: Any, client: Client, target: Target) -> Iterator[None]:
    """Wrap a service, its transaction inside: a VaultError leaves an error event, re-raised."""
    try:
        yield
    except VaultError as error:
        record_decryption_failure(actor=actor, client=client, target=target, error=error)
        raise
