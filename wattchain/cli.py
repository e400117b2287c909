"""The ``wattchain`` command line.

For now it decodes and verifies transactions and blocks offline; the node, the local testnet and
the RPC client are added as those parts land.

    wattchain decode-tx HEX                      # Core-style decoderawtransaction JSON
    wattchain verify-tx --file spend.json        # run every input's scripts
    wattchain verify-tx HEX --prevout SCRIPT_HEX:AMOUNT [--prevout ...] [--policy standard]
    wattchain decode-block FILE [--bitcoin]      # header, merkle and witness-commitment checks
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from wattchain.consensus.params import ChainParams, params_for
from wattchain.core.block import Block, BlockHeader
from wattchain.core.errors import DecodeError
from wattchain.core.header import StakeBlockHeader
from wattchain.core.merkle import witness_commitment_hash
from wattchain.core.tx import Transaction, TxOut, txid_to_hex
from wattchain.node.config import add_node_arguments
from wattchain.rpc.txjson import tx_to_json
from wattchain.script.errors import ScriptError
from wattchain.script.flags import CONSENSUS_FLAGS, STANDARD_FLAGS
from wattchain.script.interpreter import verify_input
from wattchain.script.sighash import PrecomputedTransactionData
from wattchain.testnet import add_arguments as add_testnet_arguments
from wattchain.testnet import main as testnet_main


class CliError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=_json_default))


def _read_hex(text: str) -> bytes:
    if text == "-":
        text = sys.stdin.read()
    try:
        return bytes.fromhex(text.strip())
    except ValueError as exc:
        raise CliError(f"not hex: {exc}") from None


def _decode_tx(raw: bytes) -> Transaction:
    try:
        return Transaction.deserialize(raw)
    except DecodeError as exc:
        raise CliError(f"cannot decode transaction: {exc}") from None


def _parse_prevout(spec: str) -> TxOut:
    script_hex, sep, amount = spec.rpartition(":")
    if not sep:
        raise CliError(f"--prevout wants SCRIPT_PUBKEY_HEX:AMOUNT_IN_BASE_UNITS, got {spec!r}")
    try:
        return TxOut(int(amount), bytes.fromhex(script_hex))
    except ValueError as exc:
        raise CliError(f"bad --prevout {spec!r}: {exc}") from None


def verify_transaction(tx: Transaction, spent: Sequence[TxOut], policy: str) -> dict[str, Any]:
    """Run every input's scripts; report each input's result (Core's script error names)."""
    if len(spent) != len(tx.inputs):
        raise CliError(f"the transaction has {len(tx.inputs)} inputs but {len(spent)} "
                       f"prevouts were given")
    flags = STANDARD_FLAGS if policy == "standard" else CONSENSUS_FLAGS
    precomputed = PrecomputedTransactionData(tx)
    results = []
    for index, output in enumerate(spent):
        try:
            verify_input(tx, index, output, flags, precomputed)
            results.append({"input": index, "valid": True})
        except ScriptError as exc:
            results.append({"input": index, "valid": False, "error": exc.code.value,
                            "detail": exc.detail})
    return {"txid": txid_to_hex(tx.txid), "policy": policy,
            "valid": all(r["valid"] for r in results), "inputs": results}


def _cmd_decode_tx(args: argparse.Namespace, params: ChainParams) -> int:
    _print_json(tx_to_json(_decode_tx(_read_hex(args.hex)), params.address_format))
    return 0


def _cmd_verify_tx(args: argparse.Namespace, params: ChainParams) -> int:
    if args.file:
        try:
            spec = json.loads(Path(args.file).read_text())
            raw = bytes.fromhex(spec["tx"])
            spent = [TxOut(int(p["amount"]), bytes.fromhex(p["script_pubkey"]))
                     for p in spec["prevouts"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"cannot read {args.file}: {exc}") from None
    elif args.hex:
        raw = _read_hex(args.hex)
        spent = [_parse_prevout(p) for p in args.prevout]
    else:
        raise CliError("give a transaction as HEX or --file")
    tx = _decode_tx(raw)
    report = verify_transaction(tx, spent, args.policy)
    if args.decode:
        report["decoded"] = tx_to_json(tx, params.address_format)
    _print_json(report)
    return 0 if report["valid"] else 1


def _cmd_decode_block(args: argparse.Namespace, params: ChainParams) -> int:
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(str(exc)) from None
    header_type = BlockHeader if args.bitcoin else StakeBlockHeader
    try:
        block = Block.deserialize(raw, header_type=header_type)
    except DecodeError as exc:
        raise CliError(f"cannot decode block: {exc}") from None
    root, mutated = block.compute_merkle_root()
    summary: dict[str, Any] = {
        "hash": txid_to_hex(block.hash),
        "previousblockhash": txid_to_hex(block.header.prev_hash),
        "merkleroot": txid_to_hex(block.header.merkle_root),
        "merkleroot_valid": root == block.header.merkle_root and not mutated,
        "time": block.header.time,
        "bits": f"{block.header.bits:08x}",
        "nTx": len(block.transactions),
        "inputs": sum(len(tx.inputs) for tx in block.transactions),
        "strippedsize": block.base_size,
        "size": block.total_size,
        "weight": block.weight,
    }
    index = block.witness_commitment_index()
    if index is not None:
        coinbase = block.transactions[0]
        reserved = coinbase.inputs[0].witness[0] if coinbase.inputs[0].witness else b""
        expected = witness_commitment_hash(block.compute_witness_merkle_root()[0], reserved)
        summary["witness_commitment_valid"] = (
            coinbase.outputs[index].script_pubkey[6:38] == expected)
    _print_json(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wattchain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", choices=("main", "test", "regtest"), default=None,
                        help="network (default: main; for `node`, the config file's)")
    sub = parser.add_subparsers(dest="command", required=True)

    decode_tx = sub.add_parser("decode-tx", help="decode a raw transaction to JSON")
    decode_tx.add_argument("hex", help="transaction hex, or - for standard input")
    decode_tx.set_defaults(func=_cmd_decode_tx)

    verify = sub.add_parser("verify-tx", help="verify every input's scripts")
    verify.add_argument("hex", nargs="?", help="transaction hex, or - for standard input")
    verify.add_argument("--prevout", action="append", default=[],
                        metavar="SCRIPT_HEX:AMOUNT",
                        help="the output each input spends, in input order (amount in base units)")
    verify.add_argument("--file", help='JSON file {"tx": HEX, "prevouts": [{"script_pubkey": '
                                       'HEX, "amount": N}, ...]}')
    verify.add_argument("--policy", choices=("consensus", "standard"), default="standard",
                        help="script flags: consensus rules only, or mempool policy too")
    verify.add_argument("--decode", action="store_true", help="include the decoded transaction")
    verify.set_defaults(func=_cmd_verify_tx)

    decode_block = sub.add_parser("decode-block", help="decode a raw block file and check it")
    decode_block.add_argument("file")
    decode_block.add_argument("--bitcoin", action="store_true",
                              help="the file has Bitcoin's 80-byte header (no stake fields)")
    decode_block.set_defaults(func=_cmd_decode_block)

    node = sub.add_parser("node", help="run a node (validator) until SIGINT/SIGTERM or `stop`")
    add_node_arguments(node)
    node.set_defaults(func=_cmd_node)

    testnet = sub.add_parser("testnet", help="a local multi-node regtest network")
    add_testnet_arguments(testnet)
    testnet.set_defaults(func=lambda args, _params: testnet_main(args))

    from wattchain.channels.demo import add_demo_parser  # the demo pulls in aiohttp/channels
    add_demo_parser(sub)
    from wattchain.sim.cli import add_sim_parser
    add_sim_parser(sub)
    return parser


def _cmd_node(args: argparse.Namespace, _params: object) -> int:
    from wattchain.node.config import ConfigError, config_from_args
    from wattchain.node.daemon import run_node
    try:
        config = config_from_args(args, args.network)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    return run_node(config)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, params_for(args.network or "main"))
    except CliError as exc:
        print(f"wattchain: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
