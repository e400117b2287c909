"""Core's "util" category: validateaddress and estimatesmartfee.

estimatesmartfee is deliberately simple (wattchain keeps no fee-estimation history): it looks at
the mempool. Txs are ranked by fee rate, highest first, and the answer is the rate of the tx at
which ``conf_target`` blocks' worth of virtual size (``max_block_weight / 4`` each) is used up —
or, when the whole pool fits, the lowest pooled rate — never below the mempool's minimum fee.
With an empty mempool there is no data and the reply carries Core's
``errors: ["Insufficient data or no feerate found"]``.
"""

from __future__ import annotations

from typing import Any

from wattchain.node.policy import fee_rate
from wattchain.core.hashes import hash160
from wattchain.rpc.errors import RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RPCError
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param, as_int
from wattchain.rpc.txjson import amount_to_coins
from wattchain.script.address import AddressError, address_from_script, script_from_address
from wattchain.script.script import witness_program
from wattchain.script.standard import (TemplateError, TxOutType, is_compressed_pubkey,
                                       multisig, p2sh, p2wsh, pubkey_valid_size, solve)

#: Core's bounds for conf_target (MAX_BLOCK_CONFIRMS of the estimator).
MAX_CONF_TARGET = 1008
ESTIMATE_MODES = ("unset", "economical", "conservative")


async def createmultisig(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    """Core's createmultisig (no wallet needed): keys are hex public keys, in the given order.
    Default address type here is bech32 (P2WSH), wattchain's default; "p2sh-segwit" and
    "legacy" give P2SH(P2WSH) and P2SH as in Core."""
    fmt = ctx.node.params.address_format
    required = as_int(a["nrequired"])
    keys = a["keys"]
    kind = a["address_type"]
    if kind not in ("bech32", "p2sh-segwit", "legacy"):
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, f"Unknown address type '{kind}'")
    pubkeys = []
    for key in keys:
        if not isinstance(key, str):
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid public key: {key}")
        try:
            pubkey = bytes.fromhex(key)
        except ValueError:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid public key: {key}") from None
        if not pubkey_valid_size(pubkey):
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, f"Invalid public key: {key}")
        if kind != "legacy" and not is_compressed_pubkey(pubkey):
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY,
                           "Compressed key required for segwit multisig")
        pubkeys.append(pubkey)
    if required < 1:
        raise RPCError(RPC_INVALID_PARAMETER,
                       "a multisignature address must require at least one key to redeem")
    if len(pubkeys) < required:
        raise RPCError(RPC_INVALID_PARAMETER,
                       f"not enough keys supplied (got {len(pubkeys)} keys, but need at least "
                       f"{required} to redeem)")
    if len(pubkeys) > 20:
        raise RPCError(RPC_INVALID_PARAMETER, "Number of keys involved in the multisignature "
                                              "address creation > 20")
    try:
        script = multisig(required, pubkeys)
    except TemplateError as exc:
        raise RPCError(RPC_INVALID_PARAMETER, str(exc)) from None
    if kind == "legacy":
        if len(script) > 520:
            raise RPCError(RPC_INVALID_PARAMETER, "redeemScript exceeds size limit: "
                                                  f"{len(script)} > 520")
        output = p2sh(hash160(script))
    else:
        output = p2wsh(script)
        if kind == "p2sh-segwit":
            output = p2sh(hash160(output))
    return {"address": address_from_script(output, fmt), "redeemScript": script.hex()}


async def validateaddress(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    address = a["address"]
    try:
        script = script_from_address(address, ctx.node.params.address_format)
    except AddressError as exc:
        return {"isvalid": False, "error_locations": [], "error": str(exc)}
    kind, _ = solve(script)
    result: dict[str, Any] = {"isvalid": True, "address": address, "scriptPubKey": script.hex(),
                              "isscript": kind is TxOutType.SCRIPTHASH}
    program = witness_program(script)
    result["iswitness"] = program is not None
    if program is not None:
        result["witness_version"] = program[0]
        result["witness_program"] = program[1].hex()
    return result


def estimate_fee_rate(pool: Any, conf_target: int, max_block_vsize: int) -> int | None:
    """The module docstring's estimate in base units per kvB (None: no data)."""
    rates = []
    for txid in pool.txids():
        entry = pool.get_entry(txid)
        if entry is not None:
            rates.append((fee_rate(entry.fee, entry.vsize), entry.vsize))
    if not rates:
        return None
    rates.sort(reverse=True)
    budget = conf_target * max_block_vsize
    used = 0
    chosen = rates[-1][0]
    for rate, vsize in rates:
        used += vsize
        if used > budget:
            chosen = rate
            break
    return max(chosen, pool.info().mempoolminfee)


async def estimatesmartfee(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    target = as_int(a["conf_target"])
    if not 1 <= target <= MAX_CONF_TARGET:
        raise RPCError(RPC_INVALID_PARAMETER,
                       f"Invalid conf_target, must be between 1 and {MAX_CONF_TARGET}")
    mode = str(a["estimate_mode"]).lower()
    if mode not in ESTIMATE_MODES:
        raise RPCError(RPC_INVALID_PARAMETER, "Invalid estimate_mode parameter, must be one of: "
                                              '"unset", "economical", "conservative"')
    node = ctx.node
    pool = node.mempool
    rate = None
    if pool is not None:
        rate = await node.call(estimate_fee_rate, pool, target,
                               node.params.max_block_weight // 4)
    if rate is None:
        return {"errors": ["Insufficient data or no feerate found"], "blocks": target}
    return {"feerate": amount_to_coins(rate), "blocks": target}


METHODS = (
    RpcMethod("createmultisig", "util", createmultisig,
              (Param("nrequired", ArgType.NUM, description="required signatures"),
               Param("keys", ArgType.ARR, description="hex-encoded public keys"),
               Param("address_type", ArgType.STR, False, "bech32",
                     "bech32 (P2WSH), p2sh-segwit or legacy")),
              "Creates a multi-signature address with n signatures of m keys required; "
              "returns the address and the (witness) script."),
    RpcMethod("estimatesmartfee", "util", estimatesmartfee,
              (Param("conf_target", ArgType.NUM, description="confirmation target in blocks"),
               Param("estimate_mode", ArgType.STR, False, "conservative",
                     "unset, economical or conservative (all treated alike)")),
              "Estimates the fee rate (coins/kvB) for confirmation within conf_target blocks, "
              "from the mempool (see the module docs)."),
    RpcMethod("validateaddress", "util", validateaddress,
              (Param("address", ArgType.STR, description="the address to validate"),),
              "Return information about the given address."),
)
