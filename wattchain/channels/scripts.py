"""The witness scripts of BOLT 3, built from the project's script primitives.

Why each script looks the way it does is BOLT 3's business; this module only renders them
byte for byte (the vector tests rebuild every script of Appendix C and F from these functions).
All outputs except the non-anchor to_remote are P2WSH; use :func:`p2wsh` from
:mod:`wattchain.script.standard` for the output script and keep the witness script to spend it.

Numbers (delays, CLTV expiries) are minimal CScriptNum pushes; small integers use OP_1..OP_16.
"""

from __future__ import annotations

from wattchain.channels.errors import CommitmentError
from wattchain.core.hashes import hash160, ripemd160
from wattchain.script.opcodes import Op
from wattchain.script.script import push_data, push_int
from wattchain.script.standard import p2wpkh, p2wsh

#: Value of each anchor output (option_anchors).
ANCHOR_OUTPUT_SAT = 330
#: CSV delay after which anyone may spend an anchor (so the UTXO set gets cleaned up).
ANCHOR_CSV_DELAY = 16


def _key(pubkey: bytes, what: str) -> bytes:
    """Push a key after a *structural* check only (33 bytes, 02/03 prefix): curve membership
    is checked where keys enter the channel (:class:`PartyConfig`, key derivation), because
    parsing a point costs a square root and a commitment has a dozen keys."""
    if len(pubkey) != 33 or pubkey[0] not in (2, 3):
        raise CommitmentError(f"{what} must be a 33-byte compressed public key")
    return push_data(pubkey)


def _ops(*ops: int) -> bytes:
    return bytes(ops)


def sorted_funding_pubkeys(pubkey_a: bytes, pubkey_b: bytes) -> tuple[bytes, bytes]:
    """The two funding pubkeys in script order (lexicographically smaller first)."""
    return (pubkey_a, pubkey_b) if pubkey_a <= pubkey_b else (pubkey_b, pubkey_a)


def funding_script(pubkey_a: bytes, pubkey_b: bytes) -> bytes:
    """``2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`` with the keys sorted, so both sides build
    the same script without agreeing on an order."""
    first, second = sorted_funding_pubkeys(pubkey_a, pubkey_b)
    return (push_int(2) + _key(first, "funding pubkey") + _key(second, "funding pubkey")
            + push_int(2) + _ops(Op.OP_CHECKMULTISIG))


def funding_output_script(pubkey_a: bytes, pubkey_b: bytes) -> bytes:
    """P2WSH scriptPubKey of the funding output."""
    return p2wsh(funding_script(pubkey_a, pubkey_b))


def to_local_script(revocation_pubkey: bytes, to_self_delay: int,
                    local_delayed_pubkey: bytes) -> bytes:
    """to_local (and HTLC-tx output): revocable at once, or the owner's after the CSV delay."""
    if not 0 <= to_self_delay <= 0xFFFF:
        raise CommitmentError(f"to_self_delay {to_self_delay} outside 0..65535 blocks")
    return (_ops(Op.OP_IF) + _key(revocation_pubkey, "revocation pubkey") + _ops(Op.OP_ELSE)
            + push_int(to_self_delay) + _ops(Op.OP_CHECKSEQUENCEVERIFY, Op.OP_DROP)
            + _key(local_delayed_pubkey, "delayed pubkey")
            + _ops(Op.OP_ENDIF, Op.OP_CHECKSIG))


def to_remote_p2wpkh(remote_pubkey: bytes) -> bytes:
    """Non-anchor to_remote: plain P2WPKH to the counterparty's (static) payment key."""
    _key(remote_pubkey, "remote pubkey")
    return p2wpkh(hash160(remote_pubkey))


def to_remote_anchors_script(remote_pubkey: bytes) -> bytes:
    """Anchors to_remote: ``<key> OP_CHECKSIGVERIFY 1 OP_CSV`` — the 1-block delay stops the
    counterparty from chaining CPFP children off its to_remote (carve-out rule)."""
    return (_key(remote_pubkey, "remote pubkey") + _ops(Op.OP_CHECKSIGVERIFY) + push_int(1)
            + _ops(Op.OP_CHECKSEQUENCEVERIFY))


