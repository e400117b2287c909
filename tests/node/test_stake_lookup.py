"""Stake checks before storing: the staked coin is looked up on the block's own branch, a coin
may not stake two competing branches, one (stake, time) backs one block; plus chain events."""

from __future__ import annotations

import random

from wattchain.core.tx import OutPoint
from wattchain.node.chaingen import Branch, far_future_now
from wattchain.node.chainstate import Chainstate


def _premine_coin(branch: Branch, index: int):
    genesis_txid = branch.blocks[0].transactions[0].txid
    return branch.coins[OutPoint(genesis_txid, index)]


def _setup(tmp_path, params, keys, rng):
    main = Branch(params, keys)
    for _ in range(3):
        main.random_block(rng, max_txs=2)
    fork = main.fork()
    return main, fork


def _feed_all(cs, blocks, now):
    results = [cs.process_block(block, now) for block in blocks]
    assert all(r.accepted for r in results), [r.reason for r in results]


def test_fork_may_stake_a_coin_spent_on_the_active_chain_after_the_fork(
        tmp_path, params, keys, rng) -> None:
    now = far_future_now(params)
    main, fork = _setup(tmp_path, params, keys, rng)
    coin = _premine_coin(main, 15)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        _feed_all(cs, main.blocks[1:], now)
        spend = main.spend([coin], 2, rng)
        _feed_all(cs, [main.add(main.make_block([spend]))], now)
        assert cs.get_coin(coin.outpoint) is None
        side = fork.add(fork.make_block(stake=coin))  # found through main's undo data
        result = cs.process_block(side, now)
        assert result.accepted and not result.became_tip  # equal work: first seen stays
        ahead = cs.process_block(fork.add(fork.make_block()), now)
        assert ahead.accepted and ahead.became_tip and ahead.reorged == 1
        assert cs.get_coin(coin.outpoint) is None  # now spent by the fork's coinstake
        assert cs.tip.hash == fork.tip.hash
        assert cs.get_entry(side.hash) is cs.tip_entry.parent


def test_coin_staked_on_the_active_chain_cannot_stake_a_competing_block(
        tmp_path, params, keys, rng) -> None:
    now = far_future_now(params)
    main, fork = _setup(tmp_path, params, keys, rng)
    coin = _premine_coin(main, 15)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        _feed_all(cs, main.blocks[1:], now)
        _feed_all(cs, [main.add(main.make_block(stake=coin))], now)
        # Same coin, other slot, competing branch: the nothing-at-stake equivocation.
        twin = fork.make_block(stake=coin, time_step=4)
        result = cs.process_block(twin, now)
        assert result.reason == "stake-already-used" and cs.get_block(twin.hash) is None
        # Same coin, same slot, same parent, other contents: one (stake, time), one block.
        copy = main.fork(main.height - 1).make_block([main.spend([_premine_coin(main, 14)], 1,
                                                                 rng)], stake=coin)
        assert copy.header.time == main.tip.header.time
        assert cs.process_block(copy, now).reason == "duplicate-stake"
    with Chainstate.open(tmp_path, params, sync=False) as cs:  # remembered across restarts
        assert cs.process_block(copy, now).reason == "duplicate-stake"


def test_stake_spent_earlier_on_its_own_side_branch_is_not_found(
        tmp_path, params, keys, rng) -> None:
    now = far_future_now(params)
    main, fork = _setup(tmp_path, params, keys, rng)
    coin = _premine_coin(main, 15)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        _feed_all(cs, main.blocks[1:], now)
        _feed_all(cs, [main.add(main.make_block()), main.add(main.make_block())], now)
        spender = fork.add(fork.make_block([fork.spend([coin], 1, rng)]))
        assert cs.process_block(spender, now).accepted
        restake = fork.make_block(stake=coin)
        assert cs.process_block(restake, now).reason == "stake-prevout-not-found"
        # A coin created on the side branch itself can stake there.
        fresh = fork.coins[OutPoint(spender.transactions[1].txid, 1)]
        assert cs.process_block(fork.add(fork.make_block(stake=fresh)), now).accepted


def test_chain_events_in_reorg_order(tmp_path, params, keys, rng) -> None:
    now = far_future_now(params)
    main, fork = _setup(tmp_path, params, keys, rng)

    class Recorder:
        def __init__(self) -> None:
            self.log: list[tuple[str, int]] = []

        def block_connected(self, block, entry) -> None:
            self.log.append(("connected", entry.height))

        def block_disconnected(self, block, entry) -> None:
            self.log.append(("disconnected", entry.height))

        def tip_changed(self, tip) -> None:
            self.log.append(("tip", tip.height))

    class Broken:
        def block_connected(self, block, entry) -> None:
            raise RuntimeError("listeners cannot break chain state")

    with Chainstate.open(tmp_path, params, sync=False) as cs:
        recorder = Recorder()
        cs.subscribe(Broken())
        cs.subscribe(recorder)
        _feed_all(cs, main.blocks[1:], now)
        _feed_all(cs, [main.add(main.make_block()) for _ in range(2)], now)
        recorder.log.clear()
        side = [fork.add(fork.make_block()) for _ in range(3)]
        _feed_all(cs, side, now)
        assert recorder.log == [("disconnected", 5), ("disconnected", 4), ("connected", 4),
                                ("connected", 5), ("connected", 6), ("tip", 6)]
        assert cs.tip.hash == side[-1].hash


def test_random_forks_agree_with_replay(tmp_path, params, keys) -> None:
    """Forks built by independent stakers over random histories always converge on the
    most-work branch with the UTXO set an in-memory replay gives."""
    from wattchain.node.chaingen import replay_stats
    rng = random.Random(99)
    now = far_future_now(params)
    main = Branch(params, keys)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        branches = [main]
        for _ in range(30):
            parent = rng.choice(branches)
            if rng.random() < 0.2 and parent.height > 2:
                parent = parent.fork(parent.height - rng.randint(1, 2))
                branches.append(parent)
            block = parent.random_block(rng, max_txs=2)
            assert cs.process_block(block, now).accepted
        best = max(branches, key=lambda b: (b.height, -branches.index(b)))
        assert cs.tip.height == best.height
        winner = next(b for b in branches if b.tip.hash == cs.tip.hash)
        assert cs.utxo_stats() == replay_stats(params, winner.blocks)


def test_default_regtest_stakes_its_premine_from_block_one(tmp_path, keys) -> None:
    """With regtest's maturity and stake depth of 10, a chain whose only coins are the genesis
    premine must still start: genesis outputs are mature and deep enough at once."""
    from wattchain.consensus.params import regtest_params
    params = regtest_params(premine=[(key.script_pubkey, 100 * 10**8) for key in keys
                                     for _ in range(3)])
    assert params.coinbase_maturity == params.stake_min_depth == 10
    branch = Branch(params, keys)
    now = far_future_now(params)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        for _ in range(16):  # past the first coinstake outputs' maturity
            block = branch.add(branch.make_block())
            result = cs.process_block(block, now)
            assert result.accepted and result.became_tip, result.reason
        assert cs.tip.height == 16
    genesis_txid = branch.blocks[0].transactions[0].txid
    stakes = [b.header.prevout_stake for b in branch.blocks[1:]]
    assert all(op.txid == genesis_txid for op in stakes[:10])
    # once the premine is used up, coinstake outputs that matured (10 blocks) stake again
    assert any(op.txid != genesis_txid for op in stakes[10:])
