"""Address encoding: BIP173/BIP350 vectors, Base58Check and WIF.

Known Base58 values are checked twice: against published strings and against a tiny
independent Base58Check encoder written here from the definition (big-integer base
conversion), so a shared bug between our code and the ``base58`` package would show up.
"""

from __future__ import annotations

import hashlib

import pytest
from vector_files import load_vector_json

from wattchain.core.hashes import hash160
from wattchain.core.keys import public_key
from wattchain.script.address import (BITCOIN_MAINNET, BITCOIN_REGTEST, BITCOIN_TESTNET,
                                      AddressError, AddressErrorKind, AddressFormat, Encoding,
                                      address_from_script, base58check_decode, bech32_decode,
                                      bech32_encode, decode_segwit_address, decode_wif,
                                      encode_segwit_address, encode_wif, is_valid_address,
                                      script_from_address)
from wattchain.script.standard import multisig, null_data, p2pk, p2pkh, p2sh, p2wpkh, p2wsh

FORMATS = (BITCOIN_MAINNET, BITCOIN_TESTNET, BITCOIN_REGTEST)
BIP173 = ("bitcoin", "bip173_bech32_vectors.json")
BIP350 = ("bitcoin", "bip350_bech32m_vectors.json")


def _string(entry: dict) -> str:
    """The exact test input: vectors with control/non-ASCII bytes give them as hex."""
    if "bytes_hex" in entry:
        return bytes.fromhex(entry["bytes_hex"]).decode("latin-1")
    return entry["string"]


def _format_for(address: str) -> AddressFormat | None:
    lowered = address.lower()
    for fmt in sorted(FORMATS, key=lambda f: -len(f.bech32_hrp)):
        if lowered.startswith(fmt.bech32_hrp + "1"):
            return fmt
    return None


# ---------------------------------------------------------------------------- bech32 strings
@pytest.mark.parametrize("vectors,encoding", [(BIP173, Encoding.BECH32),
                                              (BIP350, Encoding.BECH32M)])
def test_valid_bech32_strings(vectors, encoding):
    data = load_vector_json(*vectors)
    assert len(data["valid_strings"]) == 7
    for text in data["valid_strings"]:
        hrp, values, got = bech32_decode(text)
        assert got is encoding, text
        assert bech32_encode(hrp, values, encoding) == text.lower()
        # The other checksum variant must not validate the same string.
        other = Encoding.BECH32M if encoding is Encoding.BECH32 else Encoding.BECH32
        assert bech32_encode(hrp, values, other) != text.lower()


@pytest.mark.parametrize("vectors", [BIP173, BIP350])
def test_invalid_bech32_strings(vectors):
    entries = load_vector_json(*vectors)["invalid_strings"]
    assert len(entries) >= 12
    for entry in entries:
        with pytest.raises(AddressError):
            bech32_decode(_string(entry))


def test_bech32_length_limit_is_enforced():
    # The bech32 package's decoder skips the 90-character limit; ours must not.
    text = bech32_encode("a", [0] * 82, Encoding.BECH32)
    assert len(text) == 90
    bech32_decode(text)
    with pytest.raises(AddressError) as info:
        bech32_decode(bech32_encode("a", [0] * 83, Encoding.BECH32))
    assert info.value.kind is AddressErrorKind.BAD_FORMAT


# ---------------------------------------------------------------------------- segwit addresses
@pytest.mark.parametrize("vectors", [BIP173, BIP350])
def test_valid_segwit_addresses(vectors):
    entries = load_vector_json(*vectors)["valid_addresses"]
    checked = 0
    for entry in entries:
        address = entry["address"]
        fmt = _format_for(address)
        assert fmt is not None
        if entry.get("superseded_by_bip350"):
            continue
        script = script_from_address(address, fmt)
        assert script.hex() == entry["scriptPubKey"], address
        assert address_from_script(script, fmt) == address.lower()
        checked += 1
    assert checked == (3 if vectors is BIP173 else 8)


def test_bip173_v1_plus_bech32_addresses_are_rejected():
    entries = [e for e in load_vector_json(*BIP173)["valid_addresses"]
               if e.get("superseded_by_bip350")]
    assert len(entries) == 3
    for entry in entries:
        with pytest.raises(AddressError) as info:
            script_from_address(entry["address"], BITCOIN_MAINNET)
        assert info.value.kind is AddressErrorKind.WRONG_ENCODING
        # And we never produce them: the same script encodes with bech32m instead.
        script = bytes.fromhex(entry["scriptPubKey"])
        assert address_from_script(script, BITCOIN_MAINNET) != entry["address"].lower()


