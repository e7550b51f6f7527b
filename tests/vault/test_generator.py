"""Generated passwords and passphrases: lengths, classes, exclusions, the word list."""

import string

import pytest

from config.errors import InvalidRequest
from vault.generator import (
    LOOK_ALIKES,
    SYMBOLS,
    passphrase_generate,
    password_generate,
    wordlist,
)

CLASSES = {
    "lower": set(string.ascii_lowercase),
    "upper": set(string.ascii_uppercase),
    "digits": set(string.digits),
    "symbols": set(SYMBOLS),
}
COMBINATIONS = [
    {"lower": True, "upper": False, "digits": False, "symbols": False},
    {"lower": False, "upper": True, "digits": True, "symbols": False},
    {"lower": False, "upper": False, "digits": True, "symbols": False},
    {"lower": True, "upper": True, "digits": True, "symbols": True},
    {"lower": False, "upper": False, "digits": False, "symbols": True},
]


@pytest.mark.parametrize("length", [8, 9, 16, 24, 64, 127, 128])
@pytest.mark.parametrize(
    "chosen", COMBINATIONS, ids=lambda c: "+".join(k for k, v in c.items() if v)
)
def test_password_has_the_length_and_one_of_every_chosen_class_only(length, chosen):
    for _ in range(25):
        password = password_generate(length=length, **chosen)
        assert len(password) == length
        used = set(password)
        for name, wanted in chosen.items():
            if wanted:
                assert used & CLASSES[name], name
            else:
                assert not used & CLASSES[name], name
        assert not used & LOOK_ALIKES


def test_look_alikes_may_be_allowed_and_user_exclusions_are_honoured():
    seen = set()
    for _ in range(200):
        password = password_generate(
            length=64, symbols=False, exclude_look_alikes=False, exclude="abcXYZ9"
        )
        assert not set(password) & set("abcXYZ9")
        seen |= set(password)
    assert seen & {"0", "O", "1", "l", "I"}


def test_passwords_do_not_repeat():
    assert len({password_generate(length=16) for _ in range(500)}) == 500


@pytest.mark.parametrize("length", [-1, 0, 7, 129, 1000])
def test_length_outside_8_to_128_is_refused(length):
    with pytest.raises(InvalidRequest, match="8 to 128"):
        password_generate(length=length)


def test_no_class_or_an_emptied_class_is_refused():
    with pytest.raises(InvalidRequest, match="at least one"):
        password_generate(lower=False, upper=False, digits=False, symbols=False)
    with pytest.raises(InvalidRequest, match="exclusions"):
        password_generate(lower=False, upper=False, symbols=False, exclude="23456789")


@pytest.mark.parametrize("words", [3, 4, 7, 12])
@pytest.mark.parametrize("separator", ["-", " ", ".", "_", ""])
def test_passphrase_has_the_word_count_from_the_list(words, separator):
    vocabulary = set(wordlist())
    phrase = passphrase_generate(words=words, separator=separator or "-")
    parts = phrase.split(separator or "-")
    assert len(parts) == words
    assert set(parts) <= vocabulary


@pytest.mark.parametrize("words", [0, 2, 13])
def test_passphrase_word_count_outside_3_to_12_is_refused(words):
    with pytest.raises(InvalidRequest, match="3 to 12"):
        passphrase_generate(words=words)


@pytest.mark.parametrize("separator", ["a", "----", "\t"])
def test_odd_separators_are_refused(separator):
    with pytest.raises(InvalidRequest, match="separator"):
        passphrase_generate(separator=separator)


def test_the_word_list_is_large_unique_and_plain():
    words = wordlist()
    assert len(words) >= 2000
    assert len(set(words)) == len(words)
    assert all(word.isascii() and word.isalpha() and word.islower() for word in words)
    assert len({passphrase_generate(words=4) for _ in range(200)}) == 200
