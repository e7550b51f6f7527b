"""HashiCorp Vault Transit as the KEK: encrypt, decrypt and rewrap with a derived key.

Context binding. Transit binds a context only for keys created with `derived=true`: the
context (base64, required on every call) selects a per-context key, so a wrapped key
unwraps only with the context it was wrapped with. For a key without derivation Vault
ignores the context silently, so this provider checks the key before its first use and
refuses any key that is not a derived AES-256-GCM or ChaCha20-Poly1305 key. Create it with
`vault write -f transit/keys/keyhold type=aes256-gcm96 derived=true`.

Key version. Transit ciphertext carries its key version (`vault:vN:`); the current version
is the key's `latest_version`. After `transit/keys/<name>/rotate`, the rewrap endpoint
moves wrapped keys to the latest version without returning plaintext.

The token is read from a file (for example a Vault Agent sink) before every call, so a
renewed token is picked up without a restart; it never appears in settings, messages or
repr. TLS is verified (a CA bundle may be given), redirects are not followed (they would
carry the token to another host), and timeouts are short; an unreachable Vault fails
closed with KeyProviderUnavailable. The token's policy needs only `update` on the
encrypt, decrypt and rewrap paths and `read` on the key: no `create`, so an encrypt can
never upsert a non-derived key.
"""

import base64
import binascii
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests

from vault.providers.base import (
    KeyProvider,
    KeyProviderError,
    KeyProviderUnavailable,
    KeyUnwrapFailed,
    WrappedKey,
    canonical_context,
    require_loopback_or_https,
)

ACCEPTED_KEY_TYPES = frozenset({"aes256-gcm96", "chacha20-poly1305"})
CIPHERTEXT_PATTERN = re.compile(r"vault:v([1-9][0-9]*):[A-Za-z0-9+/=]+")
UNAVAILABLE_ERRORS = (
    hvac.exceptions.InternalServerError,
    hvac.exceptions.VaultDown,
    hvac.exceptions.BadGateway,
    hvac.exceptions.RateLimitExceeded,
    hvac.exceptions.VaultNotInitialized,
)


