"""Transactions and scripts as JSON in Bitcoin Core's ``decoderawtransaction`` shape.

Kept free of any server code so the CLI, the RPC server and tests share one encoder, and so
field names stay exactly Core's (users' tools parse them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wattchain.core.tx import COIN, Transaction, txid_to_hex
from wattchain.script.address import AddressFormat, address_from_script
from wattchain.script.asm import to_asm
from wattchain.script.standard import TxOutType, solve

#: Core's names for output types.
OUTPUT_TYPE_NAMES = {
    TxOutType.NONSTANDARD: "nonstandard",
    TxOutType.PUBKEY: "pubkey",
    TxOutType.PUBKEYHASH: "pubkeyhash",
    TxOutType.SCRIPTHASH: "scripthash",
    TxOutType.MULTISIG: "multisig",
    TxOutType.NULL_DATA: "nulldata",
    TxOutType.WITNESS_V0_KEYHASH: "witness_v0_keyhash",
    TxOutType.WITNESS_V0_SCRIPTHASH: "witness_v0_scripthash",
    TxOutType.WITNESS_UNKNOWN: "witness_unknown",
}


def amount_to_coins(value: int) -> Decimal:
    """Base units as an exact decimal coin amount (never a binary float)."""
    return Decimal(value) / COIN


def script_pubkey_to_json(script: bytes, fmt: AddressFormat) -> dict[str, Any]:
    kind, _ = solve(script)
    result: dict[str, Any] = {"asm": to_asm(script), "hex": script.hex(),
                              "type": OUTPUT_TYPE_NAMES[kind]}
    address = address_from_script(script, fmt)
    if address is not None:
        result["address"] = address
    return result


def tx_to_json(tx: Transaction, fmt: AddressFormat) -> dict[str, Any]:
    vin = []
    for txin in tx.inputs:
        if tx.is_coinbase():
            entry: dict[str, Any] = {"coinbase": txin.script_sig.hex()}
        else:
            entry = {"txid": txid_to_hex(txin.prevout.txid), "vout": txin.prevout.index,
                     "scriptSig": {"asm": to_asm(txin.script_sig), "hex": txin.script_sig.hex()}}
        if txin.witness:
            entry["txinwitness"] = [item.hex() for item in txin.witness]
        entry["sequence"] = txin.sequence
        vin.append(entry)
    vout = [{"value": amount_to_coins(out.value), "n": n,
             "scriptPubKey": script_pubkey_to_json(out.script_pubkey, fmt)}
            for n, out in enumerate(tx.outputs)]
    return {
        "txid": txid_to_hex(tx.txid),
        "hash": txid_to_hex(tx.wtxid),
        "version": tx.version,
        "size": tx.total_size,
        "vsize": tx.vsize,
        "weight": tx.weight,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": vout,
    }
