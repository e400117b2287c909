"""Benchmark: transaction decoding and script verification throughput. Prints one JSON object.

Measures, in one run on one machine:

* ``deserialize``: transactions decoded per second, over the 2,500 real transactions of Bitcoin
  main-net block 702,861 (each decoded again and again from its raw bytes).
* ``verify``: inputs verified per second by ``wattchain.script.interpreter.verify_input`` for
  P2WPKH, P2PKH and 2-of-3 P2WSH spends (one ``PrecomputedTransactionData`` per transaction,
  as block validation uses it).
* ``ecdsa_raw``: coincurve's own ECDSA verifications per second (``PublicKey.verify`` with
  ``hasher=None``) -- the ceiling any script interpreter on this backend can approach.

The signed transactions are built here from fixed keys with the sighash functions, ``sign_ecdsa``
and raw script bytes, so the benchmark does not depend on the wallet's signing code. Every input
is checked to verify (and a corrupted copy to fail) before timing starts.

Usage: ``python bench/script_bench.py [--seconds 2] [--inputs 20] [--block PATH]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import coincurve

from wattchain.core.hashes import hash160, sha256
from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.core.serialization import ByteReader, compact_size
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.opcodes import Op
from wattchain.script.script import build_script, push_data
from wattchain.script.sighash import (
    SIGHASH_ALL,
    PrecomputedTransactionData,
    legacy_signature_hash,
    segwit_v0_signature_hash,
)

REPO = Path(__file__).resolve().parent.parent
BLOCK_NAME = Path("blocks") / "mainnet_702861.raw"
AMOUNT = 50_000


def _key(label: str) -> bytes:
    """A fixed private key derived from a label (reproducible runs)."""
    return hashlib.sha256(b"wattchain-bench/" + label.encode()).digest()


def _default_block_path() -> Path:
    env = os.environ.get("WATTCHAIN_VECTORS")
    base = Path(env) if env else REPO.parent / "shared" / "vectors"
    return base / BLOCK_NAME


# ---------------------------------------------------------------------------- building spends
def _unsigned(n_inputs: int, tag: bytes) -> Transaction:
    inputs = tuple(TxIn(OutPoint(sha256(tag + i.to_bytes(4, "little")), i % 3),
                        b"", 0xFFFFFFFD) for i in range(n_inputs))
    outputs = (TxOut(n_inputs * AMOUNT - 10_000, b"\x00\x14" + bytes(20)),)
    return Transaction(2, inputs, outputs, 0)


def _with_inputs(tx: Transaction, inputs: list[TxIn]) -> Transaction:
    return Transaction(tx.version, tuple(inputs), tx.outputs, tx.locktime)


def build_p2pkh(n_inputs: int) -> tuple[Transaction, list[TxOut]]:
    tx = _unsigned(n_inputs, b"p2pkh")
    signed, spent = [], []
    for i, txin in enumerate(tx.inputs):
        private = _key(f"p2pkh-{i}")
        pubkey = public_key(private)
        script_pubkey = build_script(Op.OP_DUP, Op.OP_HASH160, hash160(pubkey), Op.OP_EQUALVERIFY,
                                     Op.OP_CHECKSIG)
        digest = legacy_signature_hash(script_pubkey, tx, i, SIGHASH_ALL)
        sig = sign_ecdsa(private, digest) + bytes((SIGHASH_ALL,))
        signed.append(TxIn(txin.prevout, push_data(sig) + push_data(pubkey), txin.sequence))
        spent.append(TxOut(AMOUNT, script_pubkey))
    return _with_inputs(tx, signed), spent


def build_p2wpkh(n_inputs: int) -> tuple[Transaction, list[TxOut]]:
    tx = _unsigned(n_inputs, b"p2wpkh")
    pre = PrecomputedTransactionData(tx)
    signed, spent = [], []
    for i, txin in enumerate(tx.inputs):
        private = _key(f"p2wpkh-{i}")
        pubkey = public_key(private)
        key_hash = hash160(pubkey)
        script_code = build_script(Op.OP_DUP, Op.OP_HASH160, key_hash, Op.OP_EQUALVERIFY,
                                   Op.OP_CHECKSIG)
        digest = segwit_v0_signature_hash(script_code, tx, i, SIGHASH_ALL, AMOUNT, pre)
        sig = sign_ecdsa(private, digest) + bytes((SIGHASH_ALL,))
        signed.append(TxIn(txin.prevout, b"", txin.sequence, (sig, pubkey)))
        spent.append(TxOut(AMOUNT, b"\x00\x14" + key_hash))
    return _with_inputs(tx, signed), spent


def build_p2wsh_2of3(n_inputs: int) -> tuple[Transaction, list[TxOut]]:
    tx = _unsigned(n_inputs, b"p2wsh")
    pre = PrecomputedTransactionData(tx)
    signed, spent = [], []
    for i, txin in enumerate(tx.inputs):
        privates = [_key(f"p2wsh-{i}-{k}") for k in range(3)]
        pubkeys = [public_key(p) for p in privates]
        witness_script = build_script(Op.OP_2, *pubkeys, Op.OP_3, Op.OP_CHECKMULTISIG)
        digest = segwit_v0_signature_hash(witness_script, tx, i, SIGHASH_ALL, AMOUNT, pre)
        sigs = [sign_ecdsa(p, digest) + bytes((SIGHASH_ALL,)) for p in privates[:2]]
        signed.append(TxIn(txin.prevout, b"", txin.sequence, (b"", *sigs, witness_script)))
        spent.append(TxOut(AMOUNT, b"\x00\x20" + sha256(witness_script)))
    return _with_inputs(tx, signed), spent


# ---------------------------------------------------------------------------- timing
def _rate(run_once: Callable[[], int], seconds: float) -> tuple[float, int, float]:
    """Call ``run_once`` (which returns how many operations it did) for about ``seconds``.

    Returns (operations per second, operations, elapsed seconds).
    """
    run_once()  # warm-up (imports, caches)
    done = 0
    start = time.perf_counter()
    while True:
        done += run_once()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed, done, elapsed


def bench_deserialize(block_path: Path, seconds: float) -> dict[str, object] | None:
    if not block_path.exists():
        return None
    from wattchain.core.block import Block

    raw = block_path.read_bytes()
    block = Block.deserialize(raw)
    # Cut each transaction's raw bytes out of the block, then decode those bytes repeatedly.
    reader = ByteReader(raw)
    reader.read(80)
    reader.compact_size()
    tx_bytes = []
    for _ in block.transactions:
        start = reader.position
        Transaction.read(reader)
        tx_bytes.append(raw[start:reader.position])
    total = sum(map(len, tx_bytes))
    assert 80 + len(compact_size(len(tx_bytes))) + total == len(raw)

    def once() -> int:
        for data in tx_bytes:
            Transaction.deserialize(data)
        return len(tx_bytes)

    per_second, done, elapsed = _rate(once, seconds)
    return {
        "source": f"Bitcoin main-net block 702,861 ({len(tx_bytes)} transactions, "
                  f"{len(raw)} bytes)",
        "transactions_per_second": round(per_second, 1),
        "megabytes_per_second": round(per_second * total / len(tx_bytes) / 1e6, 2),
        "transactions_decoded": done,
        "seconds": round(elapsed, 3),
    }


def bench_verify(seconds: float, n_inputs: int) -> dict[str, object]:
    try:
        from wattchain.script.flags import STANDARD_FLAGS
        from wattchain.script.interpreter import verify_input
    except ImportError as exc:  # the interpreter is developed separately
        return {"error": f"interpreter unavailable: {exc}"}

    results: dict[str, object] = {}
    builders = {"p2wpkh": (build_p2wpkh, 1), "p2pkh": (build_p2pkh, 1),
                "p2wsh_2of3_multisig": (build_p2wsh_2of3, 2)}
    for name, (builder, sigs_per_input) in builders.items():
        tx, spent = builder(n_inputs)
        # Correctness gate: every input verifies, and the same input in a transaction with a
        # different locktime (so a different sighash) does not.
        for i in range(len(tx.inputs)):
            verify_input(tx, i, spent[i], STANDARD_FLAGS, PrecomputedTransactionData(tx))
        tampered = Transaction(tx.version, tx.inputs, tx.outputs, tx.locktime + 1)
        try:
            verify_input(tampered, 0, spent[0], STANDARD_FLAGS)
        except Exception:  # noqa: BLE001 - any script failure is the expected outcome
            pass
        else:
            raise RuntimeError(f"{name}: a spend verified against the wrong sighash")

        def once(tx: Transaction = tx, spent: list[TxOut] = spent) -> int:
            pre = PrecomputedTransactionData(tx)  # one per transaction, as in block validation
            for i in range(len(tx.inputs)):
                verify_input(tx, i, spent[i], STANDARD_FLAGS, pre)
            return len(tx.inputs)

        per_second, done, elapsed = _rate(once, seconds)
        results[name] = {
            "inputs_per_second": round(per_second, 1),
            "ecdsa_verifications_per_input": sigs_per_input,
            "inputs_verified": done,
            "seconds": round(elapsed, 3),
        }
    results["flags"] = "STANDARD_FLAGS (consensus + policy)"
    results["inputs_per_transaction"] = n_inputs
    return results


def bench_raw_ecdsa(seconds: float) -> dict[str, object]:
    items = []
    for i in range(32):
        private = _key(f"raw-{i}")
        msg = sha256(b"raw message %d" % i)
        items.append((coincurve.PublicKey(public_key(private)), sign_ecdsa(private, msg), msg))
    assert all(pub.verify(sig, msg, hasher=None) for pub, sig, msg in items)

    def once() -> int:
        for pub, sig, msg in items:
            pub.verify(sig, msg, hasher=None)
        return len(items)

    per_second, done, elapsed = _rate(once, seconds)
    return {"verifications_per_second": round(per_second, 1), "verifications": done,
            "seconds": round(elapsed, 3),
            "call": "coincurve.PublicKey(pubkey).verify(der_sig, msg32, hasher=None)"}


def machine_info() -> dict[str, object]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "coincurve": metadata.version("coincurve"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="time budget per measurement (default 2)")
    parser.add_argument("--inputs", type=int, default=20,
                        help="inputs per benchmark transaction (default 20)")
    parser.add_argument("--block", type=Path, default=None,
                        help="raw block file (default: the shared vectors' mainnet_702861.raw)")
    args = parser.parse_args(argv)

    block_path = args.block or _default_block_path()
    raw_ecdsa = bench_raw_ecdsa(args.seconds)
    verify = bench_verify(args.seconds, args.inputs)
    report: dict[str, object] = {
        "benchmark": "wattchain script_bench",
        "signature_backend": "coincurve-python",
        "machine": machine_info(),
        "deserialize": bench_deserialize(block_path, args.seconds)
        or {"error": f"block file not found: {block_path}"},
        "verify": verify,
        "ecdsa_raw": raw_ecdsa,
    }
    ecdsa_rate = float(raw_ecdsa["verifications_per_second"])  # type: ignore[arg-type]
    p2wpkh = verify.get("p2wpkh") if isinstance(verify, dict) else None
    if isinstance(p2wpkh, dict):
        report["p2wpkh_input_vs_raw_ecdsa"] = round(
            float(p2wpkh["inputs_per_second"]) / ecdsa_rate, 3)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