class VaultTransitProvider(KeyProvider):
    name = "vault-transit"

    def __init__(
        self,
        url: str,
        *,
        key_name: str,
        token: str | None = None,
        token_file: Path | None = None,
        mount: str = "transit",
        verify: bool | str = True,
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
    ) -> None:
        require_loopback_or_https(url, setting="KEYHOLD_TRANSIT_URL")
        if (token is None) == (token_file is None):
            raise ValueError("Give the Transit token or the path of a token file, not both.")
        if not key_name or not mount:
            raise ValueError("The Transit key name and mount must not be empty.")
        if verify is False:
            raise ValueError("TLS verification cannot be turned off; give a CA bundle instead.")
        self._url = url
        self._key_name = key_name
        self._mount = mount.strip("/")
        self._token = token
        self._token_file = Path(token_file) if token_file is not None else None
        self._key_checked = False
        self._client = hvac.Client(
            url=url,
            token="",
            verify=verify,
            timeout=(connect_timeout, read_timeout),
            allow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"<VaultTransitProvider {self._url} {self.key_id()}>"

    def key_id(self) -> str:
        return f"{self._mount}/keys/{self._key_name}"

    def key_version(self) -> int:
        return int(self._read_key()["latest_version"])

    def _wrap(self, data_key: bytes, *, context: Mapping[str, str]) -> WrappedKey:
        self._ensure_derived_key()
        response = self._call(
            "encrypt",
            lambda transit: transit.encrypt_data(
                name=self._key_name,
                plaintext=_b64(data_key),
                context=_b64(canonical_context(context)),
                mount_point=self._mount,
            ),
            unwrapping=False,
        )
        return self._wrapped(response)

    def _unwrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> bytes:
        ciphertext = self._own_ciphertext(wrapped)
        response = self._call(
            "decrypt",
            lambda transit: transit.decrypt_data(
                name=self._key_name,
                ciphertext=ciphertext,
                context=_b64(canonical_context(context)),
                mount_point=self._mount,
            ),
            unwrapping=True,
        )
        try:
            return base64.b64decode(response["data"]["plaintext"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise KeyProviderError(f"{self.name}: decrypt gave an unreadable answer") from None

    def _rewrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> WrappedKey:
        ciphertext = self._own_ciphertext(wrapped)
        self._ensure_derived_key()
        response = self._call(
            "rewrap",
            lambda transit: transit.rewrap_data(
                name=self._key_name,
                ciphertext=ciphertext,
                context=_b64(canonical_context(context)),
                mount_point=self._mount,
            ),
            unwrapping=True,
        )
        return self._wrapped(response)

    def _check_key(self) -> None:
        self._key_checked = False
        self._ensure_derived_key()

    def _ensure_derived_key(self) -> None:
        # Derivation and type are fixed when a Transit key is created: checking once is enough.
        if self._key_checked:
            return
        key = self._read_key()
        if key.get("type") not in ACCEPTED_KEY_TYPES or key.get("derived") is not True:
            raise KeyProviderError(
                f"{self.name}: key {self.key_id()} must be a derived aes256-gcm96 or "
                "chacha20-poly1305 key (the context would not be bound otherwise)"
            )
        if key.get("convergent_encryption") or not key.get("supports_encryption"):
            raise KeyProviderError(f"{self.name}: key {self.key_id()} cannot wrap data keys")
        self._key_checked = True

    def _read_key(self) -> dict[str, Any]:
        response = self._call(
            "read key",
            lambda transit: transit.read_key(name=self._key_name, mount_point=self._mount),
            unwrapping=False,
        )
        try:
            data = response["data"]
            int(data["latest_version"])
        except (KeyError, TypeError, ValueError):
            raise KeyProviderError(f"{self.name}: read key gave an unreadable answer") from None
        return data

    def _own_ciphertext(self, wrapped: WrappedKey) -> str:
        if wrapped.key_id != self.key_id():
            raise KeyUnwrapFailed(f"{self.name}: the key was wrapped by another Transit key")
        try:
            ciphertext = wrapped.ciphertext.decode("ascii")
        except UnicodeDecodeError:
            raise KeyUnwrapFailed(
                f"{self.name}: the wrapped key is not Transit ciphertext"
            ) from None
        match = CIPHERTEXT_PATTERN.fullmatch(ciphertext)
        if match is None or int(match.group(1)) != wrapped.key_version:
            raise KeyUnwrapFailed(f"{self.name}: the key version does not match the ciphertext")
        return ciphertext

    def _wrapped(self, response: Mapping[str, Any]) -> WrappedKey:
        try:
            ciphertext = response["data"]["ciphertext"]
            match = CIPHERTEXT_PATTERN.fullmatch(ciphertext)
        except (KeyError, TypeError):
            match = None
        if match is None:
            raise KeyProviderError(f"{self.name}: Transit gave an unreadable ciphertext")
        return WrappedKey(
            provider=self.name,
            key_id=self.key_id(),
            key_version=int(match.group(1)),
            ciphertext=ciphertext.encode("ascii"),
        )

    def _call(
        self, operation: str, request: Callable[[Any], Any], *, unwrapping: bool
    ) -> Mapping[str, Any]:
        self._client.token = self._current_token()
        try:
            response = request(self._client.secrets.transit)
        except requests.exceptions.RequestException as exc:
            raise KeyProviderUnavailable(
                f"{self.name}: {operation} could not reach Vault ({type(exc).__name__})"
            ) from None
        except hvac.exceptions.VaultError as exc:
            message = f"{self.name}: {operation} refused ({type(exc).__name__})"
            if isinstance(exc, UNAVAILABLE_ERRORS):
                raise KeyProviderUnavailable(message) from None
            # 400 on decrypt or rewrap: wrong context, tampered, unknown or archived version.
            if unwrapping and isinstance(exc, hvac.exceptions.InvalidRequest):
                raise KeyUnwrapFailed(message) from None
            if isinstance(exc, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized):
                message += ": permission denied, check the token and its policy"
            raise KeyProviderError(message) from None
        if not isinstance(response, Mapping):
            raise KeyProviderError(f"{self.name}: {operation} gave no answer")
        return response

    def _current_token(self) -> str:
        if self._token_file is None:
            return self._token or ""
        try:
            mode = self._token_file.stat().st_mode
            if mode & stat.S_IRWXO:
                raise KeyProviderError(
                    f"{self.name}: the token file {self._token_file} is readable by other users"
                )
            token = self._token_file.read_text().strip()
        except OSError as exc:
            raise KeyProviderError(
                f"{self.name}: the token file {self._token_file} cannot be read "
                f"({type(exc).__name__})"
            ) from None
        if not token:
            raise KeyProviderError(f"{self.name}: the token file {self._token_file} is empty")
        return token


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
