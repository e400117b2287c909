"""Wallet throughput: coin selection over many UTXOs, and rescanning a chain.

* ``select``: ``fund_transaction`` (BnB, then SRD / largest-first) over ``--utxos`` P2WPKH
  coins of random values, paying one random amount; funded transactions per second and how
  often BnB found a changeless solution.
* ``rescan``: a regtest chain of ``--blocks`` PoS blocks (chaingen), each with one payment to
  the wallet; blocks per second read by ``Wallet.rescan`` from a real chainstate (LevelDB).

    python bench/wallet_bench.py                    # 2000 UTXOs, 200 blocks
    python bench/wallet_bench.py --utxos 5000 --blocks 500

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from wattchain.core.hashes import sha256
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import (Branch, far_future_now, generated_params, make_keys,
                                     sign_transaction)
from wattchain.node.chainstate import Chainstate
from wattchain.script.address import script_from_address
from wattchain.wallet.errors import InsufficientFunds
from wattchain.wallet.fees import input_weight
from wattchain.wallet.spend import SpendableCoin, fund_transaction
from wattchain.wallet.wallet import Wallet

P2WPKH = b"\x00\x14" + bytes(20)
MNEMONIC = "abandon " * 11 + "about"


def bench_select(n_utxos: int, rounds: int) -> dict[str, object]:
    rng = random.Random(1)
    weight = input_weight(P2WPKH)
    coins = [SpendableCoin(OutPoint(sha256(i.to_bytes(4, "little")), 0),
                           TxOut(rng.randint(10_000, 5 * COIN), P2WPKH), weight)
             for i in range(n_utxos)]
    change = b"\x00\x14" + b"\x01" * 20
    algorithms: dict[str, int] = {}
    start = time.perf_counter()
    for _ in range(rounds):
        amount = rng.randint(COIN // 100, 20 * COIN)
        try:
            funded = fund_transaction([TxOut(amount, b"\x00\x14" + b"\x02" * 20)], coins,
                                      2_000, change, rng)
        except InsufficientFunds:  # pragma: no cover - the pool is far larger
            continue
        algorithms[funded.algorithm] = algorithms.get(funded.algorithm, 0) + 1
    elapsed = time.perf_counter() - start
    return {"utxos": n_utxos, "rounds": rounds, "funded_per_s": round(rounds / elapsed, 1),
            "algorithms": algorithms}


def bench_rescan(n_blocks: int) -> dict[str, object]:
    keys = make_keys(2, seed=3)
    params = generated_params(keys, outputs_per_key=max(8, n_blocks))
    branch = Branch(params, keys)
    now = far_future_now(params)
    with tempfile.TemporaryDirectory() as tmp:
        cs = Chainstate.open(Path(tmp) / "node", params, sync=False)
        wallet = Wallet.create(Path(tmp) / "w", params, mnemonic=MNEMONIC, sync=False)
        scripts = [script_from_address(wallet.get_new_address(), wallet.fmt)
                   for _ in range(10)]
        for height in range(n_blocks):
            coin = next(c for c in branch.mature_coins() if c.key is not None
                        and c.outpoint not in branch.staked)
            branch.coins.pop(coin.outpoint)
            tx = sign_transaction(Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),), (
                TxOut(COIN, scripts[height % 10]),
                TxOut(coin.output.value - COIN - 1000, coin.key.script_pubkey)), 0), [coin])
            block = branch.add(branch.make_block([tx]))
            assert cs.process_block(block, now).accepted
        start = time.perf_counter()
        read = wallet.rescan(cs, 0)
        elapsed = time.perf_counter() - start
        txs = len(wallet.ledger.txs)
        wallet.close()
        cs.close()
    return {"blocks": read, "wallet_txs": txs, "blocks_per_s": round(read / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utxos", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=200)
    args = parser.parse_args()
    result = {"select": bench_select(args.utxos, args.rounds),
              "rescan": bench_rescan(args.blocks),
              "machine": {"python": sys.version.split()[0], "platform": platform.platform()}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
