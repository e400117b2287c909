"""Connect benchmark: a chain of full blocks of P2WPKH spends into a fresh datadir.

Generates (fixed seed, real ECDSA signatures) ``--blocks`` blocks of ``--txs-per-block``
transactions (default: as many as the 8,000,000 weight limit allows, ~14,000), each spending
``--inputs`` P2WPKH coins into two P2WPKH outputs, then feeds them to
``Chainstate.process_block`` and prints one JSON object: blocks/s, transactions/s, inputs/s
(connect phase only; generation is timed separately), the UTXO records' on-disk size (LevelDB
estimate after compaction) and the whole chainstate directory's size (blocks, index and undo
records included), peak RSS, and the signature backend. Defaults finish in a couple of minutes
on 2 cores; use
``--blocks 5 --txs-per-block 50`` for a quick run.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import coincurve

from wattchain.core.tx import COIN, Transaction, TxIn, TxOut
from wattchain.node.chaingen import Branch, Spendable, generated_params, make_keys, sign_transaction
from wattchain.consensus.script_checks import ScriptVerifier
from wattchain.node.chainstate import Chainstate
from wattchain.script import sigcore
from wattchain.script.sigcache import SignatureCache


def build_chain(n_blocks: int, txs_per_block: int, inputs: int, seed: int):
    """(params, blocks): full blocks of P2WPKH spends, every coin signed for real."""
    keys = make_keys(16, seed=seed)
    fill = txs_per_block <= 0
    if fill:  # as many as fit the weight limit: ~561 WU per 1-in-2-out P2WPKH spend
        txs_per_block = 8_000_000 // (400 + 161 * inputs) + 1
    n_premine = txs_per_block * inputs
    per_key = -(-n_premine // len(keys))
    params = generated_params(keys, outputs_per_key=per_key, value=10 * COIN)
    params = replace(params, max_reorg_depth=max(params.max_reorg_depth, n_blocks))
    rng = random.Random(seed)
    branch = Branch(params, keys)
    blocks = []
    for _ in range(n_blocks):
        height = branch.height + 1
        pool = sorted(branch.mature_coins(height), key=lambda c: (c.height, c.outpoint.txid))
        txs = []
        weight = 4_000  # header, coinbase and commitment, with room to spare
        for t in range(txs_per_block):
            spent: list[Spendable] = pool[t * inputs:(t + 1) * inputs]
            if len(spent) < inputs:
                break
            value = sum(c.output.value for c in spent) - 1000
            outputs = (TxOut(value // 2, rng.choice(keys).script_pubkey),
                       TxOut(value - value // 2, rng.choice(keys).script_pubkey))
            unsigned = Transaction(2, tuple(TxIn(c.outpoint, b"", 0xFFFFFFFE) for c in spent),
                                   outputs, 0)
            tx = sign_transaction(unsigned, spent)
            weight += tx.weight
            if weight > params.max_block_weight:
                break
            txs.append(tx)
        blocks.append(branch.add(branch.make_block(txs)))
    return params, blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--txs-per-block", type=int, default=0,
                        help="transactions per block (0 = fill blocks to the weight limit)")
    parser.add_argument("--inputs", type=int, default=1, help="inputs per transaction")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-mb", type=float, default=64.0,
                        help="coins cache bound in MiB (0 = write-through)")
    parser.add_argument("--threads", type=int, default=0,
                        help="script-check threads (0 = all cores, as the daemon runs)")
    parser.add_argument("--datadir", type=Path, default=None,
                        help="where to connect (default: a temporary directory, removed)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    params, blocks = build_chain(args.blocks, args.txs_per_block, args.inputs, args.seed)
    generated = time.perf_counter() - started
    n_txs = sum(len(b.transactions) - 1 for b in blocks)
    n_inputs = sum(len(tx.inputs) for b in blocks for tx in b.transactions[1:])

    datadir = args.datadir or Path(tempfile.mkdtemp(prefix="wattchain-bench-"))
    try:
        # As the daemon: a verifier on every core (or --threads) with a signature cache.
        verifier = ScriptVerifier(args.threads or None, SignatureCache())
        cs = Chainstate.open(datadir, params, cache_bytes=int(args.cache_mb * 2**20),
                             script_verifier=verifier)
        now = params.genesis_time + 10**7
        started = time.perf_counter()
        for block in blocks:
            result = cs.process_block(block, now)
            if not result.accepted:
                print(json.dumps({"error": result.reason, "detail": result.detail}))
                return 1
        cs.flush()
        elapsed = time.perf_counter() - started
        stats = cs.utxo_stats()
        utxo_bytes = cs.utxo_disk_size()
        cs.close()
        verifier.close()
        db_bytes = sum(p.stat().st_size for p in (datadir / "chainstate").iterdir())
    finally:
        if args.datadir is None:
            shutil.rmtree(datadir, ignore_errors=True)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "blocks": len(blocks), "transactions": n_txs, "inputs": n_inputs,
        "avg_block_weight": sum(b.weight for b in blocks) // len(blocks),
        "connect_seconds": round(elapsed, 3), "generate_seconds": round(generated, 3),
        "blocks_per_s": round(len(blocks) / elapsed, 2),
        "transactions_per_s": round(n_txs / elapsed, 1),
        "inputs_per_s": round(n_inputs / elapsed, 1),
        "utxo_count": stats.count,
        "utxo_db_bytes": utxo_bytes,
        "chainstate_dir_bytes": db_bytes,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "signature_backend": f"libsecp256k1 via coincurve {coincurve.__version__}"
                             if hasattr(coincurve, "__version__") else "libsecp256k1 via coincurve",
        "signature_core": sigcore.backend_name(), "script_threads": verifier.batch.threads,
        "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
