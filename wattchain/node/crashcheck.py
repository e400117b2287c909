"""Crash-safety harness: kill a block-connecting process with SIGKILL, reopen, compare.

Used by ``tests/node/test_chainstate_crash.py`` (a few dozen trials) and
``bench/crash_bench.py`` (many). The parent generates a chain with a reorg in it, writes the
blocks to a file, and runs ``python -m wattchain.node.crashcheck <datadir> <blocks> <cache>``
as the child. The child opens the chainstate (which recovers from the previous kill), feeds
the blocks in order and prints one line per newly processed block; the parent kills it after
a random number of lines (plus sometimes a tiny random delay, or before it even finished
opening). After each kill the parent reopens the datadir *without* activating anything and
checks that the UTXO-set hash equals an in-memory replay of exactly the chain that ends at the
stored best block, and that every block of that chain has its undo record. The chain holds
contract transactions too (a TSL token created on both branches, transfers in some blocks),
and the stored contract state (root, every state key, a Merkle proof of each key against the
root) must equal the same replay's: coins and contract state flush in one batch.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from wattchain.consensus.params import ChainParams
from wattchain.core.header import StakeBlock, deserialize_stake_block
from wattchain.node import schema
from wattchain.contracts import abi, call_script, contract_id, create_script
from wattchain.contracts.smt import verify_proof
from wattchain.core.hashes import hash160
from wattchain.core.tx import Transaction, TxIn, TxOut
from wattchain.node.chaingen import (Branch, chain_to, generated_params, make_keys,
                                     replay_contract_state, replay_stats, sign_transaction)
from wattchain.node.chainstate import Chainstate
from wattchain.node.schema import BlockStatus

_GAS = 200_000
_PRICE = 40
#: Clock the child passes to process_block: far after every generated block time.
_NOW_OFFSET = 10**7


def scenario(seed: int, main_len: int = 16, fork_at: int = 8,
             fork_len: int = 12) -> tuple[ChainParams, list[StakeBlock], list[StakeBlock]]:
    """(params, blocks in feeding order, expected final chain): a main chain, then a longer
    fork from ``fork_at`` that takes over part-way through (so kills hit reorgs too)."""
    keys = make_keys(3, seed=seed)
    params = generated_params(keys, outputs_per_key=4)
    rng = random.Random(seed)
    branch = Branch(params, keys)
    main = [_contract_block(branch, rng) if height % 3 == 2 else branch.random_block(rng, 5)
            for height in range(main_len)]
    fork = branch.fork(fork_at)
    side = [_contract_block(fork, rng) if height % 3 == 1 else fork.random_block(rng, 5)
            for height in range(fork_len)]
    final = fork.blocks if fork_at + fork_len > main_len else branch.blocks
    return params, main + side, final


def _contract_block(branch: Branch, rng: random.Random) -> StakeBlock:
    """A block with one contract transaction: create the branch's TSL token, else transfer
    some of it from key 0 to a random key."""
    owner = branch.keys[0]
    coin = max((c for c in branch.mature_coins() if c.key == owner),
               key=lambda c: (c.output.value, c.outpoint.txid, c.outpoint.index))
    tsl = getattr(branch, "crash_tsl", None)
    if tsl is None:
        payload = abi.encode_create("TslToken", 1, {})
        out = TxOut(0, create_script(0, _GAS, _PRICE, payload))
    else:
        to = hash160(rng.choice(branch.keys).pubkey)
        data = abi.encode_call("transfer", [to, rng.randint(1, 10**6)])
        out = TxOut(0, call_script(0, _GAS, _PRICE, data, tsl))
    fee = _GAS * _PRICE + 1000
    tx = sign_transaction(Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),),
                                      (out, TxOut(coin.output.value - fee, owner.script_pubkey)),
                                      0), [coin])
    if tsl is None:
        branch.crash_tsl = contract_id(tx.txid, 0)  # type: ignore[attr-defined]
    return branch.add(branch.make_block([tx]))


def write_blocks(path: Path, blocks: list[StakeBlock]) -> None:
    path.write_text("".join(block.serialize().hex() + "\n" for block in blocks))


def child_main(argv: list[str]) -> int:
    """The killed process: seed, datadir, blocks file, cache bytes."""
    seed, datadir, blocks_path, cache_bytes = int(argv[0]), argv[1], argv[2], int(argv[3])
    params, _, _ = scenario(seed)
    blocks = [deserialize_stake_block(bytes.fromhex(line))
              for line in Path(blocks_path).read_text().split()]
    cs = Chainstate.open(datadir, params, sync=False, cache_bytes=cache_bytes)
    print("ready", flush=True)
    now = params.genesis_time + _NOW_OFFSET
    for block in blocks:
        result = cs.process_block(block, now)
        if result.reason == "duplicate":
            continue
        if not result.accepted:
            print(f"rejected {result.reason}", flush=True)
            return 1
        print(f"block {cs.tip.height}", flush=True)
    cs.close()
    print("done", flush=True)
    return 0


@dataclass
class TrialStats:
    """Outcome of a run of trials (the bench prints it)."""

    trials: int = 0
    kills: int = 0
    completed_runs: int = 0
    tips_seen: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)


def verify_datadir(datadir: Path, params: ChainParams,
                   blocks_by_hash: dict[bytes, StakeBlock]) -> int:
    """Reopen without activation; raise AssertionError unless the stored UTXO set equals a
    replay of the stored tip's chain and that chain's undo data is present. Returns its height."""
    cs = Chainstate.open(datadir, params, sync=False, activate=False)
    try:
        tip = cs.tip
        chain = chain_to(blocks_by_hash, tip.hash)
        assert chain and chain[0].hash == params.genesis_hash, "stored tip not on a known chain"
        stored = cs.utxo_stats()
        expected = replay_stats(params, chain)
        assert stored == expected, (f"UTXO set at height {tip.height} differs from a replay: "
                                    f"{stored.hash_hex} != {expected.hash_hex}")
        root, values = replay_contract_state(params, chain)
        assert cs.contract_state_root() == root, "contract state root differs from a replay"
        stored_values = {key[1:]: value for key, value
                         in cs.store.iterate_prefix(schema.PREFIX_CONTRACT_STATE)}
        assert stored_values == values, "stored contract state differs from a replay"
        for key, value in values.items():
            assert verify_proof(root, key, value, cs.contracts.state.prove(key)), \
                "contract state key not provable against the root"
        for block in chain[1:]:
            entry = cs.get_entry(block.hash)
            assert entry is not None and entry.status & BlockStatus.HAVE_UNDO, "undo flag lost"
            assert cs.store.get(schema.undo_key(block.hash)) is not None, "undo record lost"
        return tip.height
    finally:
        cs.store.close()  # no flush: leave the datadir exactly as the kill left it


def run_trials(workdir: Path, n_trials: int, seed: int = 0, max_lines: int = 6,
               timeout: float = 60.0) -> TrialStats:
    """Run ``n_trials`` kill-and-verify trials in datadirs under ``workdir``."""
    params, blocks, final_chain = scenario(seed)
    blocks_path = workdir / "blocks.hex"
    write_blocks(blocks_path, blocks)
    by_hash = {b.hash: b for b in blocks}
    by_hash[params.genesis_hash] = params.genesis_block
    rng = random.Random(seed ^ 0x5EED)
    stats = TrialStats()
    run = 0
    datadir = workdir / f"run{run}"
    env = dict(os.environ, PYTHONHASHSEED="0")
    for trial in range(n_trials):
        # write-through, and write-back datadirs flushing most / a few of the blocks
        cache_bytes = (0, 4_000, 12_000)[run % 3]
        child = subprocess.Popen(
            [sys.executable, "-m", "wattchain.node.crashcheck", str(seed), str(datadir),
             str(blocks_path), str(cache_bytes)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert child.stdout is not None
        finished = False
        if rng.random() < 0.15:
            time.sleep(rng.random() * 0.3)  # maybe still importing, maybe recovering
        else:
            wanted = rng.randint(0, max_lines)
            lines = 0
            while lines <= wanted:  # "ready" plus ``wanted`` block lines
                line = child.stdout.readline()
                if not line:
                    break
                if line.startswith("done"):
                    finished = True
                    break
                if line.startswith("rejected"):
                    stats.failures.append(f"trial {trial}: child {line.strip()}")
                    break
                lines += 1
            if rng.random() < 0.5:
                time.sleep(rng.random() * 0.004)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            stats.kills += 1
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.returncode not in (0, -signal.SIGKILL):
            err = child.stderr.read() if child.stderr else ""
            stats.failures.append(f"trial {trial}: child exited {child.returncode}: {err[-500:]}")
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
        stats.trials += 1
        if not (datadir / "chainstate").exists():
            continue  # killed before it created anything
        try:
            height = verify_datadir(datadir, params, by_hash)
            stats.tips_seen.add(height)
        except AssertionError as exc:
            stats.failures.append(f"trial {trial}: {exc}")
            continue
        if finished:
            if height != len(final_chain) - 1:
                stats.failures.append(f"trial {trial}: finished at height {height}")
            stats.completed_runs += 1
            run += 1
            datadir = workdir / f"run{run}"
    return stats


if __name__ == "__main__":  # pragma: no cover - the child process
    sys.exit(child_main(sys.argv[1:]))