#: Reason text in the vectors -> the error kind we report on the address's own network.
_REASON_KINDS = [
    ("Invalid human-readable part", AddressErrorKind.WRONG_NETWORK),
    ("Bech32 instead of Bech32m", AddressErrorKind.WRONG_ENCODING),
    ("Bech32m instead of Bech32", AddressErrorKind.WRONG_ENCODING),
    ("Invalid character in checksum", AddressErrorKind.BAD_CHARACTER),
    ("Invalid checksum", AddressErrorKind.BAD_CHECKSUM),
    ("Invalid witness version", AddressErrorKind.BAD_VERSION),
    ("Invalid program length", AddressErrorKind.BAD_LENGTH),
    ("Mixed case", AddressErrorKind.MIXED_CASE),
    ("padding", AddressErrorKind.BAD_PADDING),
    ("Empty data section", AddressErrorKind.BAD_FORMAT),
]


@pytest.mark.parametrize("vectors", [BIP173, BIP350])
def test_invalid_segwit_addresses(vectors):
    entries = load_vector_json(*vectors)["invalid_addresses"]
    assert len(entries) >= 10
    for entry in entries:
        address = entry["address"]
        for fmt in FORMATS:
            with pytest.raises(AddressError):
                script_from_address(address, fmt)
            assert not is_valid_address(address, fmt)
        expected = next(kind for text, kind in _REASON_KINDS if text in entry["reason"])
        with pytest.raises(AddressError) as info:
            script_from_address(address, _format_for(address) or BITCOIN_MAINNET)
        assert info.value.kind is expected, (address, entry["reason"])


def test_segwit_encoding_choice_and_network_separation():
    program = bytes(range(32))
    v0 = encode_segwit_address("bc", 0, program)
    v1 = encode_segwit_address("bc", 1, program)
    assert bech32_decode(v0)[2] is Encoding.BECH32
    assert bech32_decode(v1)[2] is Encoding.BECH32M
    assert decode_segwit_address("bc", v1) == (1, program)
    regtest = address_from_script(p2wsh(b"\x51"), BITCOIN_REGTEST)
    assert regtest.startswith("bcrt1")
    with pytest.raises(AddressError) as info:
        script_from_address(regtest, BITCOIN_MAINNET)
    assert info.value.kind is AddressErrorKind.WRONG_NETWORK
    assert script_from_address(regtest.upper(), BITCOIN_REGTEST) == p2wsh(b"\x51")
    # An HRP that merely starts with ours plus "1" is another network, not ours.
    lookalike = encode_segwit_address("bc1x", 0, bytes(20))
    assert lookalike.startswith("bc1")
    for fmt in FORMATS:
        with pytest.raises(AddressError) as info:
            script_from_address(lookalike, fmt)
        assert info.value.kind is AddressErrorKind.WRONG_NETWORK
    with pytest.raises(AddressError) as info:
        decode_segwit_address("tb", v0)
    assert info.value.kind is AddressErrorKind.WRONG_NETWORK


# ---------------------------------------------------------------------------- base58
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _independent_base58check(payload: bytes) -> str:
    """Base58Check from its definition, sharing no code with the implementation under test."""
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, rem = divmod(number, 58)
        digits = _B58[rem] + digits
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + digits


G_COMPRESSED = public_key((1).to_bytes(32, "big"))
G_UNCOMPRESSED = public_key((1).to_bytes(32, "big"), compressed=False)
GENESIS_PUBKEY = bytes.fromhex(
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb6"
    "49f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f")


