"""Deterministic block building: coinbase, witness commitment, merkle root, genesis.

Used by the genesis definition, by consensus tests (like btcd's full-block generator: build a
valid block, change one thing, expect one reason) and later by the staker. Nothing here checks
validity; it only produces well-formed blocks. Signing is the staker's job: blocks come back
with an empty ``block_signature``, which the block id does not cover anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from wattchain.core.block import Block
from wattchain.core.header import EMPTY_STATE_ROOT, StakeBlock, StakeBlockHeader
from wattchain.core.merkle import merkle_root, witness_commitment_script
from wattchain.core.tx import NULL_INDEX, NULL_HASH, OutPoint, Transaction, TxIn, TxOut
from wattchain.script.opcodes import Op
from wattchain.script.script import push_data, push_int

if TYPE_CHECKING:  # pragma: no cover - typing only; params imports this module
    from wattchain.consensus.params import ChainParams

#: Coinbase script_sig must be 2..100 bytes (check_transaction's bad-cb-length).
_MIN_COINBASE_SCRIPT = 2


def coinbase_script_sig(height: int, extra_nonce: bytes = b"") -> bytes:
    """BIP34 height push, then ``extra_nonce`` pushed as data, padded to the 2-byte minimum."""
    script = push_int(height)
    if extra_nonce:
        script += push_data(extra_nonce)
    if len(script) < _MIN_COINBASE_SCRIPT:
        script += bytes((Op.OP_0,))
    return script


def build_coinbase(height: int, outputs: Sequence[TxOut], extra_nonce: bytes = b"",
                   witness_reserved: bytes | None = bytes(32), locktime: int = 0) -> Transaction:
    """A coinbase for ``height`` paying ``outputs``.

    ``witness_reserved`` becomes the coinbase's single witness item (BIP141's witness reserved
    value); pass None for a coinbase without witness. :func:`build_block` drops it again when
    the block commits to no witness data.
    """
    witness = (witness_reserved,) if witness_reserved is not None else ()
    txin = TxIn(OutPoint(NULL_HASH, NULL_INDEX), coinbase_script_sig(height, extra_nonce),
                0xFFFFFFFF, witness)
    return Transaction(version=2, inputs=(txin,), outputs=tuple(outputs), locktime=locktime)


def _with_coinbase_witness(coinbase: Transaction, witness: tuple[bytes, ...]) -> Transaction:
    first = coinbase.inputs[0]
    txin = TxIn(first.prevout, first.script_sig, first.sequence, witness)
    return Transaction(coinbase.version, (txin,) + coinbase.inputs[1:], coinbase.outputs,
                       coinbase.locktime)


def add_witness_commitment(coinbase: Transaction, others: Sequence[Transaction]) -> Transaction:
    """Append the BIP141 commitment output to ``coinbase`` for the block ``[coinbase]+others``.

    The coinbase's witness item (default 32 zero bytes) is the reserved value committed to.
    """
    reserved = coinbase.inputs[0].witness[0] if coinbase.inputs[0].witness else bytes(32)
    coinbase = _with_coinbase_witness(coinbase, (reserved,))
    root, _ = merkle_root([bytes(32)] + [tx.wtxid for tx in others])
    commitment = TxOut(0, witness_commitment_script(root, reserved))
    return Transaction(coinbase.version, coinbase.inputs, coinbase.outputs + (commitment,),
                       coinbase.locktime)


def assemble_block(header: StakeBlockHeader, coinbase: Transaction,
                   transactions: Iterable[Transaction] = (), *,
                   witness_commitment: bool | None = None) -> StakeBlock:
    """Put a block together, fixing up the commitment and merkle root in ``header``.

    ``witness_commitment``: True always adds one, False never, None (default) adds one exactly
    when some non-coinbase transaction has a witness; without a commitment the coinbase's
    witness is removed so the block does not carry ``unexpected-witness`` data.
    """
    others = tuple(transactions)
    wanted = (any(tx.has_witness for tx in others) if witness_commitment is None
              else witness_commitment)
    if wanted:
        coinbase = add_witness_commitment(coinbase, others)
    elif coinbase.has_witness:
        coinbase = _with_coinbase_witness(coinbase, ())
    txs = (coinbase,) + others
    root, _ = merkle_root([tx.txid for tx in txs])
    header = StakeBlockHeader(header.version, header.prev_hash, root, header.time, header.bits,
                              header.nonce, header.state_root, header.prevout_stake,
                              header.block_signature)
    return Block(header, txs)


def build_block(parent_hash: bytes, height: int, time: int, bits: int | None,
                transactions: Iterable[Transaction], params: "ChainParams", *,
                coinbase_outputs: Sequence[TxOut] | None = None, extra_nonce: bytes = b"",
                witness_reserved: bytes = bytes(32), witness_commitment: bool | None = None,
                version: int | None = None, nonce: int = 0,
                state_root: bytes = EMPTY_STATE_ROOT,
                prevout_stake: OutPoint | None = None,
                block_signature: bytes = b"", coinstake: Transaction | None = None) -> StakeBlock:
    """A well-formed block at ``height`` on ``parent_hash`` containing ``transactions``.

    With a ``coinstake`` the block is a PoS block: the coinstake becomes transaction 1 and
    ``prevout_stake`` defaults to its first input. Defaults: ``bits`` None means ``pos_limit``
    (callers outside tests pass :func:`consensus.pos.next_target_bits`); the coinbase pays a
    single value-0, empty-script output (the PoS shape, pos.md: the reward goes to the
    coinstake); ``version`` None means ``params.min_block_version``. The block comes back
    unsigned (``consensus.pos.sign_block``).
    """
    if coinstake is not None:
        transactions = (coinstake,) + tuple(transactions)
        if prevout_stake is None:
            prevout_stake = coinstake.inputs[0].prevout
    if prevout_stake is None:
        prevout_stake = OutPoint.null()
    outputs = tuple(coinbase_outputs) if coinbase_outputs is not None else (TxOut(0, b""),)
    coinbase = build_coinbase(height, outputs, extra_nonce, witness_reserved)
    header = StakeBlockHeader(
        version=params.min_block_version if version is None else version,
        prev_hash=parent_hash, merkle_root=bytes(32), time=time,
        bits=params.genesis_bits if bits is None else bits, nonce=nonce,
        state_root=state_root, prevout_stake=prevout_stake, block_signature=block_signature)
    return assemble_block(header, coinbase, transactions, witness_commitment=witness_commitment)


def build_genesis_block(params: "ChainParams") -> StakeBlock:
    """The genesis block of ``params``: its coinbase carries the genesis message and pays the
    premine (or, without one, a single unspendable OP_RETURN output of value 0)."""
    outputs: tuple[TxOut, ...] = params.premine_outputs()
    if not outputs:
        outputs = (TxOut(0, bytes((Op.OP_RETURN,)) + push_data(params.genesis_message[:75])),)
    coinbase = build_coinbase(0, outputs, extra_nonce=params.genesis_message[:75],
                              witness_reserved=None)
    header = StakeBlockHeader(version=params.genesis_version, prev_hash=bytes(32),
                              merkle_root=bytes(32), time=params.genesis_time,
                              bits=params.genesis_bits, nonce=params.genesis_nonce)
    return assemble_block(header, coinbase, (), witness_commitment=False)


def genesis_block(params: "ChainParams") -> StakeBlock:
    """The (cached) genesis block of ``params``."""
    return params.genesis_block
