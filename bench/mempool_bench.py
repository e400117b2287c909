"""Mempool acceptance throughput: P2WPKH transactions accepted per second.

Builds a regtest chainstate whose genesis premine pays ``--txs`` P2WPKH outputs, signs one
1-in-2-out P2WPKH spend per output (plus, with ``--chain``, children spending those), then
times ``Mempool.accept`` over them, every rule included (standardness, inputs, fee, package
limits, scripts with STANDARD_FLAGS). Also times ``select_for_block`` over the full pool and
``save``/``load``. Prints one JSON object.

    python bench/mempool_bench.py                 # 2000 txs
    python bench/mempool_bench.py --txs 5000 --chain
    python bench/mempool_bench.py --verifier sigcore   # the compiled signature core, if built
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from wattchain.core.keys import verify_ecdsa
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import (Branch, Spendable, generated_params, make_keys,
                                     sign_transaction)
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool


def build_txs(branch: Branch, n: int, chain: bool) -> list[Transaction]:
    keys = branch.keys
    rng = random.Random(5)
    coins = sorted(branch.mature_coins(), key=lambda c: c.outpoint.index)[:n]
    txs = []
    children = []
    for coin in coins:
        half = (coin.output.value - 500) // 2
        outs = (TxOut(half, rng.choice(keys).script_pubkey),
                TxOut(coin.output.value - 500 - half, rng.choice(keys).script_pubkey))
        tx = sign_transaction(Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFD),), outs, 0),
                              [coin])
        txs.append(tx)
        if chain:
            key = next(k for k in keys if k.script_pubkey == outs[0].script_pubkey)
            spent = Spendable(OutPoint(tx.txid, 0), outs[0], 0, False, key)
            child = Transaction(2, (TxIn(spent.outpoint, b"", 0xFFFFFFFD),),
                                (TxOut(half - 400, key.script_pubkey),), 0)
            children.append(sign_transaction(child, [spent]))
    return txs + children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--chain", action="store_true", help="also accept one child per tx")
    parser.add_argument("--verifier", choices=("default", "sigcore"), default="default",
                        help="ECDSA check: core.keys (coincurve) or script.sigcore's active "
                             "backend (compiled when built)")
    args = parser.parse_args(argv)
    verifier = verify_ecdsa
    backend = "coincurve (wattchain.core.keys)"
    if args.verifier == "sigcore":
        from wattchain.script import sigcore
        verifier = sigcore.verify_ecdsa
        backend = f"sigcore:{sigcore.backend_name()}"
    keys = make_keys(8)
    per_key = -(-args.txs // len(keys))
    params = generated_params(keys, outputs_per_key=per_key, value=10 * COIN)
    branch = Branch(params, keys)
    txs = build_txs(branch, args.txs, args.chain)
    with tempfile.TemporaryDirectory() as tmp:
        with Chainstate.open(Path(tmp) / "node", params, sync=False) as cs:
            pool = Mempool(cs, verifier=verifier)
            start = time.perf_counter()
            for tx in txs:
                result = pool.accept(tx)
                assert result.accepted, result
            accept_s = time.perf_counter() - start
            start = time.perf_counter()
            selected = pool.select_for_block(params.max_block_weight - 4000,
                                             params.max_block_sigops_cost - 400)
            select_s = time.perf_counter() - start
            path = Path(tmp) / "mempool.dat"
            start = time.perf_counter()
            pool.save(path)
            save_s = time.perf_counter() - start
            fresh = Mempool(cs, subscribe=False, verifier=verifier)
            start = time.perf_counter()
            loaded = fresh.load(path)
            load_s = time.perf_counter() - start
    inputs = sum(len(tx.inputs) for tx in txs)
    print(json.dumps({
        "accept": {"txs": len(txs), "inputs": inputs, "seconds": round(accept_s, 3),
                   "tx_per_s": round(len(txs) / accept_s, 1)},
        "select_for_block": {"pool": len(txs), "selected": len(selected),
                             "seconds": round(select_s, 3)},
        "save": {"seconds": round(save_s, 3)},
        "load": {"txs": loaded, "seconds": round(load_s, 3),
                 "tx_per_s": round(loaded / load_s, 1) if load_s else None},
        "signature_backend": backend,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count()},
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
