"""Two nodes (real LevelDB chainstates), one staker each, a shared fake clock: a common
prefix, a partition in which each stakes alone, then healing by exchanging the missing blocks
parent-first. Both must end on the branch with more chain work, and keep staking together."""

from __future__ import annotations

from dataclasses import replace

from wattchain.consensus.params import regtest_params
from wattchain.core.header import StakeBlock
from wattchain.core.tx import COIN
from wattchain.node.chaingen import make_keys
from wattchain.node.coinstake import StakePolicy

from .stake_helpers import FakeClock, StakerNode

NO_COMBINE = StakePolicy(split_threshold=10**15, combine_threshold=0)


def _slot(nodes: list[StakerNode], clock: FakeClock, links: dict[int, list[int]],
          log: dict[int, list[StakeBlock]]) -> None:
    """One second: every node tries to stake; a block goes to its producer, then to the
    nodes linked to it."""
    clock.now += 1
    for i, node in enumerate(nodes):
        block = node.staker.try_stake(clock.now)
        if block is None:
            continue
        result = node.submit(block)
        assert result.accepted, (i, result.reason, result.detail)
        log[i].append(block)
        for j in links[i]:
            other = nodes[j].submit(block)
            assert other.accepted, (j, other.reason, other.detail)


def test_partition_heals_to_the_most_work_chain(tmp_path) -> None:
    key_a, key_b = make_keys(2, seed=21)
    premine = [(key_a.script_pubkey, 50 * COIN)] * 12 + [(key_b.script_pubkey, 50 * COIN)] * 4
    # pos_limit near the equilibrium for 800 coins (one block per ~2 one-second slots), so
    # the difficulty is in its working range from the start instead of letting every coin win
    # every slot (which would make both partitions equally fast)
    params = replace(regtest_params(premine=premine), coinbase_maturity=1, stake_min_depth=1,
                     pos_limit=(1 << 220) - 1)
    clock = FakeClock(params.genesis_time)
    a = StakerNode.open(tmp_path / "a", params, [key_a], policy=NO_COMBINE, clock=clock)
    b = StakerNode.open(tmp_path / "b", params, [key_b], policy=NO_COMBINE, clock=clock)
    nodes = [a, b]
    connected = {0: [1], 1: [0]}
    alone: dict[int, list[int]] = {0: [], 1: []}

    shared: dict[int, list[StakeBlock]] = {0: [], 1: []}
    for _ in range(60):
        _slot(nodes, clock, connected, shared)
    assert shared[0] and shared[1]          # both staked on the common chain
    assert a.chainstate.tip == b.chainstate.tip
    prefix = a.chainstate.tip
    assert prefix.height >= 15

    split: dict[int, list[StakeBlock]] = {0: [], 1: []}
    for _ in range(40):
        _slot(nodes, clock, alone, split)
    assert len(split[0]) >= 5 and len(split[1]) >= 3
    tip_a, tip_b = a.chainstate.tip, b.chainstate.tip
    assert tip_a != tip_b
    assert a.chainstate.get_entry(tip_b.hash) is None  # really partitioned
    assert tip_a.chain_work != tip_b.chain_work
    winner = tip_a if tip_a.chain_work > tip_b.chain_work else tip_b

    # heal: each side receives the other's partition blocks, parent first
    for block in split[1]:
        assert a.submit(block).accepted
    for block in split[0]:
        assert b.submit(block).accepted
    assert a.chainstate.tip == b.chainstate.tip == winner
    for node in nodes:
        fork_entry = node.chainstate.get_entry(winner.hash)
        assert fork_entry is not None and node.chainstate.tip_entry is fork_entry
        assert node.chainstate.chain[prefix.height].hash == prefix.hash

    # both keep staking on the common chain; the side that lost its branch restakes too
    # (its coins were rescanned after the reorg, so none of its blocks spends a vanished coin)
    after: dict[int, list[StakeBlock]] = {0: [], 1: []}
    for _ in range(80):
        _slot(nodes, clock, connected, after)
    assert after[0] and after[1]
    assert a.chainstate.tip == b.chainstate.tip
    assert a.chainstate.tip.height > winner.height
    for node, key in ((a, key_a), (b, key_b)):
        node.chainstate.flush()
        mine = {o: c for o, c in node.chainstate.coins_db.iterate_coins()
                if c.output.script_pubkey == key.script_pubkey}
        assert node.staker._coins == mine
    a.close()
    b.close()
