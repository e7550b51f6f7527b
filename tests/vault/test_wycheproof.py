"""C24: Project Wycheproof's AES-GCM vectors run through Keyhold's wrapper, not the library.

The vectors are data (tests/vault/data/wycheproof_aes_gcm_subset.json, copied from
C2SP/wycheproof with its provenance inside). vault.crypto.aead_open is the one decryption
the sealed format uses: a valid vector in that shape (256-bit key, 96-bit nonce, 128-bit
tag) must give back exactly its plaintext; every other vector, invalid or of another
shape, must raise the wrapper's one error, DecryptionFailed, and nothing else.
"""

import json
import struct
from pathlib import Path

import pytest

from vault import crypto

DATA = Path(__file__).parent / "data" / "wycheproof_aes_gcm_subset.json"


def _load() -> list[tuple[dict, dict]]:
    document = json.loads(DATA.read_text())
    return [(group, test) for group in document["testGroups"] for test in group["tests"]]


VECTORS = _load()


def _params(selected):
    return [pytest.param(group, test, id=f"tc{test['tcId']}") for group, test in selected]


def _our_shape(group: dict) -> bool:
    return (group["keySize"], group["ivSize"], group["tagSize"]) == (256, 96, 128)


def _inputs(test: dict) -> dict[str, bytes]:
    return {
        "key": bytes.fromhex(test["key"]),
        "nonce": bytes.fromhex(test["iv"]),
        "ciphertext": bytes.fromhex(test["ct"] + test["tag"]),
        "associated_data": bytes.fromhex(test["aad"]),
    }


VALID = [(g, t) for g, t in VECTORS if _our_shape(g) and t["result"] == "valid"]
REFUSED = [(g, t) for g, t in VECTORS if not (_our_shape(g) and t["result"] == "valid")]


def test_the_vector_file_holds_what_the_check_needs():
    flags = {flag for _, test in VECTORS for flag in test["flags"]}
    assert len(VALID) >= 25
    assert sum(1 for g, t in REFUSED if _our_shape(g)) >= 20  # modified tags, our shape
    assert {"Ktv", "Pseudorandom", "SpecialCase", "ModifiedTag", "SmallIv", "LongIv"} <= flags
    assert "ZeroLengthIv" in flags
    assert any(t["msg"] == "" and t["aad"] == "" for _, t in VALID)  # empty everything
    assert any(t["msg"] == "" and t["aad"] for _, t in VALID)  # empty plaintext, some AAD
    assert len({t["tcId"] for _, t in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize(("group", "test"), _params(VALID))
def test_valid_vector_decrypts_to_its_plaintext(group, test):
    assert crypto.aead_open(**_inputs(test)) == bytes.fromhex(test["msg"])


@pytest.mark.parametrize(("group", "test"), _params(REFUSED))
def test_invalid_or_foreign_shaped_vector_raises_the_one_error(group, test):
    with pytest.raises(crypto.DecryptionFailed) as caught:
        crypto.aead_open(**_inputs(test))
    # Exactly the wrapper's error: a ValueError or InvalidTag from the library fails here.
    assert type(caught.value) is crypto.DecryptionFailed


@pytest.mark.parametrize("keep", [15, 12, 8, 4, 0])
@pytest.mark.parametrize(("group", "test"), _params(VALID[:4]))
def test_truncated_tag_of_a_valid_vector_is_refused(group, test, keep):
    inputs = _inputs(test)
    body = len(bytes.fromhex(test["ct"]))
    inputs["ciphertext"] = inputs["ciphertext"][: body + keep]
    with pytest.raises(crypto.DecryptionFailed) as caught:
        crypto.aead_open(**inputs)
    assert type(caught.value) is crypto.DecryptionFailed


@pytest.mark.parametrize(("group", "test"), _params(VALID))
def test_a_valid_vector_wrapped_in_our_header_is_refused_because_the_header_is_authenticated(
    group, test
):
    """The sealed format authenticates its header with the AAD: a GCM ciphertext made
    without it (as every Wycheproof vector is) must not open as a sealed value."""
    inputs = _inputs(test)
    header = struct.pack(">2sBI", crypto.MAGIC, crypto.FORMAT_VERSION, 1)
    sealed = header + inputs["nonce"] + inputs["ciphertext"]
    with pytest.raises(crypto.DecryptionFailed) as caught:
        crypto.open_sealed(
            sealed,
            key_for_version=lambda _version: inputs["key"],
            associated_data=inputs["associated_data"],
        )
    assert type(caught.value) is crypto.DecryptionFailed


@pytest.mark.parametrize(("group", "test"), _params(VALID[::8]))
def test_seal_then_open_round_trips_each_vectors_plaintext_under_its_key(group, test):
    key, plaintext, aad = (bytes.fromhex(test[k]) for k in ("key", "msg", "aad"))
    sealed = crypto.seal(plaintext, key=key, key_version=3, associated_data=aad)
    assert crypto.sealed_key_version(sealed) == 3
    assert crypto.open_sealed(sealed, key_for_version=lambda _v: key, associated_data=aad) == (
        plaintext
    )
