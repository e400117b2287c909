"""PoS simulations with the real consensus functions (kernel, stake modifier, retarget):
kernel edge values, fairness between stakers, and difficulty convergence.

The fairness and convergence runs use :mod:`wattchain.node.stake_sim`, an in-memory slot
simulation: thousands of slots through LevelDB-backed chainstates would take minutes (the
staker runs at ~100 blocks/s with storage), while fairness and convergence depend only on the
kernel, the modifier and the retarget, which the simulation calls unchanged. The
LevelDB-backed path is covered by tests/node/test_staker*.py.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from wattchain.consensus.params import main_params, regtest_params
from wattchain.consensus.pos import StakeKernel, kernel_meets_target
from wattchain.consensus.target import bits_to_target, target_to_bits
from wattchain.core.hashes import sha256d
from wattchain.core.tx import COIN, OutPoint
from wattchain.node.stake_sim import StakeSimulation, chi_square

#: chi-square critical value, 3 degrees of freedom, p = 0.001.
CHI2_3DOF_P001 = 16.266


# ------------------------------------------------------------------------------ kernel
def test_kernel_hash_is_deterministic_and_time_sensitive() -> None:
    prevout = OutPoint(sha256d(b"coin"), 1)
    a = StakeKernel(sha256d(b"modifier"), 1_704_067_200, prevout, 1_704_067_216)
    b = StakeKernel(sha256d(b"modifier"), 1_704_067_200, prevout, 1_704_067_216)
    assert a.hash == b.hash == sha256d(a.serialize())
    # consecutive slots give unrelated hashes (the search space is the slot grid)
    hashes = {replace(a, block_time=a.block_time + 16 * i).hash for i in range(64)}
    assert len(hashes) == 64


def test_kernel_boundary_uses_floor_division() -> None:
    params = regtest_params()
    bits = target_to_bits(params.pos_limit >> 40)
    target = bits_to_target(bits)
    for value in (1, 2, 3, 7 * COIN + 1):
        top = target * value + value - 1       # floor(top / value) == target: wins
        assert kernel_meets_target(top.to_bytes(32, "little"), bits, value)
        assert not kernel_meets_target((top + 1).to_bytes(32, "little"), bits, value)
    # value 1: the kernel itself must be <= target
    assert kernel_meets_target(target.to_bytes(32, "little"), bits, 1)
    assert not kernel_meets_target((target + 1).to_bytes(32, "little"), bits, 1)
    # value 0 never wins, not even with a zero hash
    assert not kernel_meets_target(bytes(32), bits, 0)


def test_kernel_at_pos_limit_and_invalid_bits() -> None:
    params = regtest_params()
    limit_bits = params.genesis_bits
    limit = bits_to_target(limit_bits)
    assert limit <= params.pos_limit
    worst = (1 << 256) - 1
    # the largest possible hash wins exactly from value floor(worst / (limit + 1)) + 1 on
    sure = worst // (limit + 1) + 1
    assert kernel_meets_target(worst.to_bytes(32, "little"), limit_bits, sure)
    assert not kernel_meets_target(worst.to_bytes(32, "little"), limit_bits, sure - 1)
    # bits above pos_limit decode fine: the kernel check alone does not cap them (the
    # contextual bits rule does), so a bigger target only makes winning easier
    assert kernel_meets_target(worst.to_bytes(32, "little"), 0x2100FFFF, sure - 1)
    # zero bits decode to target 0: only hashes below the value could pass (bits 0 never
    # meet the contextual bits rule, so this is moot for blocks)
    assert not kernel_meets_target((1 << 200).to_bytes(32, "little"), 0, COIN)
    assert not kernel_meets_target(bytes(32), 0x04800001, COIN)     # negative
    assert not kernel_meets_target(bytes(32), 0x23000001, COIN)     # overflow
    assert not kernel_meets_target(bytes(32), 0xFF7FFFFF, COIN)


@settings(max_examples=200, deadline=None)
@given(kernel=st.binary(min_size=32, max_size=32),
       exponent=st.integers(min_value=4, max_value=32),
       mantissa=st.integers(min_value=1, max_value=0x7FFFFF),
       value=st.integers(min_value=1, max_value=10**17))
def test_kernel_check_matches_integer_rule_and_is_monotonic(kernel, exponent, mantissa,
                                                            value) -> None:
    bits = (exponent << 24) | mantissa
    target = bits_to_target(bits)
    number = int.from_bytes(kernel, "little")
    wins = kernel_meets_target(kernel, bits, value)
    assert wins == (number // value <= target)
    if wins:  # more stake never loses what less stake won
        assert kernel_meets_target(kernel, bits, value + 1)


# ------------------------------------------------------------------------------ simulations
SHARES = (10, 20, 30, 40)


def _holdings(scale: int = 1) -> list[list[int]]:
    """Equal-size coins: 10/20/30/40 % of the stake, so maturity locks the same fraction of
    everyone's stake in expectation."""
    return [[100 * COIN] * (share * scale) for share in SHARES]


