"""AES-256-GCM sealing and key derivation: the only module that imports `cryptography`.

Sealed format (version 1): b"KH" | format version (1 byte) | key version (4 bytes, big
endian) | nonce (12 bytes) | ciphertext and GCM tag. The associated data is supplied by the
caller and binds the ciphertext to where it belongs (record, field), so a value copied to
another row does not decrypt. docs/decisions/0001-crypto-format.md explains the choice.
"""

import os
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"KH"
FORMAT_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16
_HEADER = struct.Struct(">2sBI")


class DecryptionFailed(Exception):
    """The sealed value is malformed, was moved, was tampered with, or its key is gone."""


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def derive_key(master_key: bytes, *, purpose: str) -> bytes:
    """A subkey for one purpose, so one master key never encrypts two kinds of data."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode()
    ).derive(master_key)


def seal(plaintext: bytes, *, key: bytes, key_version: int, associated_data: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, key_version)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, header + associated_data)
    return header + nonce + ciphertext


def sealed_key_version(sealed: bytes) -> int:
    if len(sealed) < _HEADER.size + NONCE_BYTES:
        raise DecryptionFailed("sealed value is too short")
    magic, format_version, key_version = _HEADER.unpack_from(sealed)
    if magic != MAGIC or format_version != FORMAT_VERSION:
        raise DecryptionFailed("not a Keyhold sealed value of a known format")
    return key_version


def aead_open(*, key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM decryption in the one shape the sealed format uses.

    A 256-bit key, a 96-bit nonce and a 128-bit tag at the end of `ciphertext`: any other
    shape is refused before the library sees it, and every refusal, malformed or not
    authentic, is the same DecryptionFailed (check C24 runs Wycheproof's vectors here).
    """
    if len(key) != KEY_BYTES or len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
        raise DecryptionFailed("malformed sealed value")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, associated_data)
    except InvalidTag:
        raise DecryptionFailed("authentication failed") from None


def open_sealed(
    sealed: bytes,
    *,
    key_for_version: Callable[[int], bytes],
    associated_data: bytes,
    min_key_version: int = 0,
) -> bytes:
    """Open a sealed value; a key version below `min_key_version` is refused (retired)."""
    key_version = sealed_key_version(sealed)
    if key_version < min_key_version:
        raise DecryptionFailed("key version retired")
    header = sealed[: _HEADER.size]
    nonce = sealed[_HEADER.size : _HEADER.size + NONCE_BYTES]
    ciphertext = sealed[_HEADER.size + NONCE_BYTES :]
    return aead_open(
        key=key_for_version(key_version),
        nonce=nonce,
        ciphertext=ciphertext,
        associated_data=header + associated_data,
    )
