"""secp256k1 ECDSA with Bitcoin's consensus rules, cross-checked against the ``cryptography`` package.

Lax DER cases follow Bitcoin Core's parser: excess zero padding and long-form lengths are
accepted, the sequence length is ignored, R/S above 32 significant bytes or at/above the group
order become a never-valid signature, and high-S signatures verify after normalisation.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from wattchain.core.keys import (
    is_valid_public_key,
    parse_der_lax,
    public_key,
    sign_ecdsa,
    verify_ecdsa,
)

#: secp256k1 group order and field prime (SEC 2).
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F

SECRET = hashlib.sha256(b"wattchain test key").digest()
MSG = hashlib.sha256(b"a 32-byte digest").digest()


def _int_bytes(value: int) -> bytes:
    """Minimal unsigned big-endian DER INTEGER contents (leading 0x00 if the top bit is set)."""
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return b"\x00" + raw if raw[0] & 0x80 else raw


def _der(r_bytes: bytes, s_bytes: bytes, *, seq_len: bytes | None = None,
         r_len: bytes | None = None, s_len: bytes | None = None) -> bytes:
    """Assemble a DER-like signature with optionally overridden length fields."""
    r_part = b"\x02" + (r_len if r_len is not None else bytes((len(r_bytes),))) + r_bytes
    s_part = b"\x02" + (s_len if s_len is not None else bytes((len(s_bytes),))) + s_bytes
    body = r_part + s_part
    return b"\x30" + (seq_len if seq_len is not None else bytes((len(body),))) + body


@pytest.fixture(scope="module")
def signed() -> tuple[bytes, int, int]:
    """(pubkey, r, s) for SECRET over MSG."""
    sig = sign_ecdsa(SECRET, MSG)
    r, s = decode_dss_signature(sig)
    return public_key(SECRET), r, s


# ---------------------------------------------------------------------------- sign / verify
def test_sign_verify_round_trip(signed: tuple[bytes, int, int]) -> None:
    pubkey, r, s = signed
    sig = sign_ecdsa(SECRET, MSG)
    assert sig == encode_dss_signature(r, s)  # strict, minimal DER
    assert s <= N // 2  # low S
    assert sign_ecdsa(SECRET, MSG) == sig  # deterministic (RFC6979)
    assert verify_ecdsa(pubkey, sig, MSG)
    assert verify_ecdsa(public_key(SECRET, compressed=False), sig, MSG)
    assert not verify_ecdsa(pubkey, sig, hashlib.sha256(MSG).digest())
    other = public_key(hashlib.sha256(b"other").digest())
    assert not verify_ecdsa(other, sig, MSG)


def test_public_key_formats() -> None:
    compressed = public_key(SECRET)
    uncompressed = public_key(SECRET, compressed=False)
    assert len(compressed) == 33 and compressed[0] in (2, 3)
    assert len(uncompressed) == 65 and uncompressed[0] == 4
    assert compressed[1:] == uncompressed[1:33]
    assert compressed[0] == 2 + (uncompressed[-1] & 1)
    # The point satisfies y^2 = x^3 + 7 (mod p).
    x = int.from_bytes(uncompressed[1:33], "big")
    y = int.from_bytes(uncompressed[33:], "big")
    assert (y * y - x ** 3 - 7) % P == 0
    # Private key 1 is the generator G.
    assert public_key((1).to_bytes(32, "big")).hex() == (
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


def test_verify_rejects_wrong_digest_length(signed: tuple[bytes, int, int]) -> None:
    pubkey, r, s = signed
    sig = encode_dss_signature(r, s)
    for bad in (b"", MSG[:31], MSG + b"\x00"):
        with pytest.raises(ValueError):
            verify_ecdsa(pubkey, sig, bad)


# ---------------------------------------------------------------------------- lax DER
def test_high_s_verifies_after_normalisation(signed: tuple[bytes, int, int]) -> None:
    pubkey, r, s = signed
    high = encode_dss_signature(r, N - s)
    assert N - s > N // 2
    assert verify_ecdsa(pubkey, high, MSG)
    assert parse_der_lax(high) == r.to_bytes(32, "big") + (N - s).to_bytes(32, "big")


def test_excess_zero_padding_accepted(signed: tuple[bytes, int, int]) -> None:
    pubkey, r, s = signed
    padded = _der(b"\x00\x00\x00" + _int_bytes(r), b"\x00\x00" + _int_bytes(s))
    assert verify_ecdsa(pubkey, padded, MSG)
    assert parse_der_lax(padded) == r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_long_form_lengths_accepted(signed: tuple[bytes, int, int]) -> None:
    pubkey, r, s = signed
    rb, sb = _int_bytes(r), _int_bytes(s)
    long_form = _der(rb, sb, seq_len=b"\x81" + bytes((len(rb) + len(sb) + 4,)),
                     r_len=b"\x81" + bytes((len(rb),)),
                     s_len=b"\x82\x00" + bytes((len(sb),)))
    assert verify_ecdsa(pubkey, long_form, MSG)
    # Zero bytes inside a long-form length are skipped, as Core does.
    padded_len = _der(rb, sb, r_len=b"\x84\x00\x00\x00" + bytes((len(rb),)))
    assert verify_ecdsa(pubkey, padded_len, MSG)


def test_sequence_length_and_trailing_bytes_ignored(signed: tuple[bytes, int, int]) -> None:
    pubkey, r, s = signed
    rb, sb = _int_bytes(r), _int_bytes(s)
    assert verify_ecdsa(pubkey, _der(rb, sb, seq_len=b"\x00"), MSG)
    assert verify_ecdsa(pubkey, _der(rb, sb, seq_len=b"\x7f"), MSG)
    assert verify_ecdsa(pubkey, _der(rb, sb) + b"\xde\xad\xbe\xef", MSG)


def test_overflowing_r_or_s_never_valid(signed: tuple[bytes, int, int]) -> None:
    pubkey, r, s = signed
    zero = bytes(64)
    # 33 significant bytes: the parser substitutes the all-zero signature.
    too_long = _der(b"\x01" + r.to_bytes(32, "big"), _int_bytes(s))
    assert parse_der_lax(too_long) == zero
    assert not verify_ecdsa(pubkey, too_long, MSG)
    # 32-byte values at or above the group order overflow: never valid.
    assert not verify_ecdsa(pubkey, encode_dss_signature(N, s), MSG)
    assert not verify_ecdsa(pubkey, encode_dss_signature(N + 1, s), MSG)
    assert not verify_ecdsa(pubkey, encode_dss_signature(2**256 - 1, s), MSG)
    assert not verify_ecdsa(pubkey, encode_dss_signature(r, N), MSG)
    assert not verify_ecdsa(pubkey, encode_dss_signature(r, s + N), MSG)
    assert not verify_ecdsa(pubkey, encode_dss_signature(0, s), MSG)


@pytest.mark.parametrize("sig", [
    b"",
    b"\x30",
    b"\x31\x06\x02\x01\x01\x02\x01\x01",     # wrong sequence tag
    b"\x30\x06\x03\x01\x01\x02\x01\x01",     # wrong integer tag for R
    b"\x30\x06\x02\x01\x01\x03\x01\x01",     # wrong integer tag for S
    b"\x30\x06\x02\x05\x01\x02\x01\x01",     # R length past the end
    b"\x30\x06\x02\x01\x01\x02\x05\x01",     # S length past the end
    b"\x30\x86\x02\x01\x01\x02\x01\x01",     # sequence long-form length past the end
    b"\x30\x06\x02\x88\x00\x00\x00\x00\x00\x00\x00\x01",  # absurd long-form R length
    b"\x30\x06\x02\x01\x01",                 # S missing
])
def test_unparsable_signatures_give_zero(sig: bytes) -> None:
    assert parse_der_lax(sig) == bytes(64)
    assert not verify_ecdsa(public_key(SECRET), sig, MSG)


def test_shortest_lax_signature_parses() -> None:
    """r = 1, s = 1 (tx_valid.json's shortest DER signature): parses, does not verify here."""
    assert parse_der_lax(bytes.fromhex("3006020101020101")) == (
        (1).to_bytes(32, "big") + (1).to_bytes(32, "big"))
    assert not verify_ecdsa(public_key(SECRET), bytes.fromhex("3006020101020101"), MSG)


# ---------------------------------------------------------------------------- public keys
def test_invalid_public_keys_rejected(signed: tuple[bytes, int, int]) -> None:
    pubkey, r, s = signed
    sig = encode_dss_signature(r, s)
    uncompressed = public_key(SECRET, compressed=False)
    wrong_parity_hybrid = bytes((7 - (uncompressed[-1] & 1),)) + uncompressed[1:]
    # x = 5 is not on the curve (5^3 + 7 = 132 is a non-residue mod p).
    assert pow(132, (P - 1) // 2, P) == P - 1
    off_curve = b"\x02" + (5).to_bytes(32, "big")
    bad_keys = [
        b"",
        pubkey[:32],
        pubkey + b"\x00",
        b"\x05" + pubkey[1:],
        b"\x04" + pubkey[1:],
        uncompressed[:64],
        b"\x02" + P.to_bytes(32, "big"),   # x >= p
        off_curve,
        uncompressed[:-1] + bytes(((uncompressed[-1] + 1) % 256,)),  # y off the curve
        wrong_parity_hybrid,
    ]
    for bad in bad_keys:
        assert not is_valid_public_key(bad), bad.hex()
        assert not verify_ecdsa(bad, sig, MSG)
    assert is_valid_public_key(pubkey) and is_valid_public_key(uncompressed)


def test_hybrid_public_key_with_correct_parity_is_valid(signed: tuple[bytes, int, int]) -> None:
    """Consensus (libsecp256k1's parser) accepts hybrid 0x06/0x07 keys; policy rejects them."""
    pubkey, r, s = signed
    uncompressed = public_key(SECRET, compressed=False)
    hybrid = bytes((6 + (uncompressed[-1] & 1),)) + uncompressed[1:]
    assert is_valid_public_key(hybrid)
    assert verify_ecdsa(hybrid, encode_dss_signature(r, s), MSG)


# ---------------------------------------------------------------------------- cryptography cross-check
def _crypto_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(SECRET, "big"), ec.SECP256K1())


def test_public_key_matches_cryptography() -> None:
    pub = _crypto_key().public_key()
    assert public_key(SECRET) == pub.public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.CompressedPoint)
    assert public_key(SECRET, compressed=False) == pub.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@pytest.mark.parametrize("i", range(8))
def test_our_signatures_verify_with_cryptography(i: int) -> None:
    msg = hashlib.sha256(f"message {i}".encode()).digest()
    sig = sign_ecdsa(SECRET, msg)
    _crypto_key().public_key().verify(sig, msg, ec.ECDSA(Prehashed(hashes.SHA256())))
    with pytest.raises(InvalidSignature):
        _crypto_key().public_key().verify(sig, hashlib.sha256(msg).digest(),
                                          ec.ECDSA(Prehashed(hashes.SHA256())))


@pytest.mark.parametrize("i", range(8))
def test_cryptography_signatures_verify_with_verify_ecdsa(i: int) -> None:
    """cryptography makes random-k signatures, about half of them high-S: all must verify."""
    msg = hashlib.sha256(f"message {i}".encode()).digest()
    pubkey = public_key(SECRET)
    sig = _crypto_key().sign(msg, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert verify_ecdsa(pubkey, sig, msg)
    r, s = decode_dss_signature(sig)
    # Both S and N - S are accepted by consensus verification.
    assert verify_ecdsa(pubkey, encode_dss_signature(r, N - s), msg)
    assert not verify_ecdsa(pubkey, sig, hashlib.sha256(msg).digest())
