"""Addresses: Base58Check (P2PKH/P2SH, WIF keys) and Bech32/Bech32m (SegWit, BIP173/BIP350).

There is deliberately no "current network": every function takes an :class:`AddressFormat`.
wattchain's chain parameters build their own; the Bitcoin constants below exist for tests and
conformance vectors only, so a Bitcoin address can never be silently accepted as ours.

The PyPI ``bech32`` package (1.2.0) implements only original Bech32: no Bech32m constant, and
its decoder skips the 90-character limit. We therefore use its primitives (polymod, HRP
expansion, bit conversion, charset) and add the BIP350 checksum variant and the full set of
string checks here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import base58
from bech32 import CHARSET, bech32_hrp_expand, bech32_polymod, convertbits

from wattchain.script.opcodes import Op
from wattchain.script.standard import TxOutType, solve

_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_BECH32_MAX_LENGTH = 90
_BASE58_ALPHABET = frozenset(base58.BITCOIN_ALPHABET.decode())


class Encoding(Enum):
    """Bech32 checksum variants; the value is the constant the polymod must equal."""

    BECH32 = 1
    BECH32M = 0x2BC830A3


class AddressErrorKind(Enum):
    """Why an address or key string was rejected (lets callers and tests tell cases apart)."""

    BAD_FORMAT = "bad format"              # empty, no separator, short checksum, empty data
    BAD_CHARACTER = "bad character"        # outside the Base58 / Bech32 alphabets or ASCII
    MIXED_CASE = "mixed case"
    BAD_CHECKSUM = "bad checksum"
    WRONG_ENCODING = "wrong checksum variant"  # bech32 for v1+ or bech32m for v0 (BIP350)
    WRONG_NETWORK = "wrong network"        # HRP or version byte of another network
    BAD_VERSION = "bad version"            # witness version > 16, unknown Base58 version
    BAD_LENGTH = "bad length"              # program / payload length
    BAD_PADDING = "bad padding"            # Bech32 8-to-5 bit padding
    BAD_KEY = "bad key"                    # WIF payload not a valid private key


class AddressError(ValueError):
    """An address, Bech32 string or WIF key could not be decoded; ``kind`` says why."""

    def __init__(self, kind: AddressErrorKind, detail: str) -> None:
        self.kind = kind
        super().__init__(f"{kind.value}: {detail}")


@dataclass(frozen=True, slots=True)
class AddressFormat:
    """How one network writes addresses and private keys.

    Version bytes are single bytes, as on Bitcoin; ``bech32_hrp`` is stored lowercase.
    """

    bech32_hrp: str
    p2pkh_version: int
    p2sh_version: int
    wif_prefix: int

    def __post_init__(self) -> None:
        hrp = self.bech32_hrp
        if not (1 <= len(hrp) <= 83 and hrp == hrp.lower()
                and all(33 <= ord(c) <= 126 for c in hrp)):
            raise ValueError("bech32 HRP must be 1..83 lowercase printable ASCII characters")
        for name in ("p2pkh_version", "p2sh_version", "wif_prefix"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} must be one byte")
        if self.p2pkh_version == self.p2sh_version:
            raise ValueError("P2PKH and P2SH version bytes must differ")


#: Bitcoin's formats, for tests and vectors only (see the module docstring).
BITCOIN_MAINNET = AddressFormat("bc", 0x00, 0x05, 0x80)
BITCOIN_TESTNET = AddressFormat("tb", 0x6F, 0xC4, 0xEF)
BITCOIN_REGTEST = AddressFormat("bcrt", 0x6F, 0xC4, 0xEF)


# ---------------------------------------------------------------------------- bech32 strings
def bech32_encode(hrp: str, data: list[int], encoding: Encoding) -> str:
    """Encode 5-bit ``data`` under ``hrp`` with the checksum of ``encoding`` (lowercase)."""
    values = bech32_hrp_expand(hrp) + list(data)
    polymod = bech32_polymod(values + [0] * 6) ^ encoding.value
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in list(data) + checksum)


def bech32_decode(text: str) -> tuple[str, list[int], Encoding]:
    """Decode a Bech32 or Bech32m string into (hrp, 5-bit data without checksum, encoding).

    Enforces every BIP173 string rule: printable ASCII, no mixed case, at most 90 characters,
    a non-empty HRP, a six-character checksum, and data characters from the charset.
    """
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise AddressError(AddressErrorKind.BAD_CHARACTER, "non-printable or non-ASCII character")
    if text.lower() != text and text.upper() != text:
        raise AddressError(AddressErrorKind.MIXED_CASE, "bech32 strings must not mix case")
    if len(text) > _BECH32_MAX_LENGTH:
        raise AddressError(AddressErrorKind.BAD_FORMAT, "longer than 90 characters")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1:
        raise AddressError(AddressErrorKind.BAD_FORMAT, "missing separator or empty HRP")
    if sep + 7 > len(text):
        raise AddressError(AddressErrorKind.BAD_FORMAT, "checksum shorter than 6 characters")
    hrp, rest = text[:sep], text[sep + 1:]
    bad = [c for c in rest if c not in CHARSET]
    if bad:
        raise AddressError(AddressErrorKind.BAD_CHARACTER, f"invalid data character {bad[0]!r}")
    data = [CHARSET.index(c) for c in rest]
    polymod = bech32_polymod(bech32_hrp_expand(hrp) + data)
    for encoding in Encoding:
        if polymod == encoding.value:
            return hrp, data[:-6], encoding
    raise AddressError(AddressErrorKind.BAD_CHECKSUM, "bech32/bech32m checksum mismatch")


def encode_segwit_address(hrp: str, version: int, program: bytes) -> str:
    """SegWit address: Bech32 for v0, Bech32m for v1..v16 (BIP350)."""
    _check_witness_program(version, program)
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    five_bit = convertbits(program, 8, 5, True)
    assert five_bit is not None  # 8-bit input always converts
    return bech32_encode(hrp, [version, *five_bit], encoding)


def decode_segwit_address(hrp: str, address: str) -> tuple[int, bytes]:
    """(witness version, program) of a SegWit ``address`` under ``hrp``."""
    got_hrp, data, encoding = bech32_decode(address)
    if got_hrp != hrp:
        raise AddressError(AddressErrorKind.WRONG_NETWORK, f"HRP {got_hrp!r}, expected {hrp!r}")
    if not data:
        raise AddressError(AddressErrorKind.BAD_FORMAT, "empty data section")
    version = data[0]
    if version > 16:
        raise AddressError(AddressErrorKind.BAD_VERSION, f"witness version {version} > 16")
    decoded = convertbits(data[1:], 5, 8, False)
    if decoded is None:
        raise AddressError(AddressErrorKind.BAD_PADDING, "invalid padding in 5-to-8 conversion")
    program = bytes(decoded)
    _check_witness_program(version, program)
    expected = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    if encoding is not expected:
        raise AddressError(AddressErrorKind.WRONG_ENCODING,
                           f"witness v{version} must use {expected.name.lower()} (BIP350)")
    return version, program


def _check_witness_program(version: int, program: bytes) -> None:
    if not 0 <= version <= 16:
        raise AddressError(AddressErrorKind.BAD_VERSION, f"witness version {version}")
    if not 2 <= len(program) <= 40:
        raise AddressError(AddressErrorKind.BAD_LENGTH,
                           f"witness program of {len(program)} bytes (2..40 allowed)")
    if version == 0 and len(program) not in (20, 32):
        raise AddressError(AddressErrorKind.BAD_LENGTH,
                           f"v0 witness program of {len(program)} bytes (20 or 32 allowed)")


# ---------------------------------------------------------------------------- base58check
def base58check_encode(payload: bytes) -> str:
    return base58.b58encode_check(payload).decode("ascii")


def base58check_decode(text: str) -> bytes:
    """Payload of a Base58Check string (version byte included), with typed errors."""
    if not text:
        raise AddressError(AddressErrorKind.BAD_FORMAT, "empty string")
    if not set(text) <= _BASE58_ALPHABET:
        raise AddressError(AddressErrorKind.BAD_CHARACTER, "character outside the Base58 alphabet")
    try:
        return base58.b58decode_check(text)
    except ValueError:
        raise AddressError(AddressErrorKind.BAD_CHECKSUM, "Base58Check checksum mismatch") from None


# ---------------------------------------------------------------------------- addresses
def address_from_script(script_pubkey: bytes, fmt: AddressFormat) -> str | None:
    """The address paying to ``script_pubkey``, or None if it has none.

    Bare P2PK, multisig, OP_RETURN and nonstandard scripts have no address (as in current
    Bitcoin Core, which no longer renders P2PK as the key's P2PKH address: that would be a
    *different* output).
    """
    kind, solutions = solve(script_pubkey)
    if kind is TxOutType.PUBKEYHASH:
        return base58check_encode(bytes((fmt.p2pkh_version,)) + solutions[0])
    if kind is TxOutType.SCRIPTHASH:
        return base58check_encode(bytes((fmt.p2sh_version,)) + solutions[0])
    if kind in (TxOutType.WITNESS_V0_KEYHASH, TxOutType.WITNESS_V0_SCRIPTHASH):
        return encode_segwit_address(fmt.bech32_hrp, 0, solutions[0])
    if kind is TxOutType.WITNESS_UNKNOWN:
        return encode_segwit_address(fmt.bech32_hrp, solutions[0][0], solutions[1])
    return None


def script_from_address(address: str, fmt: AddressFormat) -> bytes:
    """The scriptPubKey an ``address`` of network ``fmt`` pays to; raises :class:`AddressError`.

    Strings starting with the network's HRP and separator are decoded as Bech32(m); anything
    else as Base58Check. If Base58 fails but the string is valid Bech32 for some other HRP, the
    error says "wrong network" rather than a confusing Base58 complaint.
    """
    if address.lower().startswith(fmt.bech32_hrp + "1"):
        version, program = decode_segwit_address(fmt.bech32_hrp, address)
        return _witness_script(version, program)
    try:
        payload = base58check_decode(address)
    except AddressError as base58_error:
        try:
            hrp, _, _ = bech32_decode(address)
        except AddressError:
            raise base58_error from None
        raise AddressError(AddressErrorKind.WRONG_NETWORK,
                           f"bech32 HRP {hrp!r}, expected {fmt.bech32_hrp!r}") from None
    if len(payload) != 21:
        raise AddressError(AddressErrorKind.BAD_LENGTH,
                           f"Base58 payload of {len(payload)} bytes (21 expected)")
    version, body = payload[0], payload[1:]
    if version == fmt.p2pkh_version:
        return bytes((Op.OP_DUP, Op.OP_HASH160, 20)) + body + bytes(
            (Op.OP_EQUALVERIFY, Op.OP_CHECKSIG))
    if version == fmt.p2sh_version:
        return bytes((Op.OP_HASH160, 20)) + body + bytes((Op.OP_EQUAL,))
    raise AddressError(AddressErrorKind.BAD_VERSION,
                       f"Base58 version byte 0x{version:02x} is not this network's")


def _witness_script(version: int, program: bytes) -> bytes:
    opcode = Op.OP_0 if version == 0 else Op.OP_1 + version - 1
    return bytes((opcode, len(program))) + program


def is_valid_address(address: str, fmt: AddressFormat) -> bool:
    try:
        script_from_address(address, fmt)
    except AddressError:
        return False
    return True


# ---------------------------------------------------------------------------- WIF keys
def encode_wif(private_key: bytes, fmt: AddressFormat, compressed: bool = True) -> str:
    """Wallet Import Format: prefix || key || (0x01 if the key's public key is compressed)."""
    _check_private_key(private_key)
    return base58check_encode(bytes((fmt.wif_prefix,)) + private_key
                              + (b"\x01" if compressed else b""))


def decode_wif(text: str, fmt: AddressFormat) -> tuple[bytes, bool]:
    """(private key, compressed) from a WIF string of network ``fmt``."""
    payload = base58check_decode(text)
    if len(payload) == 34 and payload[-1] == 0x01:
        key, compressed = payload[1:33], True
    elif len(payload) == 33:
        key, compressed = payload[1:], False
    else:
        raise AddressError(AddressErrorKind.BAD_LENGTH, f"WIF payload of {len(payload)} bytes")
    if payload[0] != fmt.wif_prefix:
        raise AddressError(AddressErrorKind.WRONG_NETWORK,
                           f"WIF prefix 0x{payload[0]:02x}, expected 0x{fmt.wif_prefix:02x}")
    _check_private_key(key)
    return key, compressed


def _check_private_key(key: bytes) -> None:
    if len(key) != 32 or not 0 < int.from_bytes(key, "big") < _SECP256K1_ORDER:
        raise AddressError(AddressErrorKind.BAD_KEY, "not a valid secp256k1 private key")
