"""Context-free block checks (Bitcoin Core's CheckBlockHeader and CheckBlock).

These need neither the UTXO set nor the block's position, so they run first and cheaply on
anything a peer sends. A failure raises :class:`BlockValidationError` with Core's reason.

Note on ``bad-txns-duplicate`` and ``bad-txnmrklroot``: both can mean the block was *mutated*
in transit (same header, different transaction list), not that the header is bad. The storage
layer must therefore not mark a header invalid for these two reasons (``is_mutation_reason``).
"""

from __future__ import annotations

from wattchain.consensus.block_scan import (PASSES_COINBASE, UNCHECKED, merkle_root,
                                            scan_transactions)
from wattchain.consensus.collector import collector_paused
from wattchain.consensus.contract_rules import find_contract_transactions
from wattchain.consensus.errors import BlockValidationError, TxValidationError
from wattchain.consensus.params import ChainParams
from wattchain.consensus.pos import check_coinstake_shape
from wattchain.consensus.target import decode_bits
from wattchain.consensus.tx_check import check_transaction
from wattchain.core.header import StakeBlock, StakeBlockHeader
from wattchain.core.tx import WITNESS_SCALE_FACTOR, Transaction
from wattchain.script.script import count_sigops

#: Reasons that may come from a block mutated in transit rather than an invalid header;
#: a node should drop such a block without marking its hash invalid (Core's BLOCK_MUTATED).
MUTATION_REASONS = frozenset({"bad-txnmrklroot", "bad-txns-duplicate",
                              "bad-witness-nonce-size", "bad-witness-merkle-match",
                              "unexpected-witness"})


def is_mutation_reason(reason: str) -> bool:
    return reason in MUTATION_REASONS


def check_block_header(header: StakeBlockHeader, params: ChainParams) -> None:
    """What a header alone can show: its bits decode to a target within ``pos_limit``.

    (The stake kernel and signature checks are contextual: they need the staked coin, see
    consensus.pos.check_proof_of_stake.)
    """
    if not decode_bits(header.bits).is_valid(params.pos_limit):
        raise BlockValidationError("bad-diffbits", f"bits 0x{header.bits:08x} outside pos_limit")


def legacy_sigop_count(tx: Transaction) -> int:
    """Core's GetLegacySigOpCount: inaccurate counting over every script_sig and script_pubkey."""
    count = 0
    for txin in tx.inputs:
        count += count_sigops(txin.script_sig, accurate=False)
    for out in tx.outputs:
        count += count_sigops(out.script_pubkey, accurate=False)
    return count


def check_block(block: StakeBlock, params: ChainParams, *, check_merkle_root: bool = True,
                fast: bool | None = None) -> None:
    """Core's CheckBlock: header, merkle root and mutation, size, coinbase placement, every
    transaction's context-free checks, and the legacy sigop limit, in Core's order.

    ``fast`` (default: unless ``WATTCHAIN_PURE``) first runs the compiled scan
    (``consensus.block_scan``), which marks the transactions that certainly pass and counts
    their sigops; the Python checks below then run only on the others, in block order, so the
    first failure and its reason are the same either way."""
    with collector_paused():  # see consensus.collector
        _check_block(block, params, check_merkle_root, fast)


def _check_block(block: StakeBlock, params: ChainParams, check_merkle_root: bool,
                 fast: bool | None) -> None:
    check_block_header(block.header, params)
    txs = block.transactions
    max_weight = params.max_block_weight
    scan = scan_transactions(txs, params.max_money, max_weight, fast)

    if check_merkle_root:
        root, mutated = merkle_root([tx.txid for tx in txs], fast)
        if root != block.header.merkle_root:
            raise BlockValidationError("bad-txnmrklroot", "hashMerkleRoot mismatch")
        # CVE-2012-2459: a duplicated subtree gives the same root for a different tx list.
        if mutated:
            raise BlockValidationError("bad-txns-duplicate", "duplicate transaction")

    if (not txs or len(txs) * WITNESS_SCALE_FACTOR > max_weight
            or block.base_size > params.max_block_base_size):
        raise BlockValidationError("bad-blk-length", "size limits failed")

    status = scan.status if scan is not None else bytes(len(txs))
    if not _is_coinbase(txs[0], status[0]):
        raise BlockValidationError("bad-cb-missing", "first tx is not coinbase")
    for position in range(1, len(txs)):
        if _is_coinbase(txs[position], status[position]):
            raise BlockValidationError("bad-cb-multiple", "more than one coinbase")
    if block.header.is_proof_of_stake():
        check_coinstake_shape(block, scan.status if scan is not None else None)

    unchecked = [tx for tx, code in zip(txs, status) if code == UNCHECKED]
    for tx in unchecked:
        try:
            check_transaction(tx, params.max_money, max_weight)
        except TxValidationError as exc:
            raise BlockValidationError(
                exc.reason, f"transaction check failed (tx {tx.txid_hex}) {exc.detail}") from exc

    sigops = scan.sigops if scan is not None else 0
    for tx in unchecked:
        sigops += legacy_sigop_count(tx)
    if sigops * WITNESS_SCALE_FACTOR > params.max_block_sigops_cost:
        raise BlockValidationError("bad-blk-sigops", "out-of-bounds SigOpCount")

    # Contract outputs parse, and none in the coinbase/coinstake (contract_rules).
    find_contract_transactions(block, params, scan.contract_free if scan is not None else None)


def _is_coinbase(tx: Transaction, status: int) -> bool:
    """``tx.is_coinbase()``, known from the scan for a transaction that passed it."""
    if status == UNCHECKED:
        return tx.is_coinbase()
    return status == PASSES_COINBASE
