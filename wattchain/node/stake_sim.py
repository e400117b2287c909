"""In-memory slot simulation of many stakers with the real consensus functions.

Used by the fairness and difficulty-convergence tests (and ``bench/stake_bench.py``): running
thousands of slots through LevelDB-backed chainstates would take minutes, while the question
those tests ask — do blocks go to stakers in proportion to their stake, and does the retarget
hold the spacing — depends only on the kernel, the stake modifier and the retarget. Those are
the real :class:`~wattchain.consensus.pos.StakeKernel`,
:func:`~wattchain.consensus.pos.next_stake_modifier` and
:func:`~wattchain.consensus.pos.next_target_bits` over a
:class:`~wattchain.consensus.context.ListChainContext`; transactions, signatures and storage
are left out.

Model: every slot (``mask + 1`` seconds) each staker tries all its coins that are deep and
mature enough for the next block; if any kernel wins, one winning coin is chosen uniformly
(stakers who win the same slot race, and the network keeps one of their blocks). The winning
coin is spent and paid back (plus ``reward``) as a new coin of the same owner at the new height,
locked for ``max(coinbase_maturity, stake_min_depth)`` blocks like a real coinstake output. The
chain starts with ``stake_min_depth`` history blocks one spacing apart at the easiest target, so
the initial holdings are deep enough to stake at once (a running network's situation).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from wattchain.consensus.context import ListChainContext
from wattchain.consensus.params import ChainParams
from wattchain.consensus.pos import StakeKernel, next_stake_modifier, next_target_bits
from wattchain.core.hashes import sha256d
from wattchain.core.serialization import u32
from wattchain.core.tx import OutPoint

__all__ = ["SimBlock", "SimCoin", "SimResult", "StakeSimulation", "chi_square"]


@dataclass(frozen=True)
class SimCoin:
    outpoint: OutPoint
    value: int
    height: int
    owner: int


@dataclass(frozen=True)
class SimBlock:
    height: int
    time: int
    bits: int
    owner: int


@dataclass
class SimResult:
    blocks: list[SimBlock] = field(default_factory=list)
    slots: int = 0

    def blocks_by_owner(self, owners: int) -> list[int]:
        counts = [0] * owners
        for block in self.blocks:
            counts[block.owner] += 1
        return counts

    def mean_spacing(self, last: int) -> float:
        """Average gap between the last ``last`` blocks and their parents."""
        if last < 1 or last >= len(self.blocks):
            raise ValueError("need more blocks than the window")
        window = self.blocks[-(last + 1):]
        return (window[-1].time - window[0].time) / last


def chi_square(observed: Sequence[int], expected_shares: Sequence[float]) -> float:
    """Pearson's statistic of ``observed`` counts against the expected shares."""
    total = sum(observed)
    norm = sum(expected_shares)
    stat = 0.0
    for count, share in zip(observed, expected_shares):
        expected = total * share / norm
        stat += (count - expected) ** 2 / expected
    return stat


class StakeSimulation:
    """Stakers with the given coin values, competing slot by slot (module docstring)."""

    def __init__(self, params: ChainParams, holdings: Sequence[Sequence[int]],
                 rng: random.Random, reward: int = 0) -> None:
        self.params = params
        self.rng = rng
        self.reward = reward
        self.lock = max(params.coinbase_maturity, params.stake_min_depth)
        history = max(1, params.stake_min_depth)
        spacing = params.target_spacing
        times = tuple(params.genesis_time + i * spacing for i in range(history + 1))
        modifier = bytes(32)
        for i in range(1, history + 1):
            modifier = next_stake_modifier(modifier, sha256d(b"history" + u32(i)))
        self.ctx = ListChainContext(times, sha256d(b"sim tip" + u32(history)),
                                    params.genesis_bits, modifier)
        self.coins: dict[OutPoint, SimCoin] = {}
        for owner, values in enumerate(holdings):
            for n, value in enumerate(values):
                outpoint = OutPoint(sha256d(b"sim coin" + u32(owner) + u32(n)), 0)
                self.coins[outpoint] = SimCoin(outpoint, value, 0, owner)
        self.start_height = history

    def _stakeable(self, height: int) -> list[SimCoin]:
        return [coin for coin in self.coins.values()
                if coin.height == 0 or height - coin.height >= self.lock]

    def step(self, slot_time: int, result: SimResult) -> SimBlock | None:
        """Try one slot; returns the block if someone won it."""
        ctx = self.ctx
        result.slots += 1
        if slot_time <= ctx.time or slot_time <= ctx.median_time_past:
            return None
        height = ctx.height + 1
        bits = next_target_bits(ctx, self.params)
        winners = []
        for coin in self._stakeable(height):
            kernel = StakeKernel(ctx.stake_modifier, ctx.time_at(coin.height), coin.outpoint,
                                 slot_time)
            if kernel.meets_target(bits, coin.value):
                winners.append(coin)
        if not winners:
            return None
        winners.sort(key=lambda c: (c.outpoint.txid, c.outpoint.index))
        coin = self.rng.choice(winners)
        del self.coins[coin.outpoint]
        block_hash = sha256d(ctx.hash + coin.outpoint.txid + u32(slot_time))
        new = OutPoint(sha256d(b"coinstake" + block_hash), 1)
        self.coins[new] = SimCoin(new, coin.value + self.reward, height, coin.owner)
        self.ctx = ctx.extend(slot_time, block_hash, bits,
                              next_stake_modifier(ctx.stake_modifier, coin.outpoint.txid))
        block = SimBlock(height, slot_time, bits, coin.owner)
        result.blocks.append(block)
        return block

    def run(self, *, slots: int | None = None, blocks: int | None = None) -> SimResult:
        """Run for ``slots`` slots or until ``blocks`` blocks were made (whichever is given;
        with both, whichever comes first)."""
        if slots is None and blocks is None:
            raise ValueError("give slots or blocks")
        step = self.params.stake_timestamp_mask + 1
        now = (self.ctx.time // step + 1) * step
        result = SimResult()
        while ((slots is None or result.slots < slots)
               and (blocks is None or len(result.blocks) < blocks)):
            self.step(now, result)
            now += step
        return result
