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


def open_sealed(
    sealed: bytes, *, key_for_version: Callable[[int], bytes], associated_data: bytes
) -> bytes:
    key_version = sealed_key_version(sealed)
    header = sealed[: _HEADER.size]
    nonce = sealed[_HEADER.size : _HEADER.size + NONCE_BYTES]
    ciphertext = sealed[_HEADER.size + NONCE_BYTES :]
    try:
        return AESGCM(key_for_version(key_version)).decrypt(
            nonce, ciphertext, header + associated_data
        )
    except InvalidTag:
        raise DecryptionFailed("authentication failed") from None
