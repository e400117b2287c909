"""Deterministic test-chain generator for chainstate tests, crash trials and benchmarks.

Like btcd's full-block test generator: a :class:`Branch` knows its tip and the coins it can
spend, builds well-formed blocks of real transactions (P2WPKH spends signed with real ECDSA
signatures, and OP_TRUE P2WSH "anyone can spend" outputs for cheap bulk), and can be copied
to grow a fork. Everything is driven by a caller-supplied ``random.Random`` so a seed fixes the
chain byte for byte.

Blocks are real Proof-of-Stake blocks: a coinbase paying value 0, a coinstake (tx 1) that
stakes one of the branch's key-owned coins whose kernel meets the retargeted difficulty and
pays it back plus the subsidy (fees are simply not claimed), and a block signature by the
staking key. Times default to one target spacing apart, so the difficulty stays put.

Each branch keeps an in-memory contract state (SMT nodes shared between forks: they are
content-addressed), so blocks with contract outputs carry the right ``state_root`` and end
their coinstake with the execution's refunds, paid on top of the reward (the refunds of
unused gas come out of the contract transactions' fees, which cover all their gas).
"""

from __future__ import annotations

import copy
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from wattchain.consensus.assemble import build_block
from wattchain.consensus.coins import CoinsViewCache
from wattchain.consensus.connect import connect_block
from wattchain.consensus.contract_rules import BlockContracts
from wattchain.consensus.context import ListChainContext
from wattchain.consensus.params import ChainParams, regtest_params
from wattchain.consensus.pos import (StakeKernel, next_stake_modifier, next_target_bits,
                                     sign_block)
from wattchain.contracts import (BlockExecution, BlockStateUndo, ContractFormatError,
                                 ContractState, MemoryStore, default_registry, execute_block)
from wattchain.core.hashes import hash160
from wattchain.core.header import StakeBlock
from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.script.opcodes import Op
from wattchain.script.sighash import (SIGHASH_ALL, PrecomputedTransactionData,
                                      segwit_v0_signature_hash)
from wattchain.script.standard import p2wpkh, p2wsh
from wattchain.node.utxo_db import EmptyCoinsView, UtxoStats, cache_coins, utxo_stats

#: The witness script of the anyone-can-spend outputs: OP_TRUE.
OP_TRUE_SCRIPT = bytes((Op.OP_1,))
ANYONE_CAN_SPEND = p2wsh(OP_TRUE_SCRIPT)


@dataclass(frozen=True)
class Key:
    """A test key and its P2WPKH output script."""

    secret: bytes
    pubkey: bytes
    script_pubkey: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> "Key":
        secret = hashlib.sha256(b"wattchain-test-key" + seed).digest()
        pubkey = public_key(secret)
        return cls(secret, pubkey, p2wpkh(hash160(pubkey)))

    @property
    def script_code(self) -> bytes:
        """BIP143 scriptCode of a P2WPKH input: the equivalent P2PKH script."""
        return bytes((Op.OP_DUP, Op.OP_HASH160, 20)) + hash160(self.pubkey) + bytes(
            (Op.OP_EQUALVERIFY, Op.OP_CHECKSIG))


def far_future_now(params: ChainParams) -> int:
    """A "now" far after every generated block time, so the future-time rule never fires."""
    return params.genesis_time + 10**7


def make_keys(n: int, seed: int = 0) -> list[Key]:
    return [Key.from_seed(seed.to_bytes(8, "little") + i.to_bytes(4, "little")) for i in range(n)]


def generated_params(keys: Sequence[Key], outputs_per_key: int = 4, value: int = 50 * COIN,
                     coinbase_maturity: int = 1, **overrides: object) -> ChainParams:
    """Regtest parameters whose genesis premine pays ``outputs_per_key`` outputs to each key.

    Maturity and stake depth default to 1 so generated chains can spend and stake the premine
    from block 1 on.
    """
    premine = [(key.script_pubkey, value) for key in keys for _ in range(outputs_per_key)]
    params = regtest_params(premine=premine)
    settings: dict[str, object] = {"coinbase_maturity": coinbase_maturity,
                                   "stake_min_depth": coinbase_maturity}
    settings.update(overrides)
    return replace(params, **settings)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Spendable:
    """A coin the generator can spend: P2WPKH with ``key``, or OP_TRUE P2WSH if key is None."""

    outpoint: OutPoint
    output: TxOut
    height: int
    #: Subject to maturity: a coinbase or coinstake output.
    is_coinbase: bool
    key: Key | None


