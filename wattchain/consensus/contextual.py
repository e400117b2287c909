"""Checks that need the block's position but not the UTXO set (Core's ContextualCheckBlockHeader
and ContextualCheckBlock).

The caller supplies the parent as a :class:`ChainContext` and the current time ``now``: consensus
reads no clock. BIP34, BIP65/66, BIP68/112/113 and SegWit are active from the genesis on.
"""

from __future__ import annotations

from wattchain.consensus.block_scan import merkle_root
from wattchain.consensus.context import ChainContext, ListChainContext, median_time
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.params import ChainParams
from wattchain.consensus.pos import check_stake_timestamp, next_target_bits
from wattchain.consensus.tx_verify import is_final_tx
from wattchain.core.header import StakeBlock, StakeBlockHeader
from wattchain.core.merkle import witness_commitment_hash
from wattchain.script.script import push_int

__all__ = ["ChainContext", "ListChainContext", "median_time", "next_bits",
           "contextual_check_block_header", "contextual_check_block", "check_witness_commitment"]


def next_bits(parent: ChainContext, params: ChainParams) -> int:
    """Bits the child of ``parent`` must carry (per-block PoS retarget, consensus.pos)."""
    return next_target_bits(parent, params)


def contextual_check_block_header(header: StakeBlockHeader, parent: ChainContext, now: int,
                                  params: ChainParams) -> None:
    """Difficulty, time window, stake slot grid and version of a header whose parent is
    ``parent``; every block after the genesis must be proof of stake.

    ``now`` is the caller's (network-adjusted) clock in Unix seconds.
    """
    if not header.is_proof_of_stake():
        raise BlockValidationError("bad-blk-not-pos", "block names no staked output")
    expected = next_bits(parent, params)
    if header.bits != expected:
        raise BlockValidationError("bad-diffbits",
                                   f"incorrect difficulty: 0x{header.bits:08x} != 0x{expected:08x}")
    if header.time <= parent.median_time_past:
        raise BlockValidationError("time-too-old", "block's timestamp is too early")
    check_stake_timestamp(header, parent, params)
    if header.time > now + params.max_future_block_time:
        raise BlockValidationError("time-too-new", "block timestamp too far in the future")
    if header.version < params.min_block_version:
        raise BlockValidationError(f"bad-version(0x{header.version & 0xFFFFFFFF:08x})",
                                   "rejected nVersion block")


def check_witness_commitment(block: StakeBlock) -> None:
    """BIP141: a commitment, if present, must match; without one no tx may carry a witness."""
    index = block.witness_commitment_index()
    committed = False
    if index is not None:
        coinbase = block.transactions[0]
        witness = coinbase.inputs[0].witness
        if len(witness) != 1 or len(witness[0]) != 32:
            raise BlockValidationError("bad-witness-nonce-size",
                                       "invalid witness reserved value size")
        # block.compute_witness_merkle_root(), hashed in C when built (block_scan)
        root, _ = merkle_root([bytes(32)] + [tx.wtxid for tx in block.transactions[1:]])
        script = coinbase.outputs[index].script_pubkey
        if witness_commitment_hash(root, witness[0]) != script[6:38]:
            raise BlockValidationError("bad-witness-merkle-match", "witness merkle commitment mismatch")
        committed = True
    if not committed:
        for tx in block.transactions:
            if tx.has_witness:
                raise BlockValidationError("unexpected-witness",
                                           f"unexpected witness data found (tx {tx.txid_hex})")


def contextual_check_block(block: StakeBlock, height: int, parent: ChainContext,
                           params: ChainParams) -> None:
    """Finality (BIP113: locktimes judged against the parent's median-time-past), the BIP34
    height in the coinbase, the witness commitment, and the weight limit, in Core's order.

    Assumes :func:`~wattchain.consensus.block_check.check_block` passed (a coinbase exists).
    """
    cutoff = parent.median_time_past
    for tx in block.transactions:
        if not is_final_tx(tx, height, cutoff):
            raise BlockValidationError("bad-txns-nonfinal", f"non-final transaction {tx.txid_hex}")

    expect = push_int(height)
    script_sig = block.transactions[0].inputs[0].script_sig
    if script_sig[:len(expect)] != expect:
        raise BlockValidationError("bad-cb-height", "block height mismatch in coinbase")

    check_witness_commitment(block)

    if block.weight > params.max_block_weight:
        raise BlockValidationError("bad-blk-weight", f"weight {block.weight} over the limit")
