"""Staking benchmark: kernel search rate, staked blocks per second, and what the slot
simulation says about difficulty convergence and fairness across seeds.

    python bench/stake_bench.py                  # ~1 minute on 2 cores
    python bench/stake_bench.py --quick          # fewer seeds and blocks

Prints one JSON object:

- ``kernel_search``: ``Staker.try_stake`` over ``--coins`` mature coins at a target no coin
  meets (every coin's kernel is hashed and rejected): kernels per second, i.e. how many coins
  one slot can cover in a given time.
- ``stake_and_connect``: a single staker on a fresh LevelDB chainstate (regtest shape,
  maturity 1) staking blocks with a fake clock and feeding them to ``process_block``:
  blocks per second, build+sign and connect together.
- ``convergence``: for the regtest shape (1-second slots, 2 s spacing, 32 s window) and the
  main shape (16-second slots, 128 s spacing, 960 s window), the mean spacing of the last 500
  of 1,000 simulated blocks per seed, relative to the target spacing.
- ``fairness``: chi-square statistics (3 d.o.f., p = 0.001 critical value 16.266) of the
  block shares of stakers holding 10/20/30/40 % over 4,000 regtest slots, per seed.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from dataclasses import replace

from wattchain.consensus.params import main_params, regtest_params
from wattchain.core.tx import COIN
from wattchain.node.chaingen import generated_params, make_keys
from wattchain.node.chainstate import Chainstate
from wattchain.node.coinstake import KeyStoreStakingKeys, StakePolicy
from wattchain.node.stake_sim import StakeSimulation, chi_square
from wattchain.node.staker import Staker

NO_COMBINE = StakePolicy(split_threshold=10**15, combine_threshold=0)


def kernel_search(coins: int) -> dict[str, float]:
    keys = make_keys(1, seed=3)
    params = replace(generated_params(keys, outputs_per_key=coins), pos_limit=(1 << 150) - 1)
    with tempfile.TemporaryDirectory() as datadir, \
            Chainstate.open(datadir, params, sync=False) as cs:
        staker = Staker(cs, KeyStoreStakingKeys.from_secrets([keys[0].secret]),
                        policy=NO_COMBINE)
        staker.stakeable_coins()  # initial scan outside the timing
        slots = 0
        start = time.perf_counter()
        now = params.genesis_time
        while time.perf_counter() - start < 2.0:
            now += 1
            assert staker.try_stake(now) is None
            slots += 1
        elapsed = time.perf_counter() - start
    return {"coins": coins, "slots": slots, "kernels_per_s": round(slots * coins / elapsed)}


def stake_and_connect(blocks: int) -> dict[str, float]:
    keys = make_keys(1, seed=4)
    params = generated_params(keys, outputs_per_key=20)
    with tempfile.TemporaryDirectory() as datadir, \
            Chainstate.open(datadir, params, sync=False) as cs:
        staker = Staker(cs, KeyStoreStakingKeys.from_secrets([keys[0].secret]),
                        policy=NO_COMBINE)
        now = params.genesis_time
        made = 0
        start = time.perf_counter()
        while made < blocks:
            now += 1
            block = staker.try_stake(now)
            if block is not None:
                assert cs.process_block(block, now).became_tip
                made += 1
        elapsed = time.perf_counter() - start
    return {"blocks": blocks, "blocks_per_s": round(blocks / elapsed, 1)}


def _holdings() -> list[list[int]]:
    return [[100 * COIN] * share for share in (10, 20, 30, 40)]


def convergence(seeds: int, blocks: int) -> dict[str, object]:
    shapes = {"regtest": regtest_params(),
              "main": replace(main_params(), coinbase_maturity=10, stake_min_depth=10)}
    out: dict[str, object] = {}
    for name, params in shapes.items():
        ratios = []
        for seed in range(seeds):
            result = StakeSimulation(params, _holdings(), random.Random(seed)).run(blocks=blocks)
            ratios.append(round(result.mean_spacing(blocks // 2) / params.target_spacing, 3))
        out[name] = {"spacing": params.target_spacing,
                     "slot": params.stake_timestamp_mask + 1,
                     "window_blocks": params.retarget_timespan // params.target_spacing,
                     "mean_spacing_over_target": ratios}
    return out


def fairness(seeds: int, slots: int) -> dict[str, object]:
    stats = []
    for seed in range(seeds):
        result = StakeSimulation(regtest_params(), _holdings(), random.Random(seed)).run(
            slots=slots)
        stats.append(round(chi_square(result.blocks_by_owner(4), (10, 20, 30, 40)), 2))
    return {"slots": slots, "chi_square": stats, "critical_p001": 16.266}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--coins", type=int, default=1000)
    args = parser.parse_args(argv)
    seeds = 2 if args.quick else 5
    report = {
        "kernel_search": kernel_search(args.coins),
        "stake_and_connect": stake_and_connect(100 if args.quick else 300),
        "convergence": convergence(seeds, 1000),
        "fairness": fairness(seeds, 4000),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
