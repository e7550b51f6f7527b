"""Generated secrets: random passwords and passphrases from the `secrets` module only.

Passwords draw from the chosen character classes (at least one), minus look-alike and
user-excluded characters, and contain at least one character of every chosen class.
Passphrases draw words from vault/wordlist.txt (a bundled list of common English words).
"""

import secrets
import string
from functools import cache
from pathlib import Path

from config.errors import InvalidRequest

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
PASSPHRASE_MIN_WORDS = 3
PASSPHRASE_MAX_WORDS = 12
SYMBOLS = "!#$%&()*+,-./:;<=>?@[]^_{|}~"
LOOK_ALIKES = frozenset("0O1lI|`'\"")
WORDLIST_PATH = Path(__file__).with_name("wordlist.txt")


def _classes(
    *, lower: bool, upper: bool, digits: bool, symbols: bool, avoid: frozenset[str]
) -> list[str]:
    chosen = [
        (lower, string.ascii_lowercase),
        (upper, string.ascii_uppercase),
        (digits, string.digits),
        (symbols, SYMBOLS),
    ]
    return ["".join(c for c in chars if c not in avoid) for wanted, chars in chosen if wanted]


def password_generate(
    *,
    length: int = 24,
    lower: bool = True,
    upper: bool = True,
    digits: bool = True,
    symbols: bool = True,
    exclude_look_alikes: bool = True,
    exclude: str = "",
) -> str:
    """A random password with at least one character of every chosen class."""
    if not PASSWORD_MIN_LENGTH <= length <= PASSWORD_MAX_LENGTH:
        raise InvalidRequest(
            f"A password is {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters long."
        )
    avoid = frozenset(exclude) | (LOOK_ALIKES if exclude_look_alikes else frozenset())
    classes = _classes(lower=lower, upper=upper, digits=digits, symbols=symbols, avoid=avoid)
    if not classes:
        raise InvalidRequest("Choose at least one kind of character.")
    if any(not chars for chars in classes):
        raise InvalidRequest("The exclusions leave a chosen kind of character empty.")
    alphabet = "".join(classes)
    # One of each class first, the rest from the whole alphabet, then a secure shuffle.
    chars = [secrets.choice(chars) for chars in classes]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


@cache
def wordlist() -> tuple[str, ...]:
    """The bundled passphrase words, unique and in file order."""
    words = [w.strip() for w in WORDLIST_PATH.read_text(encoding="utf-8").splitlines()]
    return tuple(dict.fromkeys(w for w in words if w))


def passphrase_generate(*, words: int = 5, separator: str = "-") -> str:
    """A passphrase of `words` random words from the bundled list."""
    if not PASSPHRASE_MIN_WORDS <= words <= PASSPHRASE_MAX_WORDS:
        raise InvalidRequest(
            f"A passphrase has {PASSPHRASE_MIN_WORDS} to {PASSPHRASE_MAX_WORDS} words."
        )
    if len(separator) > 3 or any(c.isalpha() or (c.isspace() and c != " ") for c in separator):
        raise InvalidRequest("The separator is up to three characters, not letters.")
    vocabulary = wordlist()
    return separator.join(secrets.choice(vocabulary) for _ in range(words))
