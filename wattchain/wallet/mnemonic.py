"""BIP39 mnemonics through the reference implementation's package (``mnemonic`` on PyPI).

The package owns the word lists, the checksum and the PBKDF2-HMAC-SHA512 stretching; this
module only fixes the choices the wallet supports (English, 12 or 24 words) and turns the
package's ValueErrors into typed wallet errors.
"""

from __future__ import annotations

from mnemonic import Mnemonic

from wattchain.wallet.errors import InvalidParameter

#: Words -> entropy bits, for the lengths the wallet creates.
STRENGTH_FOR_WORDS = {12: 128, 24: 256}


def _english() -> Mnemonic:
    return Mnemonic("english")


def generate_mnemonic(words: int = 24) -> str:
    """A fresh random mnemonic of ``words`` words (entropy from ``os.urandom``)."""
    if words not in STRENGTH_FOR_WORDS:
        raise InvalidParameter("mnemonics have 12 or 24 words")
    return _english().generate(STRENGTH_FOR_WORDS[words])


def normalize_mnemonic(words: str) -> str:
    return " ".join(Mnemonic.normalize_string(words).lower().split())


def validate_mnemonic(words: str) -> str:
    """The normalized mnemonic; raises InvalidParameter for unknown words or a bad checksum."""
    text = normalize_mnemonic(words)
    if len(text.split()) not in (12, 15, 18, 21, 24):
        raise InvalidParameter("a BIP39 mnemonic has 12, 15, 18, 21 or 24 words")
    try:
        valid = _english().check(text)
    except (ValueError, LookupError):
        valid = False
    if not valid:
        raise InvalidParameter("invalid BIP39 mnemonic (unknown word or bad checksum)")
    return text


def mnemonic_to_seed(words: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP39 seed of a valid mnemonic and optional passphrase."""
    return Mnemonic.to_seed(validate_mnemonic(words), passphrase)
