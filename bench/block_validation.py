"""Block validation benchmark: full 8 M-weight blocks against the elliptic-curve bound.

Builds (fixed seed, real signatures) two blocks at the weight limit: one of 1-input 2-output
P2WPKH spends and one of 2-of-3 P2WSH multisig spends (signed by keys 1 and 2 of 3, the usual
wallet order, so CHECKMULTISIG makes 3 checks per input). For each signature backend and thread
count it times ``connect_block`` (every consensus rule, script checks included, signature cache
cold) and the script-check phase alone, and prints one JSON object with the EC bound measured in
the same run: (signature checks in the block) x (coincurve single-verify time) / cores.

The single-verify time is the fastest of several measurements (one at start, one after each
run), and every block's bound uses it: that keeps the bound strict on a machine whose speed
drifts. Each run also reports its process CPU time (all threads) against the EC work, a figure
that does not depend on how much parallel speed the machine's cores gave.

    python bench/block_validation.py                 # both blocks, both backends, 1 and 2 threads
    python bench/block_validation.py --profile       # + cProfile of compiled/all-cores connect
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import threading
import time
from collections.abc import Callable

import coincurve

from wattchain.consensus.block_check import check_block
from wattchain.consensus.coins import CoinsViewCache
from wattchain.consensus.connect import connect_block
from wattchain.consensus.script_checks import ScriptVerifier
from wattchain.core.header import deserialize_stake_block
from wattchain.core.keys import sign_ecdsa
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import Branch, generated_params, make_keys, sign_transaction
from wattchain.node.utxo_db import EmptyCoinsView
from wattchain.script import sigcore
from wattchain.script.flags import CONSENSUS_FLAGS
from wattchain.script.sighash import (SIGHASH_ALL, PrecomputedTransactionData,
                                      segwit_v0_signature_hash)
from wattchain.script.standard import multisig, p2wsh

BLOCK_ROOM = 8_000_000 - 6_000  # header, coinbase, coinstake and commitment


class Scenario:
    """A parent state (in-memory UTXO view and context) and one full block on top of it."""

    def __init__(self, name: str, params, base: CoinsViewCache, ctx, height: int, block) -> None:
        self.name, self.params, self.base, self.ctx = name, params, base, ctx
        self.height, self.block = height, block

    def spends(self):
        view = CoinsViewCache(self.base)
        return [(tx, [view.get_coin(txin.prevout) for txin in tx.inputs])
                for tx in self.block.transactions[1:]]

    def connect(self, verifier: ScriptVerifier | None, script_check: bool = True) -> None:
        # As the node's connect_tip: a fresh view on the chain state, written in place (it
        # would be dropped if the block failed). Its deallocation is timed too.
        connect_block(self.block, CoinsViewCache(self.base), self.height, self.ctx,
                      self.params, script_check, script_verifier=verifier, in_place=True)


def _fill(make_tx: Callable[[int], Transaction | None]) -> list[Transaction]:
    txs, weight, i = [], 0, 0
    while True:
        tx = make_tx(i)
        if tx is None or weight + tx.weight > BLOCK_ROOM:
            return txs
        txs.append(tx)
        weight += tx.weight
        i += 1


def p2wpkh_scenario(seed: int) -> Scenario:
    keys = make_keys(16, seed=seed)
    n = BLOCK_ROOM // 561 + 16
    params = generated_params(keys, outputs_per_key=-(-n // len(keys)) + 4, value=10 * COIN)
    rng = random.Random(seed)
    branch = Branch(params, keys)
    base = CoinsViewCache(EmptyCoinsView())
    connect_block(params.genesis_block, base, 0, None, params)
    pool = sorted(branch.mature_coins(1), key=lambda c: (c.outpoint.txid, c.outpoint.index))

    def make(i: int) -> Transaction | None:
        if i >= len(pool) - 8:  # keep a few coins to stake with
            return None
        coin = pool[i]
        value = coin.output.value - 1000
        outs = (TxOut(value // 2, rng.choice(keys).script_pubkey),
                TxOut(value - value // 2, rng.choice(keys).script_pubkey))
        return sign_transaction(Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),), outs, 0),
                                [coin])
    ctx = branch.context()
    block = branch.make_block(_fill(make))
    return Scenario("p2wpkh_1in_2out", params, base, ctx, 1, block)


def multisig_scenario(seed: int) -> Scenario:
    keys = make_keys(16, seed=seed)
    ms_keys = [k.pubkey for k in keys[:3]]
    witness_script = multisig(2, ms_keys)
    spk = p2wsh(witness_script)
    per_fanout, n_fanouts = 500, 24  # 12,000 outputs: more than a block can spend
    params = generated_params(keys, outputs_per_key=4, value=50 * COIN)
    rng = random.Random(seed)
    branch = Branch(params, keys)
    base = CoinsViewCache(EmptyCoinsView())
    connect_block(params.genesis_block, base, 0, None, params)
    funding = sorted(branch.mature_coins(1), key=lambda c: (c.outpoint.txid, c.outpoint.index))
    fanouts = []
    for coin in funding[:n_fanouts]:
        each = (coin.output.value - 100_000) // per_fanout
        unsigned = Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),),
                               tuple(TxOut(each, spk) for _ in range(per_fanout)), 0)
        fanouts.append(sign_transaction(unsigned, [coin]))
    ctx1 = branch.context()
    block1 = branch.add(branch.make_block(fanouts))
    connect_block(block1, base, 1, ctx1, params)
    outputs = [(OutPoint(tx.txid, i), out.value) for tx in fanouts
               for i, out in enumerate(tx.outputs)]

    def make(i: int) -> Transaction | None:
        if i >= len(outputs):
            return None
        outpoint, value = outputs[i]
        value_out = value - 2000
        tx = Transaction(2, (TxIn(outpoint, b"", 0xFFFFFFFE),),
                         (TxOut(value_out // 2, rng.choice(keys).script_pubkey),
                          TxOut(value_out - value_out // 2, rng.choice(keys).script_pubkey)), 0)
        digest = segwit_v0_signature_hash(witness_script, tx, 0, SIGHASH_ALL, value,
                                          PrecomputedTransactionData(tx))
        sigs = [sign_ecdsa(k.secret, digest) + bytes((SIGHASH_ALL,)) for k in keys[:2]]
        txin = TxIn(outpoint, b"", 0xFFFFFFFE, (b"", sigs[0], sigs[1], witness_script))
        return Transaction(2, (txin,), tx.outputs, 0)
    ctx2 = branch.context()
    block2 = branch.make_block(_fill(make))
    return Scenario("p2wsh_2of3_multisig", params, base, ctx2, 2, block2)


def coincurve_single_verify_us(samples: int = 1000, rounds: int = 5) -> dict[str, float]:
    """coincurve verifying one signature from bytes (key parsed each time, as a block does),
    and with a pre-parsed key, for reference. Best round of ``rounds``: the bound is a floor,
    so a round slowed by other load on the machine must not loosen it."""
    triples = []
    for i in range(64):
        key = coincurve.PrivateKey(os.urandom(32))
        msg = os.urandom(32)
        triples.append((key.public_key.format(), key.sign(msg, hasher=None), msg))
    parsed = [(coincurve.PublicKey(p), s, m) for p, s, m in triples]

    def from_bytes() -> None:
        for i in range(samples):
            pub, sig, msg = triples[i % 64]
            assert coincurve.verify_signature(sig, msg, pub, hasher=None)

    def preparsed() -> None:
        for i in range(samples):
            pub_obj, sig, msg = parsed[i % 64]
            assert pub_obj.verify(sig, msg, hasher=None)
    return {"from_bytes": best_of(rounds, from_bytes) / samples * 1e6,
            "preparsed_key": best_of(rounds, preparsed) / samples * 1e6}


def ec_parallel_speedup(threads: int, samples: int = 600, rounds: int = 3) -> float | None:
    """How much faster ``threads`` threads verify than one, measured here with the compiled
    core (GIL released): the bound above assumes ``cores`` times, which shared or
    hyper-threaded virtual cores may not give. None without the compiled core."""
    if not sigcore.compiled_available() or threads < 2:
        return None
    backend = sigcore.get_backend(pure=False)
    lists = []
    for _ in range(threads):
        keys = [coincurve.PrivateKey(os.urandom(32)) for _ in range(8)]
        msgs = [os.urandom(32) for _ in range(samples)]
        lists.append(([keys[i % 8].public_key.format() for i in range(samples)],
                      [keys[i % 8].sign(m, hasher=None) for i, m in enumerate(msgs)], msgs))
    one = best_of(rounds, lambda: backend.verify_ecdsa_many(*lists[0]))

    def parallel() -> None:
        workers = [threading.Thread(target=backend.verify_ecdsa_many, args=chunk)
                   for chunk in lists]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return threads * one / best_of(rounds, parallel)


def check_fresh_blocks(raw: bytes, params, repeat: int) -> float:
    """Best time of ``check_block`` on a just-decoded block (nothing cached on it yet)."""
    fresh = [deserialize_stake_block(raw) for _ in range(repeat)]
    return best_of(repeat, lambda: check_block(fresh.pop(), params))


def best_of(repeat: int, fn: Callable[[], None]) -> float:
    return timed(repeat, fn)[0]


def timed(repeat: int, fn: Callable[[], None]) -> tuple[float, float]:
    """(best wall time, process CPU time of that run) over ``repeat`` runs. CPU time counts
    every thread. Divided by the EC work it shows how much work a run did, whatever the
    machine's cores gave in parallel."""
    best, cpu = float("inf"), 0.0
    for _ in range(repeat):
        cpu_started = time.process_time()
        started = time.perf_counter()
        fn()
        wall = time.perf_counter() - started
        if wall < best:
            best, cpu = wall, time.process_time() - cpu_started
    return best, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2, help="best of N timings per run")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", choices=["p2wpkh", "multisig"], default=None)
    parser.add_argument("--backends", nargs="+", choices=["compiled", "pure"], default=None,
                        help="signature backends to time (default: every available one)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one compiled connect per block (top functions to stderr)")
    args = parser.parse_args(argv)

    cores = os.cpu_count() or 1
    backends = ["compiled", "pure"] if sigcore.compiled_available() else ["pure"]
    if args.backends:
        backends = [b for b in backends if b in args.backends]
    builders = {"p2wpkh": p2wpkh_scenario, "multisig": multisig_scenario}
    single = coincurve_single_verify_us()
    report: dict[str, object] = {
        "cores": cores, "python": sys.version.split()[0],
        "active_backend": sigcore.backend_name(),
        "compiled_available": sigcore.compiled_available(),
        "coincurve_single_verify_us": round(single["from_bytes"], 2),
        "coincurve_single_verify_preparsed_key_us": round(single["preparsed_key"], 2),
        "blocks": [],
    }
    speedup = ec_parallel_speedup(cores)
    if speedup is not None:
        report["ec_parallel_speedup_measured"] = round(speedup, 2)  # and per block, below
    for name, build in builders.items():
        if args.only and args.only != name:
            continue
        started = time.perf_counter()
        scenario = build(args.seed)
        generated = time.perf_counter() - started
        spends = scenario.spends()
        raw = scenario.block.serialize()
        entry: dict[str, object] = {
            "name": scenario.name, "transactions": len(scenario.block.transactions),
            "weight": scenario.block.weight, "inputs": sum(len(c) for _, c in spends),
            "generate_seconds": round(generated, 2),
            # What the node does before connecting: decode the wire bytes and run the
            # context-free checks (txids for the merkle root included) on the fresh objects.
            "deserialize_seconds": round(
                best_of(args.repeat, lambda: deserialize_stake_block(raw)), 3),
            "check_block_seconds": round(check_fresh_blocks(raw, scenario.params, args.repeat), 3),
            # Every rule but the scripts: the Python floor no signature backend can remove.
            "connect_without_scripts_seconds": round(
                best_of(args.repeat, lambda: scenario.connect(None, script_check=False)), 3),
            "runs": []}
        checks = None
        for backend_name in backends:
            backend = sigcore.get_backend(pure=backend_name == "pure")
            for threads in args.threads:
                with ScriptVerifier(threads, None, backend) as verifier:
                    verifier.verify_block(spends[:50], CONSENSUS_FLAGS)  # warm the pool
                    connect_s, connect_cpu = timed(args.repeat,
                                                   lambda: scenario.connect(verifier))
                    script_s = best_of(args.repeat,
                                       lambda: verifier.verify_block(spends, CONSENSUS_FLAGS))
                    stats = verifier.last_stats
                checks = stats.checks
                entry["runs"].append({  # type: ignore[union-attr]
                    "backend": backend_name, "threads": threads,
                    "connect_seconds": round(connect_s, 3),
                    "connect_cpu_seconds": round(connect_cpu, 3),
                    "script_checks_seconds": round(script_s, 3),
                    "template_inputs": stats.template_inputs,
                    "interpreter_inputs": stats.interpreter_inputs})
                # Measured again after every run, keeping the fastest: on a shared machine
                # a slow moment at start-up would otherwise loosen the bound.
                again = coincurve_single_verify_us()
                single = {k: min(v, again[k]) for k, v in single.items()}
        entry["signature_checks"] = checks
        # Measured again right after this block's runs: a shared machine's parallel speed
        # drifts from minute to minute.
        block_speedup = ec_parallel_speedup(cores, samples=2000)
        if block_speedup is not None:
            entry["ec_parallel_speedup_measured"] = round(block_speedup, 2)
        report["blocks"].append(entry)  # type: ignore[union-attr]
        if args.profile:
            with ScriptVerifier(cores, None, sigcore.get_backend()) as verifier:
                profiler = cProfile.Profile()
                profiler.runcall(scenario.connect, verifier)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
            print(f"--- cProfile of {scenario.name} connect ({verifier.backend_name}, "
                  f"{cores} threads), by own time ---\n{out.getvalue()}", file=sys.stderr)
    add_bounds(report, single["from_bytes"], cores)
    report["coincurve_single_verify_us"] = round(single["from_bytes"], 2)
    report["coincurve_single_verify_preparsed_key_us"] = round(single["preparsed_key"], 2)
    print(json.dumps(report, indent=1))
    return 0


def add_bounds(report: dict, single_us: float, cores: int) -> None:
    """The EC bound of every block and each run's ratios, from the fastest single verify seen
    in the whole run (the strictest bound)."""
    for entry in report["blocks"]:
        ec_work = (entry["signature_checks"] or 0) * single_us / 1e6
        bound = ec_work / cores
        entry["ec_bound_seconds"] = round(bound, 3)
        if "ec_parallel_speedup_measured" in entry:
            # The same EC work at the parallel speed this machine really gave.
            entry["ec_bound_measured_parallel_seconds"] = round(
                ec_work / entry["ec_parallel_speedup_measured"], 3)
        for run in entry["runs"]:
            run["connect_vs_ec_bound"] = round(run["connect_seconds"] / bound, 2)
            # Core-seconds spent against the EC work alone (1.0: nothing but EC math).
            run["connect_cpu_vs_ec_work"] = round(run["connect_cpu_seconds"] / ec_work, 2)
            run["script_checks_vs_ec_bound"] = round(run["script_checks_seconds"] / bound, 2)


if __name__ == "__main__":
    sys.exit(main())
