"""C28: one contract for every key provider, run against real servers, then provider details.

The local provider uses a keyring in tmp_path; AWS KMS is moto's server in a subprocess
(`python -m moto.server`), reached by boto3 over HTTP with fake credentials; Vault Transit
is the stand-in of tests/vault/transit_server.py, reached by hvac over HTTP. Nothing that
the providers call is mocked.
"""

import base64
import contextlib
import dataclasses
import os
import re
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import hvac
import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.vault.transit_server import TransitStandIn
from vault.keyring import keyring_add_version, keyring_create, keyring_load
from vault.providers import (
    KeyProvider,
    KeyProviderError,
    KeyProviderUnavailable,
    KeyUnwrapFailed,
    WrappedKey,
    provider_from_settings,
)
from vault.providers.aws_kms import AwsKmsProvider
from vault.providers.local import LocalKeyringProvider
from vault.providers.vault_transit import VaultTransitProvider

CONTEXT = {"client": "6f1c2a4e-2b1d-4d0c-9a57-0c7a3c1f9e10", "purpose": "dek"}
REGION = "eu-west-1"
BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# An unreachable provider must fail within this bound (timeouts and few retries).
FAIL_FAST_SECONDS = 5.0


@dataclass
class World:
    """A provider wired to a live backend, with what the contract needs to act on it."""

    provider: KeyProvider
    rotate: Callable[[], KeyProvider]  # a KEK rotation; returns the provider to use after it
    take_down: Callable[[], None]  # makes the backend unreachable
    secrets: list[bytes]  # backend secrets (keyring keys, tokens) that must never leak