def test_chi_square_statistic() -> None:
    assert chi_square([100, 200, 300, 400], SHARES) == 0
    assert chi_square([250, 250, 250, 250], SHARES) == pytest.approx(
        (150**2 / 100) + (50**2 / 200) + (50**2 / 300) + (150**2 / 400))


def test_fairness_over_4000_slots() -> None:
    params = regtest_params()  # 1-second slots, maturity and stake depth 10
    sim = StakeSimulation(params, _holdings(), random.Random(20240601))
    result = sim.run(slots=4000)
    assert result.slots == 4000
    counts = result.blocks_by_owner(len(SHARES))
    assert sum(counts) >= 1500
    stat = chi_square(counts, SHARES)
    assert stat < CHI2_3DOF_P001, (counts, stat)
    # and the test has teeth: the same counts against equal shares fail badly
    assert chi_square(counts, (1, 1, 1, 1)) > 10 * CHI2_3DOF_P001


def test_difficulty_converges_to_target_spacing() -> None:
    params = regtest_params()
    sim = StakeSimulation(params, _holdings(), random.Random(99))
    result = sim.run(blocks=1000)
    assert len(result.blocks) == 1000
    first = result.blocks[0].bits
    last = result.blocks[-1].bits
    # it started at pos_limit, where every coin wins every slot, and had to get harder
    assert bits_to_target(last) < bits_to_target(first) >> 8
    spacing = result.mean_spacing(400)
    assert abs(spacing - params.target_spacing) <= 0.1 * params.target_spacing, spacing
    # early on (easiest target) blocks came every slot: the window really moved
    assert result.blocks[20].time - result.blocks[10].time == 10


def test_difficulty_follows_a_stake_change() -> None:
    """Half the stake going offline (simulated by a second run with half the coins from the
    converged difficulty) slows blocks only until the retarget catches up."""
    params = replace(regtest_params(), coinbase_maturity=4, stake_min_depth=4)
    sim = StakeSimulation(params, _holdings(), random.Random(3))
    sim.run(blocks=600)
    for outpoint in [o for o, c in sim.coins.items() if c.owner in (2, 3)]:
        del sim.coins[outpoint]
    after = sim.run(blocks=600)
    spacing = after.mean_spacing(300)
    assert abs(spacing - params.target_spacing) <= 0.1 * params.target_spacing, spacing


def test_main_shape_spacing_is_reported() -> None:
    """Main-net shape (16-second slots, 128 s spacing, 960 s window: N = 7) converges too,
    though coarser: the equilibrium sits above the spacing (see the report in bench)."""
    params = replace(main_params(), coinbase_maturity=10, stake_min_depth=10)
    sim = StakeSimulation(params, _holdings(), random.Random(1))
    result = sim.run(blocks=400)
    spacing = result.mean_spacing(200)
    assert params.target_spacing * 0.9 <= spacing <= params.target_spacing * 1.3, spacing
