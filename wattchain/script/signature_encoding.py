"""Encoding rules for signatures, public keys and pushes that the script flags switch on.

Consensus ECDSA verification (``wattchain.core.keys.verify_ecdsa``) is deliberately lax: it
accepts BER-ish signatures, high-S values and odd public-key encodings, because blocks from
2009-2015 contain them. Each later tightening is a separate flag, and each check here raises
the exact :class:`ScriptErrorCode` Bitcoin Core reports, so that mempool policy (which needs the
reason) and the conformance vectors (which compare reasons) both work.

All checks are pure functions of bytes; none touches the transaction.
"""

from __future__ import annotations

from wattchain.core.keys import parse_der_lax
from wattchain.script.errors import ScriptError, ScriptErrorCode
from wattchain.script.flags import ScriptFlags
from wattchain.script.opcodes import Op

#: Order of the secp256k1 group, and half of it (the low-S bound, BIP62/BIP146).
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_ORDER = SECP256K1_ORDER // 2

SIGHASH_ALL = 0x01
SIGHASH_SINGLE = 0x03
SIGHASH_ANYONECANPAY = 0x80

_LOW_S = int(ScriptFlags.LOW_S)
_STRICTENC = int(ScriptFlags.STRICTENC)
_WITNESS_PUBKEYTYPE = int(ScriptFlags.WITNESS_PUBKEYTYPE)
_DER_FLAGS = int(ScriptFlags.DERSIG | _LOW_S | _STRICTENC)


def is_strict_der(sig: bytes) -> bool:
    """BIP66 strict DER check of ``sig`` *including* its trailing hash-type byte.

    Layout: 0x30 len 0x02 lenR R 0x02 lenS S hashtype, with minimal, positive R and S.
    The length bounds (9..73) cover 1-byte to 33-byte integers plus the hash type.
    """
    size = len(sig)
    if size < 9 or size > 73:
        return False
    if sig[0] != 0x30 or sig[1] != size - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= size:
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != size:
        return False
    # R: integer marker, non-empty, not negative, no needless leading zero.
    if sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0x00 and not sig[5] & 0x80:
        return False
    # S: the same rules.
    s_at = len_r + 6
    if sig[s_at - 2] != 0x02 or len_s == 0 or sig[s_at] & 0x80:
        return False
    if len_s > 1 and sig[s_at] == 0x00 and not sig[s_at + 1] & 0x80:
        return False
    return True


def is_low_s(der_sig: bytes) -> bool:
    """True unless S is in the upper half of the group order (``der_sig`` lacks the hash type).

    Parsed leniently like consensus does; R or S that overflow the order make the signature the
    never-valid all-zero one, which counts as low (it fails verification anyway).
    """
    compact = parse_der_lax(der_sig)
    r = int.from_bytes(compact[:32], "big")
    s = int.from_bytes(compact[32:], "big")
    if r >= SECP256K1_ORDER or s >= SECP256K1_ORDER:
        return True
    return s <= _HALF_ORDER


def has_defined_hashtype(sig: bytes) -> bool:
    """STRICTENC: the hash type (ignoring ANYONECANPAY) must be ALL, NONE or SINGLE."""
    if not sig:
        return False
    base = sig[-1] & ~SIGHASH_ANYONECANPAY
    return SIGHASH_ALL <= base <= SIGHASH_SINGLE


def check_signature_encoding(sig: bytes, flags: int) -> None:
    """Raise if ``sig`` (with hash type) breaks an encoding rule enabled in ``flags``.

    The empty signature is always acceptable: it is the compact, canonical way to supply a
    deliberately failing signature (e.g. for an unused key in CHECKMULTISIG).
    """
    if not sig:
        return
    if flags & _DER_FLAGS and not is_strict_der(sig):
        raise ScriptError(ScriptErrorCode.SIG_DER, "signature is not strict DER")
    if flags & _LOW_S and not is_low_s(sig[:-1]):
        raise ScriptError(ScriptErrorCode.SIG_HIGH_S, "signature S value is not low")
    if flags & _STRICTENC and not has_defined_hashtype(sig):
        raise ScriptError(ScriptErrorCode.SIG_HASHTYPE, f"undefined hash type {sig[-1]:#x}")


def is_compressed_or_uncompressed_pubkey(pubkey: bytes) -> bool:
    """STRICTENC: a 33-byte 02/03 key or a 65-byte 04 key (hybrid 06/07 keys are refused)."""
    size = len(pubkey)
    if size == 33:
        return pubkey[0] in (0x02, 0x03)
    if size == 65:
        return pubkey[0] == 0x04
    return False


def is_compressed_pubkey(pubkey: bytes) -> bool:
    return len(pubkey) == 33 and pubkey[0] in (0x02, 0x03)


def check_pubkey_encoding(pubkey: bytes, flags: int, is_witness_v0: bool) -> None:
    """Raise if ``pubkey`` breaks STRICTENC, or WITNESS_PUBKEYTYPE inside a v0 witness script.

    Segwit standardness allows only compressed keys, so that every witness-v0 signature can be
    checked by a verifier that never sees an uncompressed point.
    """
    if flags & _STRICTENC and not is_compressed_or_uncompressed_pubkey(pubkey):
        raise ScriptError(ScriptErrorCode.PUBKEYTYPE, "public key is neither compressed nor "
                                                      "uncompressed")
    if (is_witness_v0 and flags & _WITNESS_PUBKEYTYPE
            and not is_compressed_pubkey(pubkey)):
        raise ScriptError(ScriptErrorCode.WITNESS_PUBKEYTYPE, "witness public key is not "
                                                              "compressed")


def is_minimal_push(data: bytes, opcode: int) -> bool:
    """MINIMALDATA: ``data`` must have been pushed with the shortest possible opcode.

    Without this a third party could re-encode a push in scriptSig and change the txid.
    """
    size = len(data)
    if size == 0:
        return opcode == Op.OP_0
    if size == 1:
        value = data[0]
        if 1 <= value <= 16:
            return opcode == Op.OP_1 + value - 1
        if value == 0x81:
            return opcode == Op.OP_1NEGATE
    if size <= 75:
        return opcode == size
    if size <= 0xFF:
        return opcode == Op.OP_PUSHDATA1
    if size <= 0xFFFF:
        return opcode == Op.OP_PUSHDATA2
    return True