@pytest.mark.parametrize("pubkey,expected", [
    (G_COMPRESSED, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"),
    (G_UNCOMPRESSED, "1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm"),
    (GENESIS_PUBKEY, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),  # the genesis coinbase key
])
def test_known_p2pkh_addresses(pubkey, expected):
    script = p2pkh(hash160(pubkey))
    assert address_from_script(script, BITCOIN_MAINNET) == expected
    assert _independent_base58check(b"\x00" + hash160(pubkey)) == expected
    assert script_from_address(expected, BITCOIN_MAINNET) == script


@pytest.mark.parametrize("fmt", FORMATS)
def test_base58_round_trips(fmt):
    for i in range(1, 30):
        digest = hashlib.sha256(bytes([i])).digest()[:20]
        for script, version in ((p2pkh(digest), fmt.p2pkh_version),
                                (p2sh(digest), fmt.p2sh_version)):
            address = address_from_script(script, fmt)
            assert address == _independent_base58check(bytes([version]) + digest)
            assert script_from_address(address, fmt) == script
    assert address_from_script(p2sh(bytes(20)), BITCOIN_MAINNET).startswith("3")
    assert address_from_script(p2sh(bytes(20)), BITCOIN_TESTNET).startswith("2")


def test_base58_errors():
    good = "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
    cases = [
        ("", AddressErrorKind.BAD_FORMAT),
        (good[:-1] + ("J" if good[-1] != "J" else "K"), AddressErrorKind.BAD_CHECKSUM),
        ("0" + good[1:], AddressErrorKind.BAD_CHARACTER),
        (_independent_base58check(b"\x00" + bytes(21)), AddressErrorKind.BAD_LENGTH),
        (_independent_base58check(b"\x30" + bytes(20)), AddressErrorKind.BAD_VERSION),
    ]
    for text, kind in cases:
        with pytest.raises(AddressError) as info:
            script_from_address(text, BITCOIN_MAINNET)
        assert info.value.kind is kind, text
    testnet = address_from_script(p2pkh(bytes(20)), BITCOIN_TESTNET)
    with pytest.raises(AddressError) as info:
        script_from_address(testnet, BITCOIN_MAINNET)
    assert info.value.kind is AddressErrorKind.BAD_VERSION
    with pytest.raises(AddressError):
        base58check_decode("1111")


def test_scripts_without_addresses():
    for script in (p2pk(G_COMPRESSED), multisig(1, [G_COMPRESSED]), null_data(b"hi"), b"",
                   b"\x51"):
        assert address_from_script(script, BITCOIN_MAINNET) is None
    assert address_from_script(p2wpkh(hash160(G_COMPRESSED)), BITCOIN_MAINNET) == \
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"


# ---------------------------------------------------------------------------- WIF
WIF_KEY = bytes.fromhex("0C28FCA386C7A227600B2FE50B7CAE11EC86D3BF1FBE471BE89827E19D72AA1D")


def test_wif_known_vectors():
    uncompressed = "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ"
    compressed = "KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617"
    assert encode_wif(WIF_KEY, BITCOIN_MAINNET, compressed=False) == uncompressed
    assert encode_wif(WIF_KEY, BITCOIN_MAINNET) == compressed
    assert _independent_base58check(b"\x80" + WIF_KEY) == uncompressed
    assert decode_wif(uncompressed, BITCOIN_MAINNET) == (WIF_KEY, False)
    assert decode_wif(compressed, BITCOIN_MAINNET) == (WIF_KEY, True)


@pytest.mark.parametrize("fmt", [BITCOIN_MAINNET, BITCOIN_TESTNET])
def test_wif_round_trip_and_errors(fmt):
    for i in range(1, 20):
        key = hashlib.sha256(bytes([i])).digest()
        for compressed in (True, False):
            assert decode_wif(encode_wif(key, fmt, compressed), fmt) == (key, compressed)
    other = BITCOIN_TESTNET if fmt is BITCOIN_MAINNET else BITCOIN_MAINNET
    with pytest.raises(AddressError) as info:
        decode_wif(encode_wif(WIF_KEY, other), fmt)
    assert info.value.kind is AddressErrorKind.WRONG_NETWORK
    prefix = bytes((fmt.wif_prefix,))
    order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    for payload, kind in ((prefix + bytes(32), AddressErrorKind.BAD_KEY),
                          (prefix + order.to_bytes(32, "big"), AddressErrorKind.BAD_KEY),
                          (prefix + WIF_KEY + b"\x02", AddressErrorKind.BAD_LENGTH),
                          (prefix + WIF_KEY[:31], AddressErrorKind.BAD_LENGTH)):
        with pytest.raises(AddressError) as info:
            decode_wif(_independent_base58check(payload), fmt)
        assert info.value.kind is kind
    with pytest.raises(AddressError):
        encode_wif(bytes(32), fmt)


def test_address_format_validation():
    with pytest.raises(ValueError):
        AddressFormat("BC", 0, 5, 0x80)
    with pytest.raises(ValueError):
        AddressFormat("bc", 0, 0, 0x80)
    with pytest.raises(ValueError):
        AddressFormat("bc", 256, 5, 0x80)
    custom = AddressFormat("wc", 0x49, 0x53, 0xC9)
    address = address_from_script(p2pkh(bytes(20)), custom)
    assert script_from_address(address, custom) == p2pkh(bytes(20))
    with pytest.raises(AddressError):
        script_from_address(address, BITCOIN_MAINNET)
