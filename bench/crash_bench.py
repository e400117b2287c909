"""Crash-safety bench: many SIGKILL trials (the test suite runs 24).

Each trial starts a child that connects a pre-generated chain (with a reorg in it) into a
datadir, kills it with SIGKILL at a random moment, reopens the datadir without activating
anything and checks that the stored UTXO-set hash equals an in-memory replay of exactly the
blocks the stored tip says are connected (see ``wattchain.node.crashcheck``). Datadirs
alternate between a write-through and a small write-back coins cache. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from wattchain.node.crashcheck import run_trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=4, help="distinct generated chains")
    parser.add_argument("--max-lines", type=int, default=6,
                        help="kill after at most this many connected blocks per trial")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    totals = {"trials": 0, "kills": 0, "completed_runs": 0, "distinct_tips": 0, "failures": []}
    per_seed = -(-args.trials // args.seeds)
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory(prefix="wattchain-crash-") as workdir:
            stats = run_trials(Path(workdir), per_seed, seed=seed, max_lines=args.max_lines)
        totals["trials"] += stats.trials
        totals["kills"] += stats.kills
        totals["completed_runs"] += stats.completed_runs
        totals["distinct_tips"] += len(stats.tips_seen)
        totals["failures"].extend(f"seed {seed}: {f}" for f in stats.failures)
    totals["seconds"] = round(time.perf_counter() - started, 1)
    totals["ok"] = not totals["failures"]
    print(json.dumps(totals))
    return 0 if totals["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
