"""Keyhold's own keys, from the key provider: the audit chain key and staff MFA seals.

A random 256-bit system root key is stored in SystemKey, wrapped by the configured
provider's KEK (the one that wraps client data keys). Each use derives a purpose-bound
subkey from it, so the audit chain key, the TOTP sealing key and the backup-code digest
key never coincide. The root is created on first use; unwrapped roots are cached in process
memory keyed by their wrapped bytes, so a rewrapped or recreated row is never served a
stale key, and a provider outage does not stop a process that already holds the key.
"""

import hashlib
import threading

from django.db import IntegrityError, transaction

from vault import crypto
from vault.providers import KeyProviderError, WrappedKey, provider_from_settings

SYSTEM_KEY_VERSION = 1
_cache_lock = threading.Lock()
_cache: dict[tuple[int, bytes], bytes] = {}


class SystemKeyUnavailable(crypto.DecryptionFailed):
    """The system key could not be created or unwrapped (provider down, wrong KEK)."""


def system_key_context(version: int) -> dict[str, str]:
    return {"purpose": "keyhold-system-key", "version": str(version)}


def system_key_wrapped(row) -> WrappedKey:
    return WrappedKey(
        provider=row.provider,
        key_id=row.provider_key_id,
        key_version=row.provider_key_version,
        ciphertext=bytes(row.wrapped_key),
    )


def _row(version: int):
    from vault.models import SystemKey

    row = SystemKey.objects.filter(version=version).first()
    if row is not None or version != SYSTEM_KEY_VERSION:
        return row
    provider = provider_from_settings()
    try:
        wrapped = provider.wrap(crypto.generate_key(), context=system_key_context(version))
    except KeyProviderError as exc:
        raise SystemKeyUnavailable(f"system key: {exc}") from None
    try:
        # A savepoint: a concurrent first use may have created it; then read theirs.
        with transaction.atomic():
            return SystemKey.objects.create(
                version=version,
                wrapped_key=wrapped.ciphertext,
                provider=wrapped.provider,
                provider_key_id=wrapped.key_id,
                provider_key_version=wrapped.key_version,
            )
    except IntegrityError:
        return SystemKey.objects.get(version=version)


def _root_key(version: int) -> bytes:
    row = _row(version)
    if row is None:
        raise SystemKeyUnavailable(f"there is no system key version {version}")
    entry = (version, hashlib.sha256(bytes(row.wrapped_key)).digest())
    with _cache_lock:
        cached = _cache.get(entry)
    if cached is not None:
        return cached
    try:
        key = provider_from_settings().unwrap(
            system_key_wrapped(row), context=system_key_context(version)
        )
    except KeyProviderError as exc:
        raise SystemKeyUnavailable(f"system key v{version}: {exc}") from None
    with _cache_lock:
        for other in [k for k in _cache if k[0] == version]:
            del _cache[other]
        _cache[entry] = key
    return key


def system_key_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def system_seal(plaintext: bytes, *, purpose: str, associated_data: bytes) -> bytes:
    """Seal a system secret (not client data) under a purpose-bound subkey."""
    key = crypto.derive_key(_root_key(SYSTEM_KEY_VERSION), purpose=purpose)
    return crypto.seal(
        plaintext, key=key, key_version=SYSTEM_KEY_VERSION, associated_data=associated_data
    )


def system_open(sealed: bytes, *, purpose: str, associated_data: bytes) -> bytes:
    return crypto.open_sealed(
        sealed,
        key_for_version=lambda version: crypto.derive_key(_root_key(version), purpose=purpose),
        associated_data=associated_data,
    )


def system_mac_key(*, purpose: str, version: int | None = None) -> tuple[int, bytes]:
    """A versioned keyed-hash key (the audit chain): the current version unless one is named."""
    chosen = SYSTEM_KEY_VERSION if version is None else version
    return chosen, crypto.derive_key(_root_key(chosen), purpose=purpose)
