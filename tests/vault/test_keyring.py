import json
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from vault import crypto
from vault.keyring import keyring_create, keyring_load


def test_created_keyring_is_owner_only_and_loads(tmp_path):
    path = tmp_path / "keyring.json"
    created = keyring_create(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert keyring_load(path) == created


def test_existing_keyring_is_never_overwritten(tmp_path):
    path = tmp_path / "keyring.json"
    keyring_create(path)
    with pytest.raises(FileExistsError):
        keyring_create(path)


def test_missing_keyring_says_how_to_create_it(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="keyring_init"):
        keyring_load(tmp_path / "absent.json")


def test_keyring_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "keyring.json"
    keyring_create(path)
    path.chmod(0o644)
    with pytest.raises(ImproperlyConfigured, match="chmod 600"):
        keyring_load(path)


def test_malformed_keyring_is_refused(tmp_path):
    path = tmp_path / "keyring.json"
    keyring_create(path)
    path.write_text(json.dumps({"format": "keyhold-keyring/1", "current": 2, "keys": {}}))
    with pytest.raises(ImproperlyConfigured, match="malformed"):
        keyring_load(path)


def test_sealed_value_is_bound_to_its_associated_data():
    key = crypto.generate_key()
    sealed = crypto.seal(b"s3cret", key=key, key_version=1, associated_data=b"user=1")
    assert crypto.open_sealed(sealed, key_for_version=lambda v: key, associated_data=b"user=1")
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(sealed, key_for_version=lambda v: key, associated_data=b"user=2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(tampered, key_for_version=lambda v: key, associated_data=b"user=1")


def test_every_seal_uses_a_fresh_nonce():
    key = crypto.generate_key()
    first = crypto.seal(b"same", key=key, key_version=1, associated_data=b"")
    second = crypto.seal(b"same", key=key, key_version=1, associated_data=b"")
    assert first != second
