"""The default key provider: the local keyring file (vault/keyring.py) as the KEK.

The KEK is a purpose-bound subkey of each keyring version, so the keyring's master keys
never wrap data keys directly and the subkeys used for system secrets stay separate. A
wrapped key is a vault/crypto.py sealed value: its header carries the keyring version,
and the canonical context is the associated data.

The file is read on every operation (with keyring_load's mode and format checks), so a
rotation by `keyring_add_version` is seen at once and a file that became unusable fails
closed. This provider's strength is the host's: whoever can read the file as Keyhold's
user can unwrap every data key, which is why KMS or Transit is recommended in production.
"""

from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from vault import crypto
from vault.keyring import Keyring, keyring_load
from vault.providers.base import (
    KeyProvider,
    KeyProviderUnavailable,
    KeyUnwrapFailed,
    WrappedKey,
    canonical_context,
)

WRAP_PURPOSE = "keyhold/kek/wrap-data-key"
KEY_ID_PURPOSE = "keyhold/kek/key-id"
ASSOCIATED_DATA_PREFIX = b"keyhold-data-key/1\x00"


class LocalKeyringProvider(KeyProvider):
    name = "local"

    def __init__(self, path: Path) -> None:
        self._path = Path(path)

    def __repr__(self) -> str:
        return f"<LocalKeyringProvider {self._path}>"

    def key_id(self) -> str:
        return self._key_id(self._keyring())

    def key_version(self) -> int:
        return self._keyring().current_version

    def _wrap(self, data_key: bytes, *, context: Mapping[str, str]) -> WrappedKey:
        keyring = self._keyring()
        version = keyring.current_version
        sealed = crypto.seal(
            data_key,
            key=self._wrapping_key(keyring, version),
            key_version=version,
            associated_data=ASSOCIATED_DATA_PREFIX + canonical_context(context),
        )
        return WrappedKey(
            provider=self.name, key_id=self._key_id(keyring), key_version=version, ciphertext=sealed
        )

    def _unwrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> bytes:
        keyring = self._keyring()
        if wrapped.key_id != self._key_id(keyring):
            raise KeyUnwrapFailed(f"{self.name}: the key was wrapped by another keyring")
        try:
            if crypto.sealed_key_version(wrapped.ciphertext) != wrapped.key_version:
                raise KeyUnwrapFailed(f"{self.name}: the key version does not match the blob")
            return crypto.open_sealed(
                wrapped.ciphertext,
                key_for_version=lambda version: self._wrapping_key(keyring, version),
                associated_data=ASSOCIATED_DATA_PREFIX + canonical_context(context),
            )
        except crypto.DecryptionFailed:
            # One message for every cause (tampered, moved, missing version): C21.
            raise KeyUnwrapFailed(f"{self.name}: unwrap refused (DecryptionFailed)") from None

    def _rewrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> WrappedKey:
        return self._wrap(self._unwrap(wrapped, context=context), context=context)

    def _keyring(self) -> Keyring:
        try:
            return keyring_load(self._path)
        except ImproperlyConfigured as exc:
            raise KeyProviderUnavailable(f"{self.name}: {exc}") from None

    @staticmethod
    def _wrapping_key(keyring: Keyring, version: int) -> bytes:
        return crypto.derive_key(keyring.key(version), purpose=WRAP_PURPOSE)

    @staticmethod
    def _key_id(keyring: Keyring) -> str:
        # A one-way fingerprint of the first version: tells keyrings apart, reveals nothing.
        first = keyring.key(min(keyring.keys))
        return "keyring:" + crypto.derive_key(first, purpose=KEY_ID_PURPOSE)[:8].hex()
