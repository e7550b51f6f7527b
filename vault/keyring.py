"""The local keyring file: the default key provider's master keys, kept outside the database.

The file is JSON with every key version kept, so values sealed under an older version stay
readable. It must be readable by the owner only (mode 0600). Keyhold refuses to use a
missing, unreadable, malformed or too-open keyring, with a message saying what to do.
"""

import base64
import binascii
import fcntl
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from vault import crypto

KEYRING_FORMAT = "keyhold-keyring/1"


@dataclass(frozen=True)
class Keyring:
    current_version: int
    keys: dict[int, bytes] = field(repr=False)

    def key(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise crypto.DecryptionFailed(f"keyring has no key version {version}") from None


def keyring_create(path: Path) -> Keyring:
    """Write a new keyring with one key; refuses to overwrite an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keyring = Keyring(current_version=1, keys={1: crypto.generate_key()})
    document = {
        "format": KEYRING_FORMAT,
        "current": keyring.current_version,
        "keys": {str(v): base64.b64encode(k).decode() for v, k in keyring.keys.items()},
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle)
    return keyring


def keyring_load(path: Path) -> Keyring:
    hint = f"Create it with `python manage.py keyring_init` (KEYHOLD_KEYRING={path})."
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ImproperlyConfigured(f"The keyring file {path} does not exist. {hint}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ImproperlyConfigured(
            f"The keyring file {path} is readable by other users (mode {stat.S_IMODE(mode):o}). "
            f"Run `chmod 600 {path}`."
        )
    try:
        document = json.loads(path.read_text())
        if document.get("format") != KEYRING_FORMAT:
            raise ValueError("unknown format")
        keys = {int(v): base64.b64decode(k, validate=True) for v, k in document["keys"].items()}
        current = int(document["current"])
    except PermissionError:
        raise ImproperlyConfigured(f"The keyring file {path} is not readable.") from None
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise ImproperlyConfigured(f"The keyring file {path} is malformed.") from None
    if current not in keys or any(len(k) != crypto.KEY_BYTES for k in keys.values()):
        raise ImproperlyConfigured(f"The keyring file {path} is malformed.")
    return Keyring(current_version=current, keys=keys)


@lru_cache(maxsize=4)
def _keyring_at(path: str) -> Keyring:
    return keyring_load(Path(path))


def active_keyring() -> Keyring:
    return _keyring_at(str(settings.KEYHOLD_KEYRING))


def keyring_add_version(path: Path) -> Keyring:
    """Add a new key version and make it current (KEK rotation); every older version is kept.

    Processes that already cached the keyring keep sealing under the version they know until
    they restart; values sealed under the new version need a process that has reloaded it.
    """
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        # One rotation at a time: two racing writers could each drop the other's new key.
        fcntl.flock(directory, fcntl.LOCK_EX)
        previous = keyring_load(path)
        version = max(previous.keys) + 1
        keyring = Keyring(
            current_version=version, keys={**previous.keys, version: crypto.generate_key()}
        )
        document = {
            "format": KEYRING_FORMAT,
            "current": keyring.current_version,
            "keys": {str(v): base64.b64encode(k).decode() for v, k in keyring.keys.items()},
        }
        staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                json.dump(document, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, path)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        os.fsync(directory)
    finally:
        os.close(directory)
    _keyring_at.cache_clear()
    return keyring
