"""Properties of the sealed-value format (checks C21, C22), for arbitrary inputs.

Round trip for any bytes (empty, one byte, non-UTF-8, over a megabyte); any single flipped
bit anywhere in a sealed value, a truncation, or different associated data is refused with
the one generic error; unknown format versions are refused.
"""

import os

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vault import crypto

KEY = crypto.generate_key()


def open_with(sealed: bytes, associated_data: bytes) -> bytes:
    return crypto.open_sealed(
        sealed, key_for_version=lambda version: KEY, associated_data=associated_data
    )


@given(plaintext=st.binary(max_size=4096), associated_data=st.binary(max_size=256))
def test_any_bytes_round_trip(plaintext, associated_data):
    sealed = crypto.seal(plaintext, key=KEY, key_version=1, associated_data=associated_data)
    assert open_with(sealed, associated_data) == plaintext


def test_a_value_over_a_megabyte_round_trips():
    plaintext = os.urandom(1_200_000)
    sealed = crypto.seal(plaintext, key=KEY, key_version=3, associated_data=b"ad")
    assert crypto.sealed_key_version(sealed) == 3
    assert open_with(sealed, b"ad") == plaintext


@settings(max_examples=300)
@given(plaintext=st.binary(max_size=64), data=st.data())
def test_any_flipped_bit_is_refused_with_the_one_generic_error(plaintext, data):
    sealed = crypto.seal(plaintext, key=KEY, key_version=1, associated_data=b"client|field")
    bit = data.draw(st.integers(min_value=0, max_value=len(sealed) * 8 - 1))
    tampered = bytearray(sealed)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(crypto.DecryptionFailed):
        open_with(bytes(tampered), b"client|field")


@given(plaintext=st.binary(max_size=64), cut=st.integers(min_value=1, max_value=40))
def test_a_truncated_value_is_refused(plaintext, cut):
    sealed = crypto.seal(plaintext, key=KEY, key_version=1, associated_data=b"ad")
    with pytest.raises(crypto.DecryptionFailed):
        open_with(sealed[: max(len(sealed) - cut, 0)], b"ad")


@given(
    plaintext=st.binary(max_size=64),
    bound=st.binary(min_size=1, max_size=64),
    other=st.binary(min_size=1, max_size=64),
)
def test_other_associated_data_is_refused(plaintext, bound, other):
    assume(bound != other)
    sealed = crypto.seal(plaintext, key=KEY, key_version=1, associated_data=bound)
    with pytest.raises(crypto.DecryptionFailed):
        open_with(sealed, other)
