"""A small full-block test generator (in the spirit of btcd's fullblocktests).

Start from a valid block built with ``wattchain.consensus.assemble``, change one thing, and
check the one reason string that comes back. Everything is in memory: a DictCoinsView at the
bottom, a ListChainContext for the parent, no LevelDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from wattchain.consensus.assemble import build_block
from wattchain.consensus.block_check import check_block
from wattchain.consensus.coins import Coin, CoinsViewCache, DictCoinsView
from wattchain.consensus.connect import BlockUndo, connect_block
from wattchain.consensus.context import ListChainContext
from wattchain.consensus.contextual import contextual_check_block, contextual_check_block_header
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.params import ChainParams, regtest_params
from wattchain.core.block import Block
from wattchain.consensus.pos import sign_block
from wattchain.core.hashes import hash160, sha256, sha256d
from wattchain.core.keys import public_key
from wattchain.script.sign import KeyStore, sign_transaction
from wattchain.script.standard import p2pkh, p2wpkh
from wattchain.core.header import StakeBlock
from wattchain.core.merkle import merkle_root
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.script.opcodes import Op

OP_TRUE = bytes((Op.OP_1,))
#: A witness v1 program: "unknown witness version", anyone-can-spend under consensus, and any
#: witness is accepted without execution, which makes big-witness boundary blocks cheap.
WITNESS_V1_ANYONE = bytes((Op.OP_1, 32)) + bytes(range(1, 33))  # non-zero: Core
#: checks the scriptPubKey left true before treating it as a witness program
#: P2WSH of OP_TRUE: a real SegWit v0 spend (witness = [OP_TRUE script]).
P2WSH_TRUE = bytes((Op.OP_0, 32)) + sha256(OP_TRUE)

#: The key that owns the builder's stake coins and signs its blocks.
STAKE_SECRET = sha256(b"chain-builder stake key")
STAKE_SCRIPT = p2wpkh(hash160(public_key(STAKE_SECRET)))
STAKE_SCRIPT_LEGACY = p2pkh(hash160(public_key(STAKE_SECRET)))

GENESIS_TIME = 1_700_000_000
SPACING = 16


def default_params() -> ChainParams:
    return regtest_params()


@dataclass
class Chain:
    """A parent context, a coin view and a supply of spendable coins."""

    params: ChainParams = field(default_factory=default_params)
    height: int = 100                    # parent height
    view: CoinsViewCache = field(init=False)
    base: DictCoinsView = field(init=False)
    ctx: ListChainContext = field(init=False)
    funding: list[tuple[OutPoint, Coin]] = field(init=False)

    def __post_init__(self) -> None:
        times = tuple(GENESIS_TIME + SPACING * i for i in range(self.height + 1))
        self.ctx = ListChainContext(times, sha256d(b"parent"), self.params.genesis_bits)
        self.base = DictCoinsView()
        self.funding = []
        for i in range(20):
            outpoint = OutPoint(sha256d(b"fund" + bytes([i])), 0)
            coin = Coin(TxOut(10 * COIN, OP_TRUE), height=1, is_coinbase=False)
            self.base.coins[outpoint] = coin
            self.funding.append((outpoint, coin))
        # P2WPKH coins of STAKE_KEY: each block() stakes a fresh one (the easy regtest target
        # lets any of them win any slot), so blocks built on one parent never share a stake.
        self.stakes = []
        for i in range(40):
            outpoint = OutPoint(sha256d(b"stake" + bytes([i])), 1)
            # Every fourth coin is P2PKH: blocks without any witness data need one.
            script = STAKE_SCRIPT if i % 4 else STAKE_SCRIPT_LEGACY
            coin = Coin(TxOut(10 * COIN, script), height=1, is_coinbase=False)
            self.base.coins[outpoint] = coin
            self.stakes.append((outpoint, coin))
        self._next_stake = 0
        self.view = CoinsViewCache(self.base)

    # ------------------------------------------------------------------ coins and txs
    def add_coin(self, coin: Coin, tag: bytes) -> OutPoint:
        outpoint = OutPoint(sha256d(tag), 0)
        self.base.coins[outpoint] = coin
        return outpoint

    @property
    def next_height(self) -> int:
        return self.ctx.height + 1

    @property
    def next_time(self) -> int:
        return self.ctx.time + SPACING

    @property
    def now(self) -> int:
        return self.next_time

    def coinstake(self, reward: int | None = None, extra: int = 0,
                  legacy: bool = False) -> Transaction:
        """A signed coinstake on the next fresh stake coin (P2WPKH, or P2PKH if ``legacy``)
        paying it back plus ``reward`` (default: the subsidy) plus ``extra``."""
        while True:
            outpoint, coin = self.stakes[self._next_stake]
            self._next_stake += 1
            if (coin.output.script_pubkey == STAKE_SCRIPT_LEGACY) == legacy:
                break
        if reward is None:
            reward = self.params.block_subsidy(self.next_height)
        keys = KeyStore()
        keys.add_key(STAKE_SECRET)
        unsigned = spend([outpoint], [TxOut(0, b""), TxOut(coin.output.value + reward + extra,
                                                            coin.output.script_pubkey)])
        return sign_transaction(unsigned, [coin.output], keys)

    def block(self, txs: Sequence[Transaction] = (), **kw) -> StakeBlock:
        """A valid, signed PoS block on the parent: a value-0 coinbase, a coinstake claiming
        subsidy + ``fee`` (or the given ``coinstake``), then ``txs``."""
        fee = kw.pop("fee", 0)
        coinstake = kw.pop("coinstake", None)
        if coinstake is None:
            coinstake = self.coinstake(extra=fee)
        sign = kw.pop("sign", True)
        block = build_block(self.ctx.hash, kw.pop("height", self.next_height),
                            kw.pop("time", self.next_time), kw.pop("bits", None), txs,
                            self.params, coinstake=coinstake, **kw)
        return sign_block(block, STAKE_SECRET) if sign else block

    def validate(self, block: StakeBlock, *, now: int | None = None,
                 height: int | None = None) -> BlockUndo:
        """Every check, in a node's order, connecting into a child of ``self.view``."""
        height = self.next_height if height is None else height
        check_block(block, self.params)
        contextual_check_block_header(block.header, self.ctx,
                                      self.now if now is None else now, self.params)
        contextual_check_block(block, height, self.ctx, self.params)
        child = CoinsViewCache(self.view)
        undo = connect_block(block, child, height, self.ctx, self.params)
        child.flush_into(self.view)
        return undo

    def reject_reason(self, block: StakeBlock, **kw) -> str:
        try:
            self.validate(block, **kw)
        except BlockValidationError as exc:
            return exc.reason
        raise AssertionError("block was accepted")


