"""BOLT 3 fee arithmetic, HTLC trimming and the obscured commitment number.

Why expected weights: both parties must compute the same fee for the same commitment without
knowing signature sizes, so BOLT 3 fixes the weights (724/1124 + 172 per HTLC output, 663/703
for second-stage transactions) and every implementation rounds down the same way.
"""

from __future__ import annotations

from wattchain.channels.errors import CommitmentError
from wattchain.channels.model import MAX_COMMITMENT_NUMBER, Htlc, HtlcDirection
from wattchain.core.hashes import sha256
from wattchain.core.tx import Transaction

COMMITMENT_WEIGHT = 724
COMMITMENT_WEIGHT_ANCHORS = 1124
HTLC_OUTPUT_WEIGHT = 172
HTLC_TIMEOUT_WEIGHT = 663
HTLC_TIMEOUT_WEIGHT_ANCHORS = 666
HTLC_SUCCESS_WEIGHT = 703
HTLC_SUCCESS_WEIGHT_ANCHORS = 706


def obscuring_factor(opener_payment_basepoint: bytes, accepter_payment_basepoint: bytes) -> int:
    """Low 48 bits of SHA256(opener payment_basepoint || accepter payment_basepoint): hides
    the commitment number from outsiders while the channel parties can recover it."""
    return int.from_bytes(sha256(opener_payment_basepoint + accepter_payment_basepoint)[-6:],
                          "big")


def obscure_commitment_number(commitment_number: int, factor: int) -> int:
    if not 0 <= commitment_number <= MAX_COMMITMENT_NUMBER:
        raise CommitmentError(f"commitment number {commitment_number} is not 48-bit")
    return commitment_number ^ factor


def commitment_locktime_sequence(obscured: int) -> tuple[int, int]:
    """(nLockTime, nSequence) carrying the obscured number: upper byte 0x20 keeps the locktime
    a past timestamp, 0x80 disables BIP68 relative locks on the input."""
    return (0x20 << 24) | (obscured & 0xFFFFFF), (0x80 << 24) | (obscured >> 24)


def extract_obscured_number(tx: Transaction) -> int | None:
    """The obscured commitment number of a commitment-shaped tx, else None."""
    if len(tx.inputs) != 1 or tx.locktime >> 24 != 0x20 or tx.inputs[0].sequence >> 24 != 0x80:
        return None
    return ((tx.inputs[0].sequence & 0xFFFFFF) << 24) | (tx.locktime & 0xFFFFFF)


def extract_commitment_number(tx: Transaction, factor: int) -> int | None:
    """The commitment number of ``tx`` given the channel's obscuring factor, else None."""
    obscured = extract_obscured_number(tx)
    return None if obscured is None else obscured ^ factor


def commitment_weight(num_untrimmed_htlcs: int, anchors: bool) -> int:
    base = COMMITMENT_WEIGHT_ANCHORS if anchors else COMMITMENT_WEIGHT
    return base + HTLC_OUTPUT_WEIGHT * num_untrimmed_htlcs


def commitment_fee_sat(feerate_per_kw: int, num_untrimmed_htlcs: int, anchors: bool) -> int:
    return feerate_per_kw * commitment_weight(num_untrimmed_htlcs, anchors) // 1000


def htlc_timeout_fee_sat(feerate_per_kw: int, anchors: bool) -> int:
    """Fee of an HTLC-timeout tx; zero with anchors (the holder bumps it via SINGLE|ACP)."""
    return 0 if anchors else feerate_per_kw * HTLC_TIMEOUT_WEIGHT // 1000


def htlc_success_fee_sat(feerate_per_kw: int, anchors: bool) -> int:
    return 0 if anchors else feerate_per_kw * HTLC_SUCCESS_WEIGHT // 1000


def is_htlc_trimmed(htlc: Htlc, feerate_per_kw: int, dust_limit_sat: int, anchors: bool) -> bool:
    """An HTLC whose second-stage output would be dust gets no output (it goes to fees)."""
    fee = (htlc_timeout_fee_sat if htlc.direction is HtlcDirection.OFFERED
           else htlc_success_fee_sat)(feerate_per_kw, anchors)
    return htlc.amount_sat < dust_limit_sat + fee
