"""Helpers for the staker tests: a chainstate with a staker, a fake clock, forged blocks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wattchain.consensus.assemble import build_block
from wattchain.consensus.params import ChainParams
from wattchain.consensus.pos import next_target_bits, sign_block
from wattchain.core.block import Block
from wattchain.core.header import StakeBlock
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.node.activation import ProcessResult
from wattchain.node.block_index import EntryChainContext
from wattchain.node.chaingen import Key, Spendable, sign_transaction
from wattchain.node.chainstate import Chainstate
from wattchain.node.coinstake import KeyStoreStakingKeys, StakePolicy
from wattchain.node.stake_fill import TransactionSource
from wattchain.node.staker import Staker


class FakeClock:
    """A clock tests move by hand; ``sleep`` advances it instead of waiting."""

    def __init__(self, now: float) -> None:
        self.now = float(now)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


@dataclass
class StakerNode:
    """One chainstate (real LevelDB) and one staker over ``keys``."""

    chainstate: Chainstate
    staker: Staker
    clock: FakeClock

    @classmethod
    def open(cls, datadir: Path, params: ChainParams, keys: list[Key], *,
             source: TransactionSource | None = None, policy: StakePolicy = StakePolicy(),
             clock: FakeClock | None = None) -> "StakerNode":
        clock = clock or FakeClock(params.genesis_time)
        cs = Chainstate.open(datadir, params, sync=False)
        staking_keys = KeyStoreStakingKeys.from_secrets([key.secret for key in keys])
        staker = Staker(cs, staking_keys, source=source, policy=policy, clock=clock,
                        sleep=clock.sleep)
        return cls(cs, staker, clock)

    def close(self) -> None:
        self.chainstate.close()

    def submit(self, block: StakeBlock) -> ProcessResult:
        return self.chainstate.process_block(block, int(self.clock.now))

    def stake_blocks(self, count: int, max_slots: int = 10_000) -> list[StakeBlock]:
        """Advance the clock one second at a time until ``count`` blocks were staked and
        accepted."""
        made: list[StakeBlock] = []
        for _ in range(max_slots):
            if len(made) == count:
                break
            self.clock.now += 1
            block = self.staker.try_stake(self.clock.now)
            if block is not None:
                result = self.submit(block)
                assert result.accepted and result.became_tip, (result.reason, result.detail)
                made.append(block)
        assert len(made) == count
        return made


def forge_block(cs: Chainstate, key: Key, outpoint: OutPoint, time: int, *,
                bits: int | None = None, reward: int | None = None,
                signer: Key | None = None, signature: bytes | None = None,
                transactions: tuple[Transaction, ...] = ()) -> StakeBlock:
    """A block on the tip staking ``outpoint`` (owned by ``key``) at ``time``, with the
    required bits and full subsidy unless overridden; signed by ``signer`` (default ``key``)
    or carrying the raw ``signature``."""
    params = cs.params
    tip = cs.tip_entry
    height = tip.height + 1
    coin = cs.get_coin(outpoint)
    if coin is None:  # a spent coin: still forge something well-formed
        value, coin_height, is_cb = 50 * 10**8, 0, False
        out = TxOut(value, key.script_pubkey)
    else:
        out, coin_height, is_cb = coin.output, coin.height, coin.is_coinbase
    bits = next_target_bits(EntryChainContext(tip), params) if bits is None else bits
    paid = out.value + (params.block_subsidy(height) if reward is None else reward)
    unsigned = Transaction(2, (TxIn(outpoint, b"", 0xFFFFFFFF),),
                           (TxOut(0, b""), TxOut(paid, key.script_pubkey)), 0)
    coinstake = sign_transaction(unsigned, [Spendable(outpoint, out, coin_height, is_cb, key)])
    block = build_block(tip.hash, height, time, bits, transactions, params, coinstake=coinstake)
    if signature is not None:
        return Block(block.header.with_signature(signature), block.transactions)
    return sign_block(block, (signer or key).secret)


def premine_outpoints(params: ChainParams) -> list[OutPoint]:
    genesis_txid = params.genesis_block.transactions[0].txid
    return [OutPoint(genesis_txid, i) for i in range(len(params.premine))]
