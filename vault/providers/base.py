"""The key-provider interface: a key-encryption key (KEK) that wraps data-encryption keys.

Every provider behaves the same way (security check C28), and the shared behaviour lives
here so that a provider cannot drift: arguments are validated before any provider code
runs, the context is encoded one canonical way, a wrapped key is only ever handed to the
provider and key that made it, and an unwrapped key must have the expected length.

The context (for example {"client": "<uuid>", "purpose": "dek"}) is bound to the wrapped
key as associated data: unwrapping with any other context fails. It is not secret (KMS
writes it to CloudTrail in plain text), so it must never carry secret values.

Error messages name the provider, the operation and a fixed error code; they never carry
key material, and the underlying library exception is not chained (its text is not ours
to vouch for).
"""

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import ClassVar
from urllib.parse import urlsplit

DATA_KEY_BYTES = 32
RESERVED_CONTEXT_PREFIX = "keyhold:"
HEALTH_CONTEXT = {"purpose": "health-check"}


class KeyProviderError(Exception):
    """A key provider refused or failed an operation; the message never holds key material."""


class KeyProviderUnavailable(KeyProviderError):
    """The provider could not be reached in time (network, timeout, outage): retry later."""


class KeyUnwrapFailed(KeyProviderError):
    """This wrapped key cannot be opened: wrong context, tampered, or its key version is gone."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: which provider and KEK (id, version) wrapped it, and the blob."""

    provider: str
    key_id: str
    key_version: int
    ciphertext: bytes = field(repr=False)


@dataclass(frozen=True)
class ProviderHealth:
    ok: bool
    detail: str


def canonical_context(context: Mapping[str, str]) -> bytes:
    """One byte encoding per context: sorted JSON, so {"ab": "c"} and {"a": "bc"} differ."""
    validate_context(context)
    return json.dumps(
        dict(sorted(context.items())), separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def validate_context(context: Mapping[str, str]) -> None:
    if not isinstance(context, Mapping) or not context:
        raise ValueError("A key context is required: a non-empty mapping of strings.")
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key or not value:
            raise ValueError("Key context keys and values must be non-empty strings.")
        if key.startswith(RESERVED_CONTEXT_PREFIX):
            raise ValueError(
                f"Key context keys starting with {RESERVED_CONTEXT_PREFIX!r} are reserved."
            )


def require_loopback_or_https(url: str, *, setting: str) -> None:
    """Plain HTTP only to this host: a token or key must never cross a network in clear."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and parts.hostname:
        if parts.hostname == "localhost":
            return
        try:
            if ip_address(parts.hostname).is_loopback:
                return
        except ValueError:
            pass
    raise ValueError(f"{setting} must be an https:// URL (plain http only to localhost).")


class KeyProvider(ABC):
    """Wraps data keys under the provider's current KEK version and unwraps any kept version."""

    name: ClassVar[str]

    @abstractmethod
    def key_id(self) -> str:
        """The identifier of the KEK that wraps new data keys (never key material)."""

    @abstractmethod
    def key_version(self) -> int:
        """The KEK version that wraps new data keys."""

    def wrap(self, data_key: bytes, *, context: Mapping[str, str]) -> WrappedKey:
        if not isinstance(data_key, bytes) or len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"A data key is exactly {DATA_KEY_BYTES} bytes.")
        validate_context(context)
        return self._wrap(data_key, context=context)

    def unwrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> bytes:
        self._require_own(wrapped)
        validate_context(context)
        data_key = self._unwrap(wrapped, context=context)
        if len(data_key) != DATA_KEY_BYTES:
            raise KeyUnwrapFailed(f"{self.name}: unwrap gave a key of the wrong length")
        return data_key

    def rewrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> WrappedKey:
        """The same data key under the current KEK version; plaintext stays in the provider
        wherever the provider can do it (Transit rewrap, KMS ReEncrypt)."""
        self._require_own(wrapped)
        validate_context(context)
        return self._rewrap(wrapped, context=context)

    def health(self) -> ProviderHealth:
        """Wrap and unwrap a throwaway key: proves reachability and permissions. Never raises."""
        try:
            self._check_key()
            probe = os.urandom(DATA_KEY_BYTES)
            wrapped = self.wrap(probe, context=HEALTH_CONTEXT)
            if self.unwrap(wrapped, context=HEALTH_CONTEXT) != probe:
                return ProviderHealth(ok=False, detail=f"{self.name}: round trip mismatch")
        except KeyProviderError as exc:
            return ProviderHealth(ok=False, detail=str(exc))
        except Exception as exc:  # health reports every failure instead of raising
            return ProviderHealth(ok=False, detail=f"{self.name}: {type(exc).__name__}")
        return ProviderHealth(
            ok=True, detail=f"{self.name}: key {wrapped.key_id} version {wrapped.key_version}"
        )

    def _require_own(self, wrapped: WrappedKey) -> None:
        if not isinstance(wrapped, WrappedKey) or wrapped.provider != self.name:
            raise KeyUnwrapFailed(f"{self.name}: the key was wrapped by another provider")
        if not isinstance(wrapped.ciphertext, bytes) or not wrapped.ciphertext:
            raise KeyUnwrapFailed(f"{self.name}: the wrapped key is empty")

    def _check_key(self) -> None:  # noqa: B027 (optional hook)
        """Provider-specific configuration checks run by health() before the round trip."""

    @abstractmethod
    def _wrap(self, data_key: bytes, *, context: Mapping[str, str]) -> WrappedKey: ...

    @abstractmethod
    def _unwrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> bytes: ...

    @abstractmethod
    def _rewrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> WrappedKey: ...