class MotoServer:
    """moto's KMS in its own process on a free port; restarted when a test has stopped it."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.url = ""

    def ensure_running(self) -> str:
        if self.process is None or self.process.poll() is not None:
            self._start()
        return self.url

    def _start(self) -> None:
        log = self.log_path.open("wb")
        environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = re.search(rb"Running on (http://127\.0\.0\.1:\d+)", self.log_path.read_bytes())
            if found:
                self.url = found.group(1).decode()
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials for boto3 only; no profile file or instance metadata is consulted."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAKEYHOLDTESTING00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "keyhold-testing-secret-access-key")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/keyhold-aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/keyhold-aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


_kms_sessions: list[boto3.session.Session] = []


def kms_session() -> boto3.session.Session:
    """One boto3 session for the whole run (client set-up is slow); call after aws_credentials."""
    if not _kms_sessions:
        _kms_sessions.append(boto3.session.Session())
    return _kms_sessions[0]


def kms_provider(key_id: str, endpoint_url: str, **options) -> AwsKmsProvider:
    return AwsKmsProvider(
        key_id, region=REGION, endpoint_url=endpoint_url, session=kms_session(), **options
    )


def kms_key(endpoint_url: str) -> str:
    client = kms_session().client("kms", region_name=REGION, endpoint_url=endpoint_url)
    return client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")[
        "KeyMetadata"
    ]["Arn"]


@pytest.fixture
def transit_server() -> Iterator[TransitStandIn]:
    server = TransitStandIn().start()
    yield server
    server.stop()


def transit_key(server: TransitStandIn, name: str = "keyhold", *, derived: bool = True) -> None:
    client = hvac.Client(url=server.url, token=server.token)
    client.secrets.transit.create_key(name=name, key_type="aes256-gcm96", derived=derived)


def token_file(directory: Path, token: str) -> Path:
    path = directory / "vault-token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def local_world(tmp_path: Path) -> World:
    path = tmp_path / "keyring.json"
    keyring_create(path)
    provider = LocalKeyringProvider(path)

    def rotate() -> KeyProvider:
        keyring_add_version(path)
        return provider

    keys = list(keyring_load(path).keys.values())
    return World(provider, rotate, path.unlink, keys)


def kms_world(moto_server: MotoServer) -> World:
    endpoint = moto_server.ensure_running()
    first = kms_key(endpoint)
    provider = kms_provider(first, endpoint)

    def rotate() -> KeyProvider:
        return kms_provider(kms_key(endpoint), endpoint, key_version=2, previous_key_ids=[first])

    secrets = [os.environ["AWS_SECRET_ACCESS_KEY"].encode()]
    return World(provider, rotate, moto_server.stop, secrets)


def transit_world(server: TransitStandIn, tmp_path: Path) -> World:
    transit_key(server)
    provider = VaultTransitProvider(
        server.url, token_file=token_file(tmp_path, server.token), key_name="keyhold"
    )

    def rotate() -> KeyProvider:
        hvac.Client(url=server.url, token=server.token).secrets.transit.rotate_key(name="keyhold")
        return provider

    return World(provider, rotate, server.stop, [server.token.encode()])


@pytest.fixture(params=["local", "aws-kms", "vault-transit"])
def world(request, tmp_path) -> World:
    if request.param == "local":
        return local_world(tmp_path)
    if request.param == "aws-kms":
        request.getfixturevalue("aws_credentials")
        return kms_world(request.getfixturevalue("moto_server"))
    return transit_world(request.getfixturevalue("transit_server"), tmp_path)


@pytest.fixture
def data_key() -> bytes:
    return os.urandom(32)


def flipped(blob: bytes, index: int) -> bytes:
    """One byte changed; a base64 character becomes another one, so it still parses."""
    old = blob[index]
    new = old ^ 0x01
    if old in BASE64_ALPHABET:
        new = ord("A") if old != ord("A") else ord("B")
    return blob[:index] + bytes([new]) + blob[index + 1 :]


def leaks(text: str, secret: bytes) -> bool:
    encodings = {
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode(),
        base64.b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1],
    }
    with contextlib.suppress(UnicodeDecodeError):
        encodings.add(secret.decode())
    return any(encoding in text for encoding in encodings)


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


# --- The contract: every provider, same behaviour ---------------------------------------


def test_wrapped_key_unwraps_to_the_same_data_key_and_names_its_kek(world, data_key):
    wrapped = world.provider.wrap(data_key, context=CONTEXT)

    assert wrapped.provider == world.provider.name
    assert wrapped.key_id
    assert wrapped.key_version == world.provider.key_version() >= 1
    assert data_key not in wrapped.ciphertext
    assert world.provider.unwrap(wrapped, context=CONTEXT) == data_key
    assert world.provider.unwrap(wrapped, context=dict(reversed(CONTEXT.items()))) == data_key


def test_wrapping_twice_gives_different_blobs(world, data_key):
    first = world.provider.wrap(data_key, context=CONTEXT)
    second = world.provider.wrap(data_key, context=CONTEXT)

    assert first.ciphertext != second.ciphertext


@pytest.mark.parametrize(
    "other_context",
    [
        {**CONTEXT, "client": "0b5e3f0e-9a8c-4c1e-8f43-5d2c8f1b7a22"},
        {**CONTEXT, "purpose": "DEK"},
        {**CONTEXT, "field": "password"},
        {"client": CONTEXT["client"]},
    ],
    ids=["other-client", "case-changed", "extra-entry", "missing-entry"],
)
def test_unwrap_with_another_context_fails(world, data_key, other_context):
    wrapped = world.provider.wrap(data_key, context=CONTEXT)

    with pytest.raises(KeyUnwrapFailed):
        world.provider.unwrap(wrapped, context=other_context)


def test_tampered_or_truncated_ciphertext_fails(world, data_key):
    wrapped = world.provider.wrap(data_key, context=CONTEXT)
    blob = wrapped.ciphertext
    variants = [flipped(blob, len(blob) // 2), flipped(blob, len(blob) - 8), blob[:-1]]

    for ciphertext in variants:
        with pytest.raises(KeyUnwrapFailed):
            world.provider.unwrap(
                dataclasses.replace(wrapped, ciphertext=ciphertext), context=CONTEXT
            )


def test_wrapped_key_with_altered_metadata_fails(world, data_key):
    wrapped = world.provider.wrap(data_key, context=CONTEXT)
    altered = [
        dataclasses.replace(wrapped, key_version=wrapped.key_version + 1),
        dataclasses.replace(wrapped, key_id=wrapped.key_id + "-other"),
        dataclasses.replace(wrapped, provider="some-other-provider"),
        dataclasses.replace(wrapped, ciphertext=b""),
    ]

    for candidate in altered:
        with pytest.raises(KeyUnwrapFailed):
            world.provider.unwrap(candidate, context=CONTEXT)


def test_rewrap_after_kek_rotation_moves_to_the_new_version_and_old_blobs_still_unwrap(
    world, data_key
):
    old = world.provider.wrap(data_key, context=CONTEXT)

    rotated = world.rotate()
    rewrapped = rotated.rewrap(old, context=CONTEXT)

    assert rotated.key_version() == old.key_version + 1
    assert rewrapped.key_version == rotated.key_version()
    assert rewrapped.ciphertext != old.ciphertext
    assert rotated.unwrap(rewrapped, context=CONTEXT) == data_key
    assert rotated.unwrap(old, context=CONTEXT) == data_key
    assert rotated.wrap(data_key, context=CONTEXT).key_version == rotated.key_version()
    with pytest.raises(KeyUnwrapFailed):
        rotated.unwrap(rewrapped, context={**CONTEXT, "purpose": "other"})
    with pytest.raises(KeyUnwrapFailed):
        rotated.rewrap(old, context={**CONTEXT, "purpose": "other"})


def test_health_is_ok_and_names_the_key(world):
    health = world.provider.health()

    assert health.ok, health.detail
    assert world.provider.key_id()
    assert world.provider.key_version() >= 1


def test_unreachable_provider_fails_closed_and_fast(world, data_key):
    wrapped = world.provider.wrap(data_key, context=CONTEXT)
    world.take_down()
    started = time.monotonic()

    health = world.provider.health()
    with pytest.raises(KeyProviderUnavailable):
        world.provider.wrap(data_key, context=CONTEXT)
    with pytest.raises(KeyProviderUnavailable):
        world.provider.unwrap(wrapped, context=CONTEXT)
    with pytest.raises(KeyProviderUnavailable):
        world.provider.rewrap(wrapped, context=CONTEXT)

    assert not health.ok
    assert world.provider.name in health.detail
    assert time.monotonic() - started < FAIL_FAST_SECONDS


def test_errors_health_and_repr_never_show_key_material(world, data_key):
    wrapped = world.provider.wrap(data_key, context=CONTEXT)
    texts = [repr(world.provider), repr(wrapped), world.provider.health().detail]
    failures = [
        lambda: world.provider.unwrap(wrapped, context={**CONTEXT, "purpose": "other"}),
        lambda: world.provider.unwrap(
            dataclasses.replace(wrapped, ciphertext=flipped(wrapped.ciphertext, 20)),
            context=CONTEXT,
        ),
        lambda: world.provider.rewrap(wrapped, context={"purpose": "other"}),
    ]
    for failure in failures:
        with pytest.raises(KeyProviderError) as caught:
            failure()
        texts.append(full_text(caught.value))
    world.take_down()
    texts.append(world.provider.health().detail)
    with pytest.raises(KeyProviderUnavailable) as caught:
        world.provider.wrap(data_key, context=CONTEXT)
    texts.append(full_text(caught.value))

    for secret in [data_key, *world.secrets]:
        assert not any(leaks(text, secret) for text in texts)


@pytest.mark.parametrize(
    "context",
    [{}, {"client": ""}, {"client": 7}, {"keyhold:kek_version": "9"}, None],
    ids=["empty", "empty-value", "not-a-string", "reserved-key", "none"],
)
def test_context_must_be_non_empty_strings_without_reserved_keys(world, data_key, context):
    with pytest.raises(ValueError, match="context"):
        world.provider.wrap(data_key, context=context)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_only_256_bit_data_keys_are_wrapped(world, size):
    with pytest.raises(ValueError, match="32 bytes"):
        world.provider.wrap(os.urandom(size), context=CONTEXT)


# --- Local keyring ------------------------------------------------------------------------


def test_keyring_rotation_keeps_old_versions_and_the_file_owner_only(tmp_path):
    path = tmp_path / "keyring.json"
    created = keyring_create(path)

    rotated = keyring_add_version(path)

    assert rotated.current_version == 2
    assert rotated.keys[1] == created.keys[1]
    assert keyring_load(path) == rotated
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json"]


def test_local_key_id_tells_keyrings_apart_and_stays_after_rotation(tmp_path, data_key):
    first = tmp_path / "a.json"
    second = tmp_path / "b.json"
    keyring_create(first)
    keyring_create(second)
    provider = LocalKeyringProvider(first)
    key_id = provider.key_id()

    keyring_add_version(first)
    wrapped_elsewhere = LocalKeyringProvider(second).wrap(data_key, context=CONTEXT)

    assert provider.key_id() == key_id != LocalKeyringProvider(second).key_id()
    with pytest.raises(KeyUnwrapFailed):
        provider.unwrap(dataclasses.replace(wrapped_elsewhere, key_id=key_id), context=CONTEXT)


def test_local_provider_refuses_a_keyring_readable_by_others(tmp_path, data_key):
    path = tmp_path / "keyring.json"
    keyring_create(path)
    path.chmod(0o644)

    with pytest.raises(KeyProviderUnavailable, match="chmod 600"):
        LocalKeyringProvider(path).wrap(data_key, context=CONTEXT)


# --- AWS KMS ------------------------------------------------------------------------------


def test_kms_key_given_as_an_alias_is_refused(aws_credentials):
    with pytest.raises(ValueError, match="alias"):
        AwsKmsProvider("alias/keyhold", region=REGION)
    with pytest.raises(ValueError, match="alias"):
        AwsKmsProvider(f"arn:aws:kms:{REGION}:111122223333:alias/keyhold", region=REGION)


def test_kms_refuses_a_blob_from_a_key_that_is_not_configured(
    aws_credentials, moto_server, data_key
):
    endpoint = moto_server.ensure_running()
    stranger = kms_provider(kms_key(endpoint), endpoint)
    provider = kms_provider(kms_key(endpoint), endpoint)
    foreign = stranger.wrap(data_key, context=CONTEXT)

    with pytest.raises(KeyUnwrapFailed, match="not configured"):
        provider.unwrap(foreign, context=CONTEXT)
    # Relabelled as the configured key, KMS itself refuses: the key id is pinned on Decrypt
    # (real KMS answers IncorrectKeyException, moto AccessDeniedException).
    with pytest.raises(KeyProviderError, match="Decrypt refused"):
        provider.unwrap(dataclasses.replace(foreign, key_id=provider.key_id()), context=CONTEXT)


def test_kms_key_can_be_configured_by_bare_key_id(aws_credentials, moto_server, data_key):
    endpoint = moto_server.ensure_running()
    arn = kms_key(endpoint)
    provider = kms_provider(arn.rsplit("/", 1)[1], endpoint)

    wrapped = provider.wrap(data_key, context=CONTEXT)

    assert wrapped.key_id == arn
    assert provider.unwrap(wrapped, context=CONTEXT) == data_key


def test_kms_rewrap_uses_reencrypt_without_fetching_plaintext(
    aws_credentials, moto_server, data_key
):
    world = kms_world(moto_server)
    old = world.provider.wrap(data_key, context=CONTEXT)
    rotated = world.rotate()
    operations: list[str] = []
    rotated._client.meta.events.register(
        "before-call.kms.*", lambda model, **_: operations.append(model.name)
    )

    rotated.rewrap(old, context=CONTEXT)

    assert operations == ["ReEncrypt"]


def test_kms_that_accepts_but_never_answers_times_out(aws_credentials, data_key):
    with blackhole() as url:
        provider = kms_provider(
            f"arn:aws:kms:{REGION}:111122223333:key/5b3f1c1e-0000-4000-8000-000000000001",
            url,
            connect_timeout=0.5,
            read_timeout=0.5,
        )
        started = time.monotonic()
        with pytest.raises(KeyProviderUnavailable):
            provider.wrap(data_key, context=CONTEXT)
        assert not provider.health().ok
    assert time.monotonic() - started < FAIL_FAST_SECONDS


# --- Vault Transit ------------------------------------------------------------------------


def test_transit_key_without_derivation_is_refused(transit_server, tmp_path, data_key):
    transit_key(transit_server, "plain", derived=False)
    provider = VaultTransitProvider(
        transit_server.url, token_file=token_file(tmp_path, transit_server.token), key_name="plain"
    )

    with pytest.raises(KeyProviderError, match="derived"):
        provider.wrap(data_key, context=CONTEXT)
    assert not provider.health().ok
    assert ("POST", "/v1/transit/encrypt/plain") not in transit_server.requests


def test_transit_missing_key_is_an_error_and_is_never_created(transit_server, tmp_path, data_key):
    provider = VaultTransitProvider(
        transit_server.url, token_file=token_file(tmp_path, transit_server.token), key_name="absent"
    )

    with pytest.raises(KeyProviderError) as caught:
        provider.wrap(data_key, context=CONTEXT)

    assert not isinstance(caught.value, KeyProviderUnavailable | KeyUnwrapFailed)
    assert "absent" not in transit_server.keys


def test_transit_rewrap_uses_the_rewrap_endpoint_only(transit_server, tmp_path, data_key):
    world = transit_world(transit_server, tmp_path)
    old = world.provider.wrap(data_key, context=CONTEXT)
    world.rotate()
    transit_server.requests.clear()

    world.provider.rewrap(old, context=CONTEXT)

    assert [path for _, path in transit_server.requests if "/decrypt/" in path] == []
    assert ("POST", "/v1/transit/rewrap/keyhold") in transit_server.requests


def test_transit_wrong_token_is_a_permission_error_not_an_unwrap_failure(
    transit_server, tmp_path, data_key
):
    world = transit_world(transit_server, tmp_path)
    wrapped = world.provider.wrap(data_key, context=CONTEXT)
    token_file(tmp_path, "hvs.not-the-token")

    with pytest.raises(KeyProviderError, match="permission denied") as caught:
        world.provider.unwrap(wrapped, context=CONTEXT)

    assert type(caught.value) is KeyProviderError


def test_transit_token_file_is_reread_and_must_not_be_world_readable(
    transit_server, tmp_path, data_key
):
    world = transit_world(transit_server, tmp_path)
    path = tmp_path / "vault-token"
    path.chmod(0o604)

    with pytest.raises(KeyProviderError, match="readable by other users"):
        world.provider.wrap(data_key, context=CONTEXT)
    path.chmod(0o640)
    assert world.provider.wrap(data_key, context=CONTEXT).key_version == 1


@pytest.mark.parametrize(
    "url", ["http://vault.example.com:8200", "ftp://127.0.0.1", "vault.example.com"]
)
def test_transit_url_must_be_https_except_to_this_host(url):
    with pytest.raises(ValueError, match="https"):
        VaultTransitProvider(url, token="t", key_name="keyhold")


def test_transit_tls_verification_cannot_be_turned_off():
    with pytest.raises(ValueError, match="TLS"):
        VaultTransitProvider("https://vault.example.com", token="t", key_name="k", verify=False)


def test_transit_that_accepts_but_never_answers_times_out(data_key):
    with blackhole() as url:
        provider = VaultTransitProvider(
            url, token="t", key_name="keyhold", connect_timeout=0.5, read_timeout=0.5
        )
        started = time.monotonic()
        with pytest.raises(KeyProviderUnavailable):
            provider.wrap(data_key, context=CONTEXT)
        assert not provider.health().ok
    assert time.monotonic() - started < FAIL_FAST_SECONDS


@contextlib.contextmanager
def blackhole() -> Iterator[str]:
    """A port that accepts connections into its backlog and never answers: a hung server."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