def spend(prevouts: Sequence[OutPoint], outputs: Sequence[TxOut], *, version: int = 2,
          locktime: int = 0, sequence: int = 0xFFFFFFFE, script_sig: bytes = b"",
          witness: tuple[bytes, ...] = ()) -> Transaction:
    inputs = tuple(TxIn(op, script_sig, sequence, witness) for op in prevouts)
    return Transaction(version, inputs, tuple(outputs), locktime)


def remerkle(block: StakeBlock) -> StakeBlock:
    """Recompute the header's merkle root after changing the transaction list."""
    root, _ = merkle_root([tx.txid for tx in block.transactions])
    return Block(replace(block.header, merkle_root=root), block.transactions)


def with_txs(block: StakeBlock, txs: Sequence[Transaction]) -> StakeBlock:
    return remerkle(Block(block.header, tuple(txs)))


def with_header(block: StakeBlock, **changes) -> StakeBlock:
    return Block(replace(block.header, **changes), block.transactions)


def op_return(size: int) -> bytes:
    """An OP_RETURN script of exactly ``size`` bytes that tokenizes as one push (cheap to scan)."""
    if size < 1:
        raise ValueError("size >= 1")
    if size <= 76:
        return bytes((Op.OP_RETURN,)) + bytes(size - 1)
    return bytes((Op.OP_RETURN, Op.OP_PUSHDATA4)) + (size - 6).to_bytes(4, "little") + bytes(size - 6)
