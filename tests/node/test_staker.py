"""The staker against a real chainstate: coinstake policy, fees, block filling, key types,
coin tracking across reorgs, the slot loop, and staking_info."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from wattchain.consensus.coins import Coin
from wattchain.consensus.params import ChainParams, regtest_params
from wattchain.consensus.target import bits_to_target, block_proof
from wattchain.core.hashes import hash160, sha256d
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chainstate import Chainstate
from wattchain.node.chaingen import Key, Spendable, generated_params, make_keys, sign_transaction
from wattchain.node.coinstake import (KeyStoreStakingKeys, StakePolicy, build_coinstake,
                                      plan_coinstake)
from wattchain.node.staker import DIFFICULTY_1_TARGET, Staker
from wattchain.script.sign import KeyStore
from wattchain.script.standard import p2pk, p2pkh

from .stake_helpers import FakeClock, StakerNode, premine_outpoints

NO_COMBINE = StakePolicy(split_threshold=10**15, combine_threshold=0)


@pytest.fixture
def keys() -> list[Key]:
    return make_keys(2, seed=11)


def _params(keys: list[Key], per_key: int = 4, **overrides) -> ChainParams:
    return generated_params(keys, outputs_per_key=per_key, **overrides)


def _coin(outpoint_seed: bytes, value: int, script: bytes, height: int = 1) -> tuple:
    return (OutPoint(sha256d(outpoint_seed), 0), Coin(TxOut(value, script), height, False))


# ------------------------------------------------------------------ policy (pure)
def test_plan_combines_small_coins_of_the_same_script_only() -> None:
    mine, other = b"\x00\x14" + bytes(20), b"\x00\x14" + b"\x01" * 20
    stake = _coin(b"stake", 10 * COIN, mine)
    small = [_coin(bytes([i]), (i + 1) * COIN, mine) for i in range(8)]
    foreign = _coin(b"foreign", COIN, other)
    big = _coin(b"big", 500 * COIN, mine)
    policy = StakePolicy(combine_threshold=30 * COIN, max_combine_inputs=5,
                         split_threshold=10**15)
    plan = plan_coinstake(stake, small + [foreign, big, stake], policy)
    values = [coin.output.value // COIN for _, coin in plan.inputs]
    # stake first, then smallest first while the total is below the threshold
    assert values == [10, 1, 2, 3, 4]   # 10+1+2+3 = 16 < 30, +4 = 20 < 30, 5 inputs max
    looser = replace(policy, max_combine_inputs=10)
    values = [c.output.value // COIN for _, c in plan_coinstake(stake, small, looser).inputs]
    assert values == [10, 1, 2, 3, 4, 5, 6]  # 31 >= 30 stops it
    assert plan_coinstake(stake, small, replace(policy, combine_threshold=0)).inputs == (stake,)
    # a stake already above the threshold takes nothing extra
    rich = _coin(b"rich", 40 * COIN, mine)
    assert plan_coinstake(rich, small, policy).inputs == (rich,)


def test_coinstake_split_and_marker() -> None:
    script = b"\x00\x14" + bytes(20)
    plan = plan_coinstake(_coin(b"s", 100 * COIN, script), [], StakePolicy())
    whole = build_coinstake(plan, 4 * COIN, StakePolicy(split_threshold=104 * COIN))
    assert [o.value for o in whole.outputs] == [0, 104 * COIN]
    assert whole.outputs[0].script_pubkey == b""
    split = build_coinstake(plan, 4 * COIN + 1, StakePolicy(split_threshold=104 * COIN))
    assert [o.value for o in split.outputs] == [0, 52 * COIN, 52 * COIN + 1]
    assert all(o.script_pubkey == script for o in split.outputs[1:])
    assert split.inputs[0].prevout == plan.stake[0]


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        StakePolicy(max_combine_inputs=0)
    with pytest.raises(ValueError):
        StakePolicy(split_threshold=-1)


# ------------------------------------------------------------------ staking on a chainstate
def test_staker_builds_valid_blocks_and_never_restakes_a_coin(tmp_path, keys) -> None:
    node = StakerNode.open(tmp_path, _params(keys), [keys[0]], policy=NO_COMBINE)
    blocks = node.stake_blocks(30)
    stakes = [b.header.prevout_stake for b in blocks]
    assert len(set(stakes)) == len(stakes)
    # every block's stake is the staker's own coin, paid back plus the subsidy
    for height, block in enumerate(blocks, start=1):
        coinstake = block.transactions[1]
        assert coinstake.outputs[0] == TxOut(0, b"")
        assert all(o.script_pubkey == keys[0].script_pubkey for o in coinstake.outputs[1:])
        assert block.transactions[0].total_output_value() == 0
    # the UTXO set agrees with the staker's view
    cs = node.chainstate
    cs.flush()
    mine = {o: c for o, c in cs.coins_db.iterate_coins()
            if c.output.script_pubkey == keys[0].script_pubkey}
    assert node.staker._coins == mine
    total = 4 * 50 * COIN + sum(node.chainstate.params.block_subsidy(h) for h in range(1, 31))
    assert sum(c.output.value for c in mine.values()) == total
    node.close()


def test_one_block_per_slot_and_parent(tmp_path, keys) -> None:
    node = StakerNode.open(tmp_path, _params(keys), [keys[0]])
    now = node.chainstate.tip_entry.time + 1
    block = node.staker.try_stake(now)
    assert block is not None
    assert node.staker.try_stake(now) is None          # same parent, same slot
    assert node.staker.try_stake(now + 0.5) is None    # same slot (1-second grid)
    assert node.submit(block).became_tip
    assert node.staker.try_stake(now) is None          # slot not after the new tip
    assert node.staker.try_stake(now + 1) is not None  # next slot, new parent
    node.close()


def test_slot_must_follow_tip_and_mtp(tmp_path, keys) -> None:
    node = StakerNode.open(tmp_path, _params(keys), [keys[0]])
    tip_time = node.chainstate.tip_entry.time
    assert node.staker.try_stake(tip_time) is None
    assert node.staker.try_stake(tip_time - 100) is None
    assert node.staker.last_attempt is None  # refused before any kernel was tried
    node.close()


def test_split_and_combine_on_chain(tmp_path, keys) -> None:
    params = _params(keys, per_key=6, value=10 * COIN)
    policy = StakePolicy(combine_threshold=35 * COIN, max_combine_inputs=3,
                         split_threshold=20 * COIN)
    node = StakerNode.open(tmp_path, params, [keys[0]], policy=policy)
    [block] = node.stake_blocks(1)
    coinstake = block.transactions[1]
    assert len(coinstake.inputs) == 3                     # stake + 2 merged (30 < 35)
    payout = 30 * COIN + params.block_subsidy(1)
    assert [o.value for o in coinstake.outputs[1:]] == [payout // 2, payout - payout // 2]
    assert node.chainstate.tip.hash == block.hash
    node.close()


def test_disabled_staker_does_nothing(tmp_path, keys) -> None:
    node = StakerNode.open(tmp_path, _params(keys), [keys[0]])
    node.staker.disable()
    now = node.chainstate.tip_entry.time + 1
    assert node.staker.try_stake(now) is None
    info = node.staker.staking_info()
    assert not info.enabled and not info.staking
    node.staker.enable()
    assert node.staker.try_stake(now) is not None
    node.close()


@pytest.mark.parametrize("kind", ["p2pkh-uncompressed", "p2pkh", "p2pk"])
def test_legacy_stake_outputs(tmp_path, kind) -> None:
    secret = sha256d(b"legacy staker")
    store = KeyStore()
    pubkey = store.add_key(secret, compressed=(kind != "p2pkh-uncompressed"))
    script = p2pk(pubkey) if kind == "p2pk" else p2pkh(hash160(pubkey))
    params = replace(regtest_params(premine=[(script, 50 * COIN)] * 3), coinbase_maturity=1,
                     stake_min_depth=1)
    clock = FakeClock(params.genesis_time)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        staker = Staker(cs, KeyStoreStakingKeys(store, [pubkey]), clock=clock)
        made = 0
        for _ in range(50):
            clock.now += 1
            block = staker.try_stake()
            if block is not None:
                result = cs.process_block(block, int(clock.now))
                assert result.became_tip, (result.reason, result.detail)
                made += 1
            if made == 4:
                break
        assert made == 4
        assert len(cs.tip_entry.header.block_signature) == 65


# ------------------------------------------------------------------ fees and filling
class ListSource:
    """A test mempool: fixed transactions, greedy by fee rate within the budgets (fees and
    sigop costs given by the test)."""

    def __init__(self, entries: list[tuple[Transaction, int, int]], *,
                 ignore_budget: bool = False) -> None:
        self.entries = entries
        self.ignore_budget = ignore_budget
        self.budgets: list[tuple[int, int]] = []

    def select_for_block(self, max_weight: int, max_sigops_cost: int) -> list[Transaction]:
        self.budgets.append((max_weight, max_sigops_cost))
        if self.ignore_budget:
            return [tx for tx, _, _ in self.entries]
        chosen, weight, sigops = [], 0, 0
        for tx, fee, cost in sorted(self.entries, key=lambda e: -e[1] / e[0].weight):
            if weight + tx.weight <= max_weight and sigops + cost <= max_sigops_cost:
                chosen.append(tx)
                weight += tx.weight
                sigops += cost
        return chosen


def _payments(params: ChainParams, payer: Key, payee: Key, fees: list[int],
              outputs: int = 1) -> list[tuple[Transaction, int, int]]:
    """One transaction per premine coin of ``payer``, paying ``fee`` each."""
    genesis = params.genesis_block.transactions[0]
    entries = []
    coins = [OutPoint(genesis.txid, i) for i, out in enumerate(genesis.outputs)
             if out.script_pubkey == payer.script_pubkey]
    for outpoint, fee in zip(coins, fees):
        out = genesis.outputs[outpoint.index]
        share = (out.value - fee) // outputs
        values = [share] * (outputs - 1) + [out.value - fee - share * (outputs - 1)]
        unsigned = Transaction(2, (TxIn(outpoint, b"", 0xFFFFFFFE),),
                               tuple(TxOut(v, payee.script_pubkey) for v in values), 0)
        tx = sign_transaction(unsigned, [Spendable(outpoint, out, 0, True, payer)])
        entries.append((tx, fee, 1))  # one P2WPKH input: witness sigop cost 1
    return entries


def test_fees_go_to_the_coinstake(tmp_path, keys) -> None:
    params = _params(keys)
    entries = _payments(params, keys[1], keys[0], [1000, 2500, 7])
    source = ListSource(entries)
    node = StakerNode.open(tmp_path, params, [keys[0]], source=source, policy=NO_COMBINE)
    [block] = node.stake_blocks(1)
    assert set(block.transactions[2:]) == {tx for tx, _, _ in entries}
    coinstake = block.transactions[1]
    staked = node.chainstate.params.premine[0][1]
    assert sum(o.value for o in coinstake.outputs) == staked + params.block_subsidy(1) + 3507
    assert node.chainstate.tip.hash == block.hash  # connect accepted the claimed fees
    node.close()


def test_unusable_source_transactions_are_dropped(tmp_path, keys) -> None:
    params = _params(keys)
    [(good, _, _), (spent_twice, _, _)] = _payments(params, keys[1], keys[0], [500, 600])
    # a double spend of good's input and a tx paying more than it spends
    double = Transaction(2, good.inputs, (TxOut(1, keys[0].script_pubkey),), 0)
    inflating = Transaction(2, spent_twice.inputs, (TxOut(10**15, keys[0].script_pubkey),), 0)
    orphan = Transaction(2, (TxIn(OutPoint(sha256d(b"nowhere"), 0), b"", 0),),
                         (TxOut(1, keys[0].script_pubkey),), 0)
    # the staker's own coin, which the coinstake will spend
    own = premine_outpoints(params)[0]
    conflicting = Transaction(2, (TxIn(own, b"", 0),), (TxOut(1, keys[1].script_pubkey),), 0)
    source = ListSource([(good, 500, 1), (double, 0, 1), (inflating, 0, 1), (orphan, 0, 1),
                         (conflicting, 0, 1)], ignore_budget=True)
    node = StakerNode.open(tmp_path, params, [keys[0]], source=source, policy=NO_COMBINE)
    [block] = node.stake_blocks(1)
    assert block.header.prevout_stake == own  # first coin in outpoint order wins at pos_limit
    assert block.transactions[2:] == (good,)
    assert node.chainstate.tip.hash == block.hash
    node.close()


def test_block_fills_up_to_the_weight_limit(tmp_path, keys) -> None:
    base = _params(keys, per_key=30)
    params = replace(base, max_block_base_size=3_000, max_block_weight=12_000)
    entries = _payments(params, keys[1], keys[0], [1000 + i for i in range(30)], outputs=3)
    for greedy in (False, True):
        source = ListSource(entries, ignore_budget=greedy)
        node = StakerNode.open(tmp_path / str(greedy), params, [keys[0]], source=source,
                               policy=NO_COMBINE)
        [block] = node.stake_blocks(1)
        assert block.weight <= params.max_block_weight
        assert block.base_size <= params.max_block_base_size
        included = block.transactions[2:]
        assert 3 <= len(included) < len(entries)
        budget = source.budgets[-1][0]
        assert budget < params.max_block_weight - block.transactions[1].weight
        # full: the smallest transaction left out would not have fit the budget
        left = [tx for tx, _, _ in entries if tx not in included]
        assert sum(tx.weight for tx in included) + min(tx.weight for tx in left) > budget
        if not greedy:  # by fee rate: the highest-fee (same-size) ones were taken
            fees = sorted((fee for tx, fee, _ in entries if tx in included), reverse=True)
            assert fees == [1029 - i for i in range(len(fees))]
        assert node.chainstate.tip.hash == block.hash
        node.close()


def test_block_fills_up_to_the_sigops_limit(tmp_path, keys) -> None:
    params = _params(keys, per_key=20)
    entries = _payments(params, keys[1], keys[0], [1000] * 20)
    tight = replace(params, max_block_sigops_cost=6)
    source = ListSource(entries, ignore_budget=True)
    node = StakerNode.open(tmp_path / "tight", tight, [keys[0]], source=source,
                           policy=NO_COMBINE)
    [block] = node.stake_blocks(1)
    assert source.budgets[-1][1] == 5  # the coinstake's P2WPKH input costs 1
    assert len(block.transactions) == 2 + 5
    assert node.chainstate.tip.hash == block.hash
    node.close()


# ------------------------------------------------------------------ coins across reorgs
def test_coins_follow_disconnects(tmp_path, keys) -> None:
    node = StakerNode.open(tmp_path, _params(keys), [keys[0]], policy=NO_COMBINE)
    node.stake_blocks(5)
    cs = node.chainstate
    before = dict(node.staker.stakeable_coins())
    cs.disconnect_tip()
    cs.disconnect_tip()
    after = dict(node.staker.stakeable_coins())
    cs.flush()
    expected = {o: c for o, c in cs.coins_db.iterate_coins()
                if c.output.script_pubkey == keys[0].script_pubkey}
    assert node.staker._coins == expected
    assert after != before
    # and it stakes on the shorter chain again, with a coin unspent there (a new slot, so
    # not a copy of the disconnected block)
    block = node.staker.try_stake(cs.tip_entry.time + 7)
    assert block is not None and cs.get_coin(block.header.prevout_stake) is not None
    result = node.submit(block)
    assert result.accepted, result.reason
    node.close()


# ------------------------------------------------------------------ the loop
def test_run_loop_stakes_once_per_slot_with_a_fake_clock(tmp_path, keys) -> None:
    params = replace(_params(keys), stake_timestamp_mask=3)
    node = StakerNode.open(tmp_path, params, [keys[0]])
    node.clock.now = params.genesis_time + 0.5
    submitted = []

    async def main() -> None:
        stop = asyncio.Event()

        async def submit(block):
            result = node.submit(block)
            assert result.became_tip, result.reason
            submitted.append(block)
            if len(submitted) == 5:
                stop.set()

        await asyncio.wait_for(node.staker.run(stop, submit), timeout=30)

    asyncio.run(main())
    assert len(submitted) == 5
    # the loop waited for each 4-second slot boundary, never in real time
    assert node.clock.sleeps[0] == pytest.approx(3.5)
    assert all(0 < d <= 4 for d in node.clock.sleeps)
    assert all(b.header.time % 4 == 0 for b in submitted)
    node.close()


# ------------------------------------------------------------------ staking_info
def test_staking_info_numbers(tmp_path, keys) -> None:
    params = _params(keys, coinbase_maturity=3)
    node = StakerNode.open(tmp_path, replace(params, stake_min_depth=1, coinbase_maturity=1),
                           [keys[0]], policy=NO_COMBINE)
    node.stake_blocks(20)
    node.close()
    # reopen with maturity 3 so some coinstake outputs are immature
    node = StakerNode.open(tmp_path, params, [keys[0]], policy=NO_COMBINE, clock=node.clock)
    staker, cs = node.staker, node.chainstate
    assert staker.staking_info().staking is False  # has not searched yet
    staker.try_stake(cs.tip_entry.time + 1)  # a search (win or not) marks it as staking
    info = staker.staking_info()
    height = cs.tip.height + 1
    cs.flush()
    mature = sum(c.output.value for _, c in cs.coins_db.iterate_coins()
                 if c.output.script_pubkey == keys[0].script_pubkey
                 and (not (c.is_coinbase or c.is_coinstake) or height - c.height >= 3))
    assert info.weight == mature
    total = sum(c.output.value for _, c in cs.coins_db.iterate_coins()
                if c.output.script_pubkey == keys[0].script_pubkey)
    assert 0 < info.weight < total
    # netstakeweight: the last 20 gaps (genesis excluded): work over seconds, times slot
    entries = list(cs.chain)[1:]
    work = sum(block_proof(e.header.bits) for e in entries[1:])
    seconds = entries[-1].time - entries[0].time
    assert info.netstakeweight == work * 1 // seconds
    assert info.expectedtime == params.target_spacing * info.netstakeweight // info.weight
    assert info.difficulty == DIFFICULTY_1_TARGET / bits_to_target(cs.tip_entry.header.bits)
    assert info.enabled and info.staking
    assert info.to_dict()["weight"] == info.weight


def test_staking_info_after_staking(tmp_path, keys) -> None:
    node = StakerNode.open(tmp_path, _params(keys), [keys[0]])
    info = node.staker.staking_info()
    assert info.last_stake_height is None and info.netstakeweight == 0
    blocks = node.stake_blocks(3)
    info = node.staker.staking_info()
    assert info.last_stake_height == 3 and info.last_stake_time == blocks[-1].header.time
    assert info.blocks_staked == 3 and info.search_interval == 1
    node.close()


def test_net_stake_weight_estimates_the_real_stake(tmp_path, keys) -> None:
    """Once the difficulty has settled, Qtum's estimate tracks the stake really staking (this
    node's alone). With one block per ~2 one-second slots it reads low by a known factor: it
    assumes at most one win per slot, so it measures -ln(1 - 1/2) / 2 ~ 0.72 of the stake
    (on main's 8 slots per block the factor is ~0.94)."""
    node = StakerNode.open(tmp_path, _params(keys, per_key=20, value=5 * COIN), [keys[0]],
                           policy=NO_COMBINE)
    node.stake_blocks(400)
    info = node.staker.staking_info()
    assert 0.5 * info.weight < info.netstakeweight < 1.0 * info.weight, info
    # expected time to a block is then about the spacing (this node holds all the stake)
    assert 1 <= info.expectedtime <= 2
    node.close()
