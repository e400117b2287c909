"""Applying a block to the UTXO set and undoing it (Core's ConnectBlock / DisconnectBlock).

``connect_block`` runs every rule that needs the spent coins: inputs exist and are mature, no
value is created, BIP68 sequence locks, the block sigop cost, every input script under the
consensus flags, and the block reward. It records the coins it spends as a :class:`BlockUndo`,
which ``disconnect_block`` uses to restore the view exactly.

Both work in a private child :class:`CoinsViewCache` of the given view and flush into it only
when everything succeeded, so an invalid block (or mismatching undo data) leaves the caller's
view as it was.

The context-free and contextual checks (``check_block``, ``contextual_check_block``) are the
caller's job and must have passed before ``connect_block`` is called.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from wattchain.consensus.coins import Coin, CoinNotFoundError, CoinOverwriteError, CoinsViewCache
from wattchain.consensus.collector import collector_paused
from wattchain.consensus.connect_fast import compiled_loop, compiled_undo_serializer
from wattchain.consensus.context import ChainContext
from wattchain.consensus.contract_rules import (BlockContracts, connect_contracts,
                                                disconnect_contracts)
from wattchain.consensus.errors import BlockValidationError, TxValidationError
from wattchain.consensus.params import ChainParams
from wattchain.consensus.pos import StakeCoin, check_proof_of_stake
from wattchain.consensus.script_checks import BlockScripts, ScriptVerifier
from wattchain.consensus.tx_verify import (CONSENSUS_LOCKTIME_FLAGS,
                                           SEQUENCE_LOCKTIME_DISABLE_FLAG, check_sequence_locks,
                                           check_tx_input_coins, is_coinstake,
                                           transaction_sigop_cost)
from wattchain.core.header import StakeBlock
from wattchain.core.serialization import ByteReader, compact_size, decode_exact
from wattchain.core.tx import OutPoint, Transaction
from wattchain.script.flags import CONSENSUS_FLAGS
from wattchain.script.script import is_unspendable

_OP_RETURN = 0x6A
#: Scripts larger than this are unspendable (Core's MAX_SCRIPT_SIZE).
MAX_SCRIPT_SIZE = 10_000

#: Smallest serialized Coin: one-byte code, one-byte value, empty script.
_MIN_COIN_SIZE = 3


class DisconnectError(BlockValidationError):
    """Undo data does not match the block or the view (corruption, or the wrong block)."""


@dataclass(frozen=True)
class BlockUndo:
    """The coins a block spent: one tuple per non-coinbase transaction, in input order.

    Serialized as CompactSize(#txs) then, per tx, CompactSize(#inputs) and each
    :meth:`Coin.serialize` record (self-delimiting).
    """

    tx_undo: tuple[tuple[Coin, ...], ...] = ()

    def serialize(self) -> bytes:
        fast = compiled_undo_serializer()
        if fast is not None:
            record = fast(self.tx_undo)
            if record is not None:
                return record
        parts = [compact_size(len(self.tx_undo))]
        for spent in self.tx_undo:
            parts.append(compact_size(len(spent)))
            parts.extend(coin.serialize() for coin in spent)
        return b"".join(parts)

    @classmethod
    def read(cls, reader: ByteReader) -> "BlockUndo":
        n_txs = reader.count(1)
        txs = []
        for _ in range(n_txs):
            n_coins = reader.count(_MIN_COIN_SIZE)
            txs.append(tuple(Coin.read(reader) for _ in range(n_coins)))
        return cls(tuple(txs))

    @classmethod
    def deserialize(cls, data: bytes) -> "BlockUndo":
        """Decode an undo record; any malformation is a DecodeError."""
        return decode_exact(data, cls.read)

    def spent_coins(self) -> Iterator[Coin]:
        for spent in self.tx_undo:
            yield from spent


# ------------------------------------------------------------------------------ helpers
def _add_outputs(view: CoinsViewCache, tx: Transaction, height: int, coinbase: bool,
                 coinstake: bool) -> None:
    """Core's AddCoins. Provably unspendable outputs never enter the UTXO set.

    As in Core since BIP34, only a coinbase is checked against every layer for an unspent
    output with its txid: each coinbase commits to its height, so coinbases are unique, and
    every other transaction spends an outpoint no other transaction can spend, so its txid
    is unique too. Other transactions' outputs are added without a lookup below this view
    (``unique_txid``). The coinbase keeps the full check, one per block, as in Core.
    """
    try:
        view.add_outputs(tx.txid, [
            (index, Coin(out, height, coinbase, coinstake))
            for index, out in enumerate(tx.outputs)
            # is_unspendable, inline: OP_RETURN first, or over the script size limit
            if not ((out.script_pubkey and out.script_pubkey[0] == _OP_RETURN)
                    or len(out.script_pubkey) > MAX_SCRIPT_SIZE)], unique_txid=not coinbase)
    except CoinOverwriteError as exc:
        # Impossible with BIP34 heights in every coinbase, but never destroy a coin.
        raise BlockValidationError("bad-txns-BIP30", f"tried to overwrite transaction "
                                                     f"{tx.txid_hex}") from exc


def _has_relative_lock(tx: Transaction) -> bool:
    """Whether BIP68 can lock ``tx`` at all (version >= 2 and some input without the disable
    flag); when not, its sequence locks are empty and always satisfied, so the per-input
    heights need not be gathered."""
    return tx.version >= 2 and any(not txin.sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG
                                   for txin in tx.inputs)


def _script_checks(verifier: ScriptVerifier | None) -> BlockScripts:
    """The block's script checks under the consensus flags, fed one transaction at a time:
    with a multi-threaded ``verifier`` the signatures are verified on other cores while the
    rest of the block is validated here (Core's check queue). :meth:`BlockScripts.finish`
    reports the first failing input in block order with the interpreter's reason. Without a
    verifier: one thread, no signature cache (nothing to close)."""
    return (verifier or ScriptVerifier(threads=1)).start_block(CONSENSUS_FLAGS)


def stake_coin(coin: Coin, ctx: ChainContext) -> StakeCoin:
    """The PoS view of a staked coin: its output, height and the time of its block on the
    branch ``ctx`` ends at (a coin of the block being connected gets the parent's time + 1 as a
    placeholder: it fails the depth rule before its time matters)."""
    if coin.height <= ctx.height:
        block_time = ctx.time_at(coin.height)
    else:
        block_time = ctx.time + 1
    return StakeCoin(coin.output, coin.height, block_time)


def _connect_genesis(block: StakeBlock, view: CoinsViewCache, params: ChainParams) -> BlockUndo:
    """The genesis is valid by definition; its coinbase outputs (the premine) become coins."""
    if block.hash != params.genesis_hash:
        raise BlockValidationError("bad-genesis", "block at height 0 is not this network's genesis")
    _add_outputs(view, block.transactions[0], 0, coinbase=True, coinstake=False)
    return BlockUndo(())


# ------------------------------------------------------------------------------ connect
class _Totals:
    """The running totals of one block's transaction loop (local to one connect_block call):
    shared by the Python loop body and the compiled fast path, which hands transactions it
    does not handle itself to :func:`_connect_tx`."""

    __slots__ = ("fees", "stake_reward", "sigops", "tx_undo", "contract_free")

    def __init__(self) -> None:
        self.fees = 0
        self.stake_reward = 0
        self.sigops = 0
        self.tx_undo: list[tuple[Coin, ...]] = []
        #: Set by the compiled loop: byte i is 1 when transaction i has no output that could
        #: claim to be a contract output (see ``find_contract_transactions``); None: unknown.
        self.contract_free: bytearray | None = None


def _connect_tx(totals: _Totals, position: int, tx: Transaction, block: StakeBlock,
                cache: CoinsViewCache, height: int, ctx: ChainContext, params: ChainParams,
                scripts: BlockScripts | None) -> None:
    """One transaction of :func:`_connect_transactions`: its input rules, its share of the
    sigop limit, spending its inputs and adding its outputs in ``cache``, and queueing its
    script checks on ``scripts``. The reference every faster path must agree with."""
    coinstake = position == 1  # pos_block is established by connect_block
    if position == 0:
        coins: list[Coin] = []
    else:
        # Each spent coin is looked up once (and spent at once: this cache is private and
        # dropped on failure); the list serves every rule below and becomes the undo data.
        try:
            coins = cache.spend_inputs([txin.prevout for txin in tx.inputs])
            fee = check_tx_input_coins(tx, coins, height, params, coinstake=coinstake)
        except CoinNotFoundError as exc:
            outpoint = exc.outpoint  # type: ignore[attr-defined]
            missing = TxValidationError("bad-txns-inputs-missingorspent",
                                        f"input {outpoint} missing or spent")
            raise BlockValidationError(missing.reason,
                                       f"tx {tx.txid_hex}: {missing.detail}") from missing
        except TxValidationError as exc:
            raise BlockValidationError(exc.reason, f"tx {tx.txid_hex}: {exc.detail}") from exc
        if coinstake:
            totals.stake_reward = -fee
            # The kernel and signature again, now against the coin this branch's UTXO set
            # really holds (the storage layer checked them before storing the block, from
            # a lookup that may have walked a side branch).
            check_proof_of_stake(block.header, ctx, stake_coin(coins[0], ctx), params)
        else:
            totals.fees += fee
            if not 0 <= totals.fees <= params.max_money:
                raise BlockValidationError("bad-txns-accumulated-fee-outofrange",
                                           "accumulated fee in the block out of range")
        if _has_relative_lock(tx) and not check_sequence_locks(
                tx, CONSENSUS_LOCKTIME_FLAGS, [coin.height for coin in coins], ctx):
            raise BlockValidationError("bad-txns-nonfinal",
                                       f"contains a non-BIP68-final transaction {tx.txid_hex}")

    totals.sigops += transaction_sigop_cost(tx, coins, CONSENSUS_FLAGS)
    if totals.sigops > params.max_block_sigops_cost:
        raise BlockValidationError("bad-blk-sigops", "too many sigops")

    if position:
        if scripts is not None:
            scripts.add(tx, coins)
        totals.tx_undo.append(tuple(coins))
    _add_outputs(cache, tx, height, position == 0, coinstake)


def _connect_transactions(block: StakeBlock, cache: CoinsViewCache, height: int,
                          ctx: ChainContext, params: ChainParams,
                          scripts: BlockScripts | None, *,
                          fast: bool | None = None
                          ) -> tuple[int, int, list[tuple[Coin, ...]], bytearray | None]:
    """The per-transaction part of :func:`connect_block`: every input rule, the sigop limit,
    spending the inputs and adding the outputs in ``cache``, and queueing each input's script
    checks on ``scripts``. Returns (fees, stake reward, undo data, contract-free flags: see
    ``_Totals.contract_free``).

    With the compiled fast path (:mod:`wattchain.consensus.connect_fast`; ``fast`` default:
    unless ``WATTCHAIN_PURE``) the common transactions run in C and the rest through
    :func:`_connect_tx`, with the same results and the same errors."""
    totals = _Totals()
    loop = compiled_loop(fast)
    if loop is not None:
        totals.contract_free = bytearray(len(block.transactions))
        loop(block.transactions, cache, height, params, scripts, totals,
             lambda position, tx: _connect_tx(totals, position, tx, block, cache, height, ctx,
                                              params, scripts))
    else:
        for position, tx in enumerate(block.transactions):
            _connect_tx(totals, position, tx, block, cache, height, ctx, params, scripts)
    return totals.fees, totals.stake_reward, totals.tx_undo, totals.contract_free


def connect_block(block: StakeBlock, view: CoinsViewCache, height: int,
                  ctx: ChainContext | None, params: ChainParams,
                  script_check: bool = True, *,
                  script_verifier: ScriptVerifier | None = None,
                  contracts: BlockContracts | None = None,
                  in_place: bool = False) -> BlockUndo:
    """Apply ``block`` at ``height`` on top of ``view``; return what is needed to undo it.

    ``contracts`` (the contract state at the parent, see :mod:`contract_rules`) executes the
    block's contract outputs; afterwards ``contracts.execution`` holds receipts and undo.
    None: blocks with contract outputs are invalid ("contracts-unavailable").

    ``ctx`` describes the parent (None only for the genesis, height 0). ``script_check=False``
    skips signature/script verification (e.g. below an assumed-valid block); every other rule
    still runs. ``script_verifier`` (owned by the caller) batches the signature checks over
    its threads and signature cache. Raises :class:`BlockValidationError`; on failure ``view``
    is unchanged, unless ``in_place``.

    ``in_place`` writes straight into ``view``, for a caller that throws ``view`` away when the
    block fails, as Core's ConnectTip does with its temporary view (the node's
    ``connect_tip``). Without it the block is built in a private layer on top of ``view`` and
    flushed into it on success, a second pass over every coin the block touches (~0.02 s for a
    full block). With it, a failed block leaves ``view`` part-way.
    """
    with collector_paused():  # see consensus.collector
        return _connect_block(block, view, height, ctx, params, script_check, script_verifier,
                              contracts, in_place)


def _connect_block(block: StakeBlock, view: CoinsViewCache, height: int,
                   ctx: ChainContext | None, params: ChainParams, script_check: bool,
                   script_verifier: ScriptVerifier | None,
                   contracts: BlockContracts | None, in_place: bool) -> BlockUndo:
    """:func:`connect_block` with the garbage collector paused."""
    cache = view if in_place else CoinsViewCache(view)
    if height == 0:
        undo = _connect_genesis(block, cache, params)
        if cache is not view:
            cache.flush_into(view)
        return undo
    if ctx is None:
        raise ValueError("a non-genesis block needs its parent's ChainContext")

    txs = block.transactions
    pos_block = len(txs) > 1 and is_coinstake(txs[1])
    if not pos_block:
        raise BlockValidationError("bad-cs-missing", "second transaction is not a coinstake")
    scripts = _script_checks(script_verifier) if script_check else None
    try:
        fees, stake_reward, tx_undo, contract_free = _connect_transactions(
            block, cache, height, ctx, params, scripts)
        if scripts is not None:
            scripts.finish()
    finally:
        if scripts is not None:
            scripts.close()  # restore the switch interval on failure too
    allowed = params.block_subsidy(height) + fees + connect_contracts(  # contracts last
        block, cache, height, params, tx_undo, fees, stake_reward, contracts,
        contract_free=contract_free)
    if stake_reward > allowed:
        raise BlockValidationError("bad-cs-amount",
                                   f"coinstake pays too much (actual={stake_reward} vs "
                                   f"limit={allowed})")
    paid = txs[0].total_output_value() + stake_reward
    if paid > allowed:
        raise BlockValidationError("bad-cb-amount",
                                   f"coinbase pays too much (actual={paid} vs limit={allowed})")
    if cache is not view:
        cache.flush_into(view)
    return BlockUndo(tuple(tx_undo))


# ------------------------------------------------------------------------------ disconnect
def disconnect_block(block: StakeBlock, undo: BlockUndo, view: CoinsViewCache, *,
                     contracts: BlockContracts | None = None) -> None:
    """Exactly reverse :func:`connect_block`: remove the block's outputs, restore what it spent.

    Strict: any mismatch between the block, the undo data and the view raises
    :class:`DisconnectError` (reason ``bad-undo-data``) and leaves ``view`` unchanged.
    """
    txs = block.transactions
    if len(undo.tx_undo) + 1 != len(txs):
        raise DisconnectError("bad-undo-data", f"undo covers {len(undo.tx_undo)} txs, block "
                                               f"has {len(txs) - 1} non-coinbase txs")
    cache = CoinsViewCache(view)
    disconnect_contracts(block, cache, contracts)  # contract outputs back, state undone
    block_height: int | None = None
    for position in range(len(txs) - 1, -1, -1):
        tx = txs[position]
        txid = tx.txid
        for index, out in enumerate(tx.outputs):
            if is_unspendable(out.script_pubkey):
                continue
            outpoint = OutPoint(txid, index)
            try:
                coin = cache.spend_coin(outpoint)
            except CoinNotFoundError:
                raise DisconnectError("bad-undo-data", f"output {outpoint} missing") from None
            if block_height is None:
                block_height = coin.height
            if (coin.output != out or coin.is_coinbase != (position == 0)
                    or coin.height != block_height):
                raise DisconnectError("bad-undo-data", f"output {outpoint} differs from the view")
        if position == 0:
            continue
        spent = undo.tx_undo[position - 1]
        if len(spent) != len(tx.inputs):
            raise DisconnectError("bad-undo-data", f"undo for tx {tx.txid_hex} has {len(spent)} "
                                                   f"coins for {len(tx.inputs)} inputs")
        for txin, coin in zip(reversed(tx.inputs), reversed(spent)):
            try:
                cache.add_coin(txin.prevout, coin)
            except CoinOverwriteError:
                raise DisconnectError("bad-undo-data",
                                      f"restoring {txin.prevout} would overwrite a coin") from None
    cache.flush_into(view)


__all__ = ["BlockUndo", "DisconnectError", "connect_block", "disconnect_block"]
