"""secp256k1 keys and ECDSA through coincurve (libsecp256k1), with Bitcoin's verification rules.

Bitcoin consensus accepts any signature that *lax* DER parsing understands and checks it after
normalising S to the lower half (Core's CPubKey::Verify); strict DER and low-S are separate,
script-flag-controlled rules enforced by the interpreter. libsecp256k1's own DER parser is strict
and its verify rejects high S, so :func:`verify_ecdsa` parses leniently here, normalises, and
calls libsecp256k1's verify through coincurve's cffi binding.
"""

from __future__ import annotations

import coincurve
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

_CTX = GLOBAL_CONTEXT.ctx
_ZERO_SIG = bytes(64)


def parse_der_lax(sig: bytes) -> bytes:
    """Parse a DER-ish signature the way Bitcoin Core's lax parser does; return compact r||s.

    Returns 64 zero bytes (which never verifies) for anything it cannot make sense of,
    including R or S longer than 32 significant bytes.
    """
    n = len(sig)
    pos = 0
    if pos == n or sig[pos] != 0x30:
        return _ZERO_SIG
    pos += 1
    if pos == n:
        return _ZERO_SIG
    lenbyte = sig[pos]
    pos += 1
    if lenbyte & 0x80:
        lenbyte -= 0x80
        if lenbyte > n - pos:
            return _ZERO_SIG
        pos += lenbyte
    values = []
    for _ in range(2):
        if pos == n or sig[pos] != 0x02:
            return _ZERO_SIG
        pos += 1
        if pos == n:
            return _ZERO_SIG
        lenbyte = sig[pos]
        pos += 1
        if lenbyte & 0x80:
            lenbyte -= 0x80
            if lenbyte > n - pos:
                return _ZERO_SIG
            while lenbyte > 0 and sig[pos] == 0:
                pos += 1
                lenbyte -= 1
            if lenbyte >= 8:
                return _ZERO_SIG
            length = 0
            while lenbyte > 0:
                length = (length << 8) + sig[pos]
                pos += 1
                lenbyte -= 1
        else:
            length = lenbyte
        if length > n - pos:
            return _ZERO_SIG
        values.append(sig[pos:pos + length])
        pos += length
    compact = bytearray()
    for value in values:
        value = value.lstrip(b"\x00")
        if len(value) > 32:
            return _ZERO_SIG
        compact += value.rjust(32, b"\x00")
    return bytes(compact)


def verify_ecdsa(pubkey: bytes, der_sig: bytes, msg32: bytes) -> bool:
    """Bitcoin-consensus ECDSA verification (lax DER, S normalised, any valid pubkey encoding)."""
    if len(msg32) != 32:
        # libsecp256k1 reads exactly 32 bytes through the raw pointer: a shorter buffer would be
        # read out of bounds, so refuse it before crossing into C.
        raise ValueError("ECDSA verification needs a 32-byte message digest")
    parsed_key = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, parsed_key, pubkey, len(pubkey)):
        return False
    signature = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(_CTX, signature, parse_der_lax(der_sig)):
        # R or S overflowed the group order: Core substitutes an all-zero, never-valid signature.
        return False
    lib.secp256k1_ecdsa_signature_normalize(_CTX, signature, signature)
    return bool(lib.secp256k1_ecdsa_verify(_CTX, signature, msg32, parsed_key))


def sign_ecdsa(private_key: bytes, msg32: bytes) -> bytes:
    """Deterministic (RFC6979) low-S DER signature over a 32-byte digest."""
    return coincurve.PrivateKey(private_key).sign(msg32, hasher=None)


def public_key(private_key: bytes, compressed: bool = True) -> bytes:
    return coincurve.PrivateKey(private_key).public_key.format(compressed=compressed)


def is_valid_public_key(pubkey: bytes) -> bool:
    parsed_key = ffi.new("secp256k1_pubkey *")
    return bool(lib.secp256k1_ec_pubkey_parse(_CTX, parsed_key, pubkey, len(pubkey)))


# ---------------------------------------------------------------------------- compact signatures
#: secp256k1 group order; a compact signature with s > n/2 is refused as malleable.
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_ORDER = CURVE_ORDER // 2


class CompactSignatureError(ValueError):
    """A 65-byte compact recoverable signature that is malformed or recovers no key."""


def sign_compact(private_key: bytes, msg32: bytes, compressed: bool = True) -> bytes:
    """65-byte recoverable signature in Bitcoin's signmessage layout: a header byte
    (27 + recovery id, + 4 for a compressed key), then r and s (RFC6979, low S).

    Used for PoS block signatures (Qtum signs blocks this way): the verifier recovers the public
    key and compares its hash with the staked output, so no key needs to travel in the block.
    """
    if len(msg32) != 32:
        raise ValueError("compact signatures sign a 32-byte digest")
    raw = coincurve.PrivateKey(private_key).sign_recoverable(msg32, hasher=None)
    r_s, recid = raw[:64], raw[64]
    return bytes((27 + recid + (4 if compressed else 0),)) + r_s


def recover_compact(signature: bytes, msg32: bytes) -> bytes:
    """The public key (compressed or not, as the header byte says) that made ``signature``.

    Raises :class:`CompactSignatureError` for a wrong length, header byte, high S, or a
    signature from which no key can be recovered.
    """
    if len(signature) != 65:
        raise CompactSignatureError(f"compact signature is 65 bytes, got {len(signature)}")
    if len(msg32) != 32:
        raise ValueError("compact signatures sign a 32-byte digest")
    header = signature[0]
    if not 27 <= header <= 34:
        raise CompactSignatureError(f"bad compact signature header byte {header}")
    compressed = header >= 31
    recid = (header - 27) & 3
    s = int.from_bytes(signature[33:65], "big")
    if s > _HALF_ORDER:
        # (r, n - s) with the other recovery id recovers the same key: refuse the twin so each
        # key has one signature per message.
        raise CompactSignatureError("compact signature has a high S value")
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            signature[1:65] + bytes((recid,)), msg32, hasher=None)
    except Exception as exc:  # coincurve raises plain Exception/ValueError on failure
        raise CompactSignatureError(f"no public key recovers from the signature: {exc}") from exc
    return key.format(compressed=compressed)