# --- Settings -----------------------------------------------------------------------------


def test_local_provider_is_the_default(settings, tmp_path):
    settings.KEYHOLD_KEYRING = tmp_path / "keyring.json"
    if hasattr(settings, "KEYHOLD_KEY_PROVIDER"):
        del settings.KEYHOLD_KEY_PROVIDER

    assert isinstance(provider_from_settings(), LocalKeyringProvider)


def test_kms_provider_from_settings(settings, aws_credentials):
    settings.KEYHOLD_KEY_PROVIDER = "aws-kms"
    settings.KEYHOLD_KMS_KEY_ID = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1"
    settings.KEYHOLD_KMS_REGION = REGION
    settings.KEYHOLD_KMS_KEY_VERSION = "3"
    settings.KEYHOLD_KMS_PREVIOUS_KEY_IDS = "mrk-0, mrk-00"

    provider = provider_from_settings()

    assert isinstance(provider, AwsKmsProvider)
    assert provider.key_version() == 3


def test_transit_provider_from_settings_reads_the_token_from_a_file(
    settings, transit_server, tmp_path, data_key
):
    transit_key(transit_server)
    settings.KEYHOLD_KEY_PROVIDER = "vault-transit"
    settings.KEYHOLD_TRANSIT_URL = transit_server.url
    settings.KEYHOLD_TRANSIT_TOKEN_FILE = str(token_file(tmp_path, transit_server.token))
    settings.KEYHOLD_TRANSIT_KEY = "keyhold"

    provider = provider_from_settings()

    assert isinstance(provider, VaultTransitProvider)
    assert provider.health().ok
    assert transit_server.token not in repr(provider)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"KEYHOLD_KEY_PROVIDER": "gcp-kms"}, "must be one of"),
        ({"KEYHOLD_KEY_PROVIDER": "aws-kms", "KEYHOLD_KMS_REGION": REGION}, "KEYHOLD_KMS_KEY_ID"),
        (
            {
                "KEYHOLD_KEY_PROVIDER": "aws-kms",
                "KEYHOLD_KMS_KEY_ID": "alias/keyhold",
                "KEYHOLD_KMS_REGION": REGION,
            },
            "alias",
        ),
        (
            {
                "KEYHOLD_KEY_PROVIDER": "aws-kms",
                "KEYHOLD_KMS_KEY_ID": "mrk-1",
                "KEYHOLD_KMS_REGION": REGION,
                "KEYHOLD_KMS_KEY_VERSION": "zero",
            },
            "whole number",
        ),
        ({"KEYHOLD_KEY_PROVIDER": "vault-transit"}, "KEYHOLD_TRANSIT_URL"),
        (
            {
                "KEYHOLD_KEY_PROVIDER": "vault-transit",
                "KEYHOLD_TRANSIT_URL": "http://vault.example.com",
                "KEYHOLD_TRANSIT_TOKEN_FILE": "/run/keyhold/vault-token",
                "KEYHOLD_TRANSIT_KEY": "keyhold",
            },
            "https",
        ),
    ],
)
def test_misconfigured_provider_is_refused_loudly(settings, aws_credentials, overrides, message):
    for name in [
        "KEYHOLD_KMS_KEY_ID",
        "KEYHOLD_KMS_REGION",
        "KEYHOLD_TRANSIT_URL",
        "KEYHOLD_TRANSIT_TOKEN_FILE",
        "KEYHOLD_TRANSIT_KEY",
    ]:
        if hasattr(settings, name):
            delattr(settings, name)
    for name, value in overrides.items():
        setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        provider_from_settings()


def test_wrapped_key_repr_omits_the_blob(data_key):
    wrapped = WrappedKey(provider="local", key_id="k", key_version=1, ciphertext=data_key)

    assert not leaks(repr(wrapped), data_key)
