"""decodepsbt's JSON (Bitcoin Core's field names)."""

from __future__ import annotations

from typing import Any

from wattchain.core.tx import TxOut
from wattchain.rpc.txjson import amount_to_coins, script_pubkey_to_json, tx_to_json
from wattchain.script.address import AddressFormat
from wattchain.script.asm import to_asm
from wattchain.wallet.hd import format_path
from wattchain.wallet.psbt import KeyOrigin, Psbt

_SIGHASH_NAMES = {0x01: "ALL", 0x02: "NONE", 0x03: "SINGLE", 0x81: "ALL|ANYONECANPAY",
                  0x82: "NONE|ANYONECANPAY", 0x83: "SINGLE|ANYONECANPAY"}


def sighash_name(value: int) -> str:
    return _SIGHASH_NAMES.get(value, str(value))


def _script_json(script: bytes, fmt: AddressFormat) -> dict[str, Any]:
    data = script_pubkey_to_json(script, fmt)
    data.pop("address", None)
    return data


def _derivs(derivs: dict[bytes, KeyOrigin]) -> list[dict[str, str]]:
    return [{"pubkey": pubkey.hex(), "master_fingerprint": origin[0].hex(),
             "path": format_path(origin[1])} for pubkey, origin in sorted(derivs.items())]


def _utxo_json(out: TxOut, fmt: AddressFormat) -> dict[str, Any]:
    return {"amount": amount_to_coins(out.value),
            "scriptPubKey": script_pubkey_to_json(out.script_pubkey, fmt)}


def decode_psbt(psbt: Psbt, fmt: AddressFormat) -> dict[str, Any]:
    """Core's decodepsbt result: tx, global_xpubs, psbt_version, proprietary, unknown,
    inputs, outputs and (when every input's UTXO is known) fee."""
    result: dict[str, Any] = {
        "tx": tx_to_json(psbt.tx, fmt),
        "global_xpubs": [{"xpub": xpub.hex(), "master_fingerprint": origin[0].hex(),
                          "path": format_path(origin[1])} for xpub, origin in psbt.xpubs],
        "psbt_version": psbt.version,
        "proprietary": [],
        "unknown": {k.hex(): v.hex() for k, v in psbt.unknown.items()},
    }
    inputs = []
    total_in: int | None = 0
    for index, pin in enumerate(psbt.inputs):
        entry: dict[str, Any] = {}
        if pin.non_witness_utxo is not None:
            entry["non_witness_utxo"] = tx_to_json(pin.non_witness_utxo, fmt)
        if pin.witness_utxo is not None:
            entry["witness_utxo"] = _utxo_json(pin.witness_utxo, fmt)
        spent = psbt.spent_output(index)
        if spent is None or total_in is None:
            total_in = None
        else:
            total_in += spent.value
        if pin.partial_sigs:
            entry["partial_signatures"] = {k.hex(): v.hex() for k, v in pin.partial_sigs.items()}
        if pin.sighash_type is not None:
            entry["sighash"] = sighash_name(pin.sighash_type)
        if pin.redeem_script is not None:
            entry["redeem_script"] = _script_json(pin.redeem_script, fmt)
        if pin.witness_script is not None:
            entry["witness_script"] = _script_json(pin.witness_script, fmt)
        if pin.bip32_derivs:
            entry["bip32_derivs"] = _derivs(pin.bip32_derivs)
        if pin.final_script_sig is not None:
            entry["final_scriptSig"] = {"asm": to_asm(pin.final_script_sig, True),
                                        "hex": pin.final_script_sig.hex()}
        if pin.final_script_witness is not None:
            entry["final_scriptwitness"] = [item.hex() for item in pin.final_script_witness]
        if pin.unknown:
            entry["unknown"] = {k.hex(): v.hex() for k, v in pin.unknown.items()}
        inputs.append(entry)
    result["inputs"] = inputs
    outputs = []
    for pout in psbt.outputs:
        entry = {}
        if pout.redeem_script is not None:
            entry["redeem_script"] = _script_json(pout.redeem_script, fmt)
        if pout.witness_script is not None:
            entry["witness_script"] = _script_json(pout.witness_script, fmt)
        if pout.bip32_derivs:
            entry["bip32_derivs"] = _derivs(pout.bip32_derivs)
        if pout.unknown:
            entry["unknown"] = {k.hex(): v.hex() for k, v in pout.unknown.items()}
        outputs.append(entry)
    result["outputs"] = outputs
    if total_in is not None:
        result["fee"] = amount_to_coins(total_in - psbt.tx.total_output_value())
    return result
