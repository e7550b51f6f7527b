"""Fixtures of the envelope tests: a keyring of the test's own, Vault Transit as provider."""

from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from tests.vault.transit_server import TransitStandIn
from vault.envelope import data_key_cache_clear
from vault.keyring import keyring_create


@pytest.fixture
def vault_keyring(settings, tmp_path, monkeypatch) -> Iterator[Path]:
    """A keyring for this test only (a worker subprocess gets it through the environment)."""
    path = tmp_path / "keyring.json"
    keyring_create(path)
    settings.KEYHOLD_KEYRING = path
    settings.KEYHOLD_KEY_PROVIDER = "local"
    monkeypatch.setenv("KEYHOLD_KEYRING", str(path))
    data_key_cache_clear()
    yield path
    data_key_cache_clear()


@pytest.fixture
def transit_provider(settings, tmp_path) -> Iterator[TransitStandIn]:
    """Vault Transit (the local stand-in server) as the key provider; stop it to cut it off."""
    server = TransitStandIn().start()
    hvac.Client(url=server.url, token=server.token).secrets.transit.create_key(
        name="keyhold", key_type="aes256-gcm96", derived=True
    )
    token = tmp_path / "vault-token"
    token.write_text(server.token + "\n")
    token.chmod(0o600)
    settings.KEYHOLD_KEY_PROVIDER = "vault-transit"
    settings.KEYHOLD_TRANSIT_URL = server.url
    settings.KEYHOLD_TRANSIT_TOKEN_FILE = str(token)
    settings.KEYHOLD_TRANSIT_KEY = "keyhold"
    data_key_cache_clear()
    yield server
    server.stop()
    data_key_cache_clear()