def sign_transaction(tx: Transaction, spent: Sequence[Spendable]) -> Transaction:
    """Fill every input's witness: a real SIGHASH_ALL signature for P2WPKH coins, the
    OP_TRUE witness script for anyone-can-spend coins."""
    precomputed = PrecomputedTransactionData(tx)
    inputs = []
    for i, (txin, coin) in enumerate(zip(tx.inputs, spent)):
        if coin.key is None:
            witness: tuple[bytes, ...] = (OP_TRUE_SCRIPT,)
        else:
            digest = segwit_v0_signature_hash(coin.key.script_code, tx, i, SIGHASH_ALL,
                                              coin.output.value, precomputed)
            witness = (sign_ecdsa(coin.key.secret, digest) + bytes((SIGHASH_ALL,)),
                       coin.key.pubkey)
        inputs.append(TxIn(txin.prevout, txin.script_sig, txin.sequence, witness))
    return Transaction(tx.version, tuple(inputs), tx.outputs, tx.locktime)


class NoStakeError(RuntimeError):
    """No coin of the branch can stake a block (none mature, or no kernel within the search)."""


class Branch:
    """One chain tip plus the coins spendable on it. :meth:`fork` copies it."""

    #: Slots tried when looking for a winning kernel before giving up.
    MAX_STAKE_SLOTS = 4096

    def __init__(self, params: ChainParams, keys: Sequence[Key]) -> None:
        self.params = params
        self.keys = list(keys)
        genesis = params.genesis_block
        self.blocks: list[StakeBlock] = [genesis]
        self.modifiers: list[bytes] = [bytes(32)]
        self.coins: dict[OutPoint, Spendable] = {}
        #: Every outpoint any copy of this branch staked. Shared (not copied) by :meth:`fork`
        #: so sibling branches never stake the same coin, as distinct honest stakers would not
        #: (the chainstate refuses a coin staked on two branches: "stake-already-used").
        self.staked: set[OutPoint] = set()
        #: Contract state of this branch; nodes are shared by forks (content-addressed).
        self.contract_nodes = MemoryStore()
        self.contract_store = MemoryStore()
        self.contract_root = genesis.header.state_root
        self.contract_undos: list[BlockStateUndo | None] = [None]
        self.registry = default_registry()
        self._add_outputs(genesis.transactions[0], 0, True)

    @property
    def tip(self) -> StakeBlock:
        return self.blocks[-1]

    @property
    def height(self) -> int:
        return len(self.blocks) - 1

    def fork(self, height: int | None = None) -> "Branch":
        """A copy of this branch, optionally cut back to ``height`` (coins recomputed)."""
        other = copy.copy(self)
        other.coins = dict(self.coins)
        other.blocks = list(self.blocks)
        other.modifiers = list(self.modifiers)
        other.contract_store = MemoryStore()
        other.contract_store.data = dict(self.contract_store.data)
        other.contract_undos = list(self.contract_undos)
        if height is not None and height < self.height:
            state = ContractState(other.contract_store, other.contract_nodes, self.contract_root)
            for undo in reversed(other.contract_undos[height + 1:]):
                if undo is not None:
                    state.undo_block(undo)
            other.contract_root = state.root
            other.contract_undos = other.contract_undos[:height + 1]
            other.blocks = other.blocks[:height + 1]
            other.modifiers = other.modifiers[:height + 1]
            other.coins = {}
            for h, block in enumerate(other.blocks):
                other._apply(block, h)
        return other

    def context(self) -> ListChainContext:
        """The consensus view of this branch's tip (parent of the next block)."""
        tip = self.tip
        return ListChainContext(tuple(b.header.time for b in self.blocks), tip.hash,
                                tip.header.bits, self.modifiers[-1])

    def _key_for(self, script: bytes) -> Key | None | bool:
        if script == ANYONE_CAN_SPEND:
            return None
        for key in self.keys:
            if key.script_pubkey == script:
                return key
        return False

    def _add_outputs(self, tx: Transaction, height: int, is_coinbase: bool) -> None:
        for index, out in enumerate(tx.outputs):
            key = self._key_for(out.script_pubkey)
            if key is not False:
                outpoint = OutPoint(tx.txid, index)
                self.coins[outpoint] = Spendable(outpoint, out, height, is_coinbase,
                                                 key)  # type: ignore[arg-type]

    def _apply(self, block: StakeBlock, height: int) -> None:
        for n, tx in enumerate(block.transactions):
            if n:
                for txin in tx.inputs:
                    self.coins.pop(txin.prevout, None)
            # Coinbase (tx 0) and coinstake (tx 1 of a PoS block) outputs both mature.
            self._add_outputs(tx, height, n == 0 or (n == 1 and height > 0))

    def mature_coins(self, height: int | None = None) -> list[Spendable]:
        """Coins spendable in a block at ``height`` (default: the next block), oldest first."""
        h = self.height + 1 if height is None else height
        return [c for c in self.coins.values()
                if not c.is_coinbase or self.params.generated_coin_mature(c.height, h)]

    # ------------------------------------------------------------------ staking
    def stakeable_coins(self, exclude: Sequence[OutPoint] = ()) -> list[Spendable]:
        """Key-owned mature coins deep enough to stake the next block, largest first."""
        height = self.height + 1
        excluded = set(exclude) | self.staked
        coins = [c for c in self.mature_coins(height)
                 if c.key is not None and c.outpoint not in excluded
                 and self.params.stake_deep_enough(c.height, height)]
        coins.sort(key=lambda c: (-c.output.value, c.outpoint.txid, c.outpoint.index))
        return coins

    def find_stake(self, earliest_time: int, bits: int,
                   exclude: Sequence[OutPoint] = ()) -> tuple[Spendable, int]:
        """The first (slot time, coin) at or after ``earliest_time`` whose kernel wins."""
        params = self.params
        step = params.stake_timestamp_mask + 1
        time = -(-earliest_time // step) * step
        coins = self.stakeable_coins(exclude)
        if not coins:
            raise NoStakeError("no mature key-owned coin to stake with")
        modifier = self.modifiers[-1]
        for _ in range(self.MAX_STAKE_SLOTS):
            for coin in coins:
                kernel = StakeKernel(modifier, self.blocks[coin.height].header.time,
                                     coin.outpoint, time)
                if kernel.meets_target(bits, coin.output.value):
                    return coin, time
            time += step
        raise NoStakeError(f"no kernel found in {self.MAX_STAKE_SLOTS} slots")

    def coinstake(self, stake: Spendable, height: int, reward: int | None = None,
                  refunds: Sequence[TxOut] = ()) -> Transaction:
        """A signed coinstake paying ``stake`` back to its key plus ``reward`` (default: the
        full subsidy), then the contract ``refunds``."""
        value = stake.output.value + (self.params.block_subsidy(height) if reward is None
                                      else reward)
        unsigned = Transaction(2, (TxIn(stake.outpoint, b"", 0xFFFFFFFF),),
                               (TxOut(0, b""), TxOut(value, stake.output.script_pubkey),
                                *refunds), 0)
        return sign_transaction(unsigned, [stake])

    # ------------------------------------------------------------------ contracts
    def _sender_of(self, transactions: Sequence[Transaction]):  # type: ignore[no-untyped-def]
        created = {OutPoint(tx.txid, i): out.script_pubkey
                   for tx in transactions for i, out in enumerate(tx.outputs)}

        def sender_of(tx: Transaction) -> bytes:
            prevout = tx.inputs[0].prevout
            if prevout in created:
                return created[prevout]
            return self.coins[prevout].output.script_pubkey

        return sender_of

    def execute_contracts(self, transactions: Sequence[Transaction], height: int, time: int,
                          *, commit: bool = False) -> BlockExecution:
        """Run the contract outputs of ``transactions`` (the block's, after the coinstake)
        on this branch's state: on a throwaway overlay, or for real with ``commit``."""
        if commit:
            state = ContractState(self.contract_store, self.contract_nodes, self.contract_root)
        else:
            store = MemoryStore()
            store.data = dict(self.contract_store.data)
            state = ContractState(store, self.contract_nodes, self.contract_root)
        placeholder = Transaction(2, (), (), 0)  # position 0 (coinbase) holds no contracts
        return execute_block([placeholder, *transactions], self._sender_of(transactions), state,
                             height, time, self.params.contracts, self.registry)

    # ------------------------------------------------------------------ building
    def make_block(self, transactions: Sequence[Transaction] = (), *,
                   time_step: int | None = None, stake: Spendable | None = None,
                   reward: int | None = None, sign: bool = True,
                   coinbase_height: int | None = None, **kwargs: object) -> StakeBlock:
        """A signed PoS block on the tip holding ``transactions`` (not applied: see
        :meth:`add`). The stake is the first coin (largest first) not spent by
        ``transactions`` whose kernel wins at the earliest slot ``time_step`` (default: one
        target spacing) after the tip; ``coinbase_height`` forges the BIP34 height;
        ``kwargs`` go to ``build_block`` (e.g. ``bits``)."""
        params = self.params
        tip = self.tip
        height = self.height + 1
        ctx = self.context()
        bits = kwargs.pop("bits", None)
        bits = next_target_bits(ctx, params) if bits is None else bits
        step = params.target_spacing if time_step is None else time_step
        earliest = max(tip.header.time + step, ctx.median_time_past + 1)
        spent = [txin.prevout for tx in transactions for txin in tx.inputs]
        if stake is None:
            stake, time = self.find_stake(earliest, bits, spent)  # type: ignore[arg-type]
        else:
            time = earliest
        refunds: Sequence[TxOut] = ()
        if "state_root" not in kwargs:
            try:
                execution = self.execute_contracts(transactions, height, time)
            except ContractFormatError:
                execution = None  # an invalid block on purpose: keep the parent's root
            kwargs["state_root"] = (execution.state_root if execution is not None
                                    else self.contract_root)
            refunds = execution.refunds if execution is not None else ()
        block = build_block(tip.hash, height if coinbase_height is None else coinbase_height,
                            time, bits, transactions, params,
                            coinstake=self.coinstake(stake, height, reward, refunds),
                            **kwargs)  # type: ignore[arg-type]
        if sign:
            assert stake.key is not None
            block = sign_block(block, stake.key.secret)
        return block

    def add(self, block: StakeBlock) -> StakeBlock:
        """Record ``block`` as the new tip of this branch (assumed valid)."""
        self.blocks.append(block)
        self.staked.add(block.header.prevout_stake)
        self.modifiers.append(next_stake_modifier(self.modifiers[-1],
                                                  block.header.prevout_stake.txid))
        undo = None
        try:
            execution = self.execute_contracts(block.transactions[2:], self.height,
                                               block.header.time, commit=True)
            undo = execution.undo
            self.contract_root = execution.state_root
        except (ContractFormatError, KeyError):
            pass  # an invalid block recorded on purpose: its contracts change nothing
        self.contract_undos.append(undo)
        self._apply(block, self.height)
        return block

    def spend(self, inputs: Sequence[Spendable], n_outputs: int, rng: random.Random, *,
              fee: int = 0, anyone_can_spend_share: float = 0.3) -> Transaction:
        """A signed transaction spending ``inputs`` into ``n_outputs`` random-sized outputs
        paying random test keys (or anyone-can-spend)."""
        total = sum(c.output.value for c in inputs) - fee
        if total < n_outputs:
            raise ValueError("inputs too small for that many outputs")
        cuts = sorted(rng.sample(range(1, total), n_outputs - 1)) if n_outputs > 1 else []
        values = [b - a for a, b in zip([0] + cuts, cuts + [total])]
        outputs = []
        for value in values:
            if rng.random() < anyone_can_spend_share:
                script = ANYONE_CAN_SPEND
            else:
                script = rng.choice(self.keys).script_pubkey
            outputs.append(TxOut(value, script))
        unsigned = Transaction(2, tuple(TxIn(c.outpoint, b"", 0xFFFFFFFE) for c in inputs),
                               tuple(outputs), 0)
        return sign_transaction(unsigned, inputs)

    def random_block(self, rng: random.Random, max_txs: int = 4, max_inputs: int = 3,
                     max_outputs: int = 3) -> StakeBlock:
        """A valid block of random spends (some chained inside the block), added to the tip."""
        height = self.height + 1
        ctx = self.context()
        bits = next_target_bits(ctx, self.params)
        stake, _ = self.find_stake(self.tip.header.time + self.params.target_spacing, bits)
        available = [c for c in self.mature_coins(height) if c.outpoint != stake.outpoint]
        rng.shuffle(available)
        txs: list[Transaction] = []
        for _ in range(rng.randint(0, max_txs)):
            if not available:
                break
            n_in = min(len(available), rng.randint(1, max_inputs))
            inputs = [available.pop() for _ in range(n_in)]
            value_in = sum(c.output.value for c in inputs)
            n_out = max(1, min(rng.randint(1, max_outputs), value_in))
            fee = min(rng.choice((0, 0, 1000)), value_in - n_out)
            tx = self.spend(inputs, n_out, rng, fee=fee)
            txs.append(tx)
            if rng.random() < 0.5:  # allow later txs of this block to spend these outputs
                for index, out in enumerate(tx.outputs):
                    key = self._key_for(out.script_pubkey)
                    if key is not False:
                        available.append(Spendable(OutPoint(tx.txid, index), out, height,
                                                   False, key))  # type: ignore[arg-type]
        return self.add(self.make_block(txs, stake=stake))


def replay_stats(params: ChainParams, blocks: Sequence[StakeBlock]) -> UtxoStats:
    """UTXO-set stats of connecting ``blocks`` (genesis first) in memory: the reference a
    stored chainstate is compared with. Raises BlockValidationError if a block is invalid."""
    return _replay(params, blocks)[0]


def replay_state_root(params: ChainParams, blocks: Sequence[StakeBlock]) -> bytes:
    """The contract state root after connecting ``blocks`` (genesis first) in memory."""
    return _replay(params, blocks)[1]


def replay_contract_state(params: ChainParams, blocks: Sequence[StakeBlock]
                          ) -> tuple[bytes, dict[bytes, bytes]]:
    """(state root, every state key and value) after connecting ``blocks`` in memory."""
    store = MemoryStore()
    root = _replay(params, blocks, store)[1]
    return root, dict(store.data)


def _replay(params: ChainParams, blocks: Sequence[StakeBlock],
            store: MemoryStore | None = None) -> tuple[UtxoStats, bytes]:
    view = CoinsViewCache(EmptyCoinsView())
    state = ContractState(store if store is not None else MemoryStore(), MemoryStore())
    ctx: ListChainContext | None = None
    for height, block in enumerate(blocks):
        connect_block(block, view, height, ctx, params, contracts=BlockContracts(state))
        header = block.header
        ctx = (ListChainContext((header.time,), block.hash, header.bits) if ctx is None
               else ctx.extend(header.time, block.hash, header.bits,
                               next_stake_modifier(ctx.stake_modifier,
                                                   header.prevout_stake.txid)))
    return (utxo_stats(cache_coins(view), blocks[-1].hash if blocks else None,
                       presorted=False), state.root)


def chain_to(blocks_by_hash: dict[bytes, StakeBlock], tip_hash: bytes) -> list[StakeBlock]:
    """The blocks from the genesis to ``tip_hash``, following prev_hash links."""
    chain = []
    block_hash = tip_hash
    while block_hash in blocks_by_hash:
        block = blocks_by_hash[block_hash]
        chain.append(block)
        block_hash = block.header.prev_hash
    chain.reverse()
    return chain