def anchor_script(funding_pubkey: bytes) -> bytes:
    """Anchor output: its funding key may spend it (to bump fees) at once; anyone after 16."""
    return (_key(funding_pubkey, "funding pubkey")
            + _ops(Op.OP_CHECKSIG, Op.OP_IFDUP, Op.OP_NOTIF) + push_int(ANCHOR_CSV_DELAY)
            + _ops(Op.OP_CHECKSEQUENCEVERIFY, Op.OP_ENDIF))


def _payment_hash160(payment_hash: bytes) -> bytes:
    if len(payment_hash) != 32:
        raise CommitmentError(f"payment hash must be 32 bytes, got {len(payment_hash)}")
    return ripemd160(payment_hash)


def _anchor_csv(anchors: bool) -> bytes:
    return (push_int(1) + _ops(Op.OP_CHECKSEQUENCEVERIFY, Op.OP_DROP)) if anchors else b""


def _revocation_head(revocation_pubkey: bytes, remote_htlc_pubkey: bytes) -> bytes:
    _key(revocation_pubkey, "revocation pubkey")
    return (_ops(Op.OP_DUP, Op.OP_HASH160) + push_data(hash160(revocation_pubkey))
            + _ops(Op.OP_EQUAL, Op.OP_IF, Op.OP_CHECKSIG, Op.OP_ELSE)
            + _key(remote_htlc_pubkey, "remote htlc pubkey")
            + _ops(Op.OP_SWAP, Op.OP_SIZE) + push_int(32) + _ops(Op.OP_EQUAL))


def offered_htlc_script(revocation_pubkey: bytes, remote_htlc_pubkey: bytes,
                        local_htlc_pubkey: bytes, payment_hash: bytes,
                        anchors: bool = False) -> bytes:
    """HTLC offered by the commitment's owner: the counterparty takes it with the preimage,
    the owner via the (2-of-2 signed) HTLC-timeout tx, anyone holding the revocation key at
    once."""
    return (_revocation_head(revocation_pubkey, remote_htlc_pubkey)
            + _ops(Op.OP_NOTIF, Op.OP_DROP) + push_int(2) + _ops(Op.OP_SWAP)
            + _key(local_htlc_pubkey, "local htlc pubkey") + push_int(2)
            + _ops(Op.OP_CHECKMULTISIG, Op.OP_ELSE, Op.OP_HASH160)
            + push_data(_payment_hash160(payment_hash))
            + _ops(Op.OP_EQUALVERIFY, Op.OP_CHECKSIG, Op.OP_ENDIF)
            + _anchor_csv(anchors) + _ops(Op.OP_ENDIF))


def received_htlc_script(revocation_pubkey: bytes, remote_htlc_pubkey: bytes,
                         local_htlc_pubkey: bytes, payment_hash: bytes, cltv_expiry: int,
                         anchors: bool = False) -> bytes:
    """HTLC received by the commitment's owner: the owner takes it with the preimage via the
    HTLC-success tx, the counterparty after ``cltv_expiry``, the revocation key at once."""
    if not 0 <= cltv_expiry < 500_000_000:
        raise CommitmentError(f"cltv_expiry {cltv_expiry} is not a block height")
    return (_revocation_head(revocation_pubkey, remote_htlc_pubkey)
            + _ops(Op.OP_IF, Op.OP_HASH160) + push_data(_payment_hash160(payment_hash))
            + _ops(Op.OP_EQUALVERIFY) + push_int(2) + _ops(Op.OP_SWAP)
            + _key(local_htlc_pubkey, "local htlc pubkey") + push_int(2)
            + _ops(Op.OP_CHECKMULTISIG, Op.OP_ELSE, Op.OP_DROP) + push_int(cltv_expiry)
            + _ops(Op.OP_CHECKLOCKTIMEVERIFY, Op.OP_DROP, Op.OP_CHECKSIG, Op.OP_ENDIF)
            + _anchor_csv(anchors) + _ops(Op.OP_ENDIF))
