"""PSBT methods that need no wallet (Core's "rawtransactions" category): combinepsbt,
finalizepsbt, decodepsbt. They use :mod:`wattchain.wallet`'s BIP174 code; its errors carry
Core's codes (-22 for a malformed PSBT, -8 for PSBTs of different transactions)."""

from __future__ import annotations

from typing import Any

from wattchain.rpc.errors import RPC_INVALID_PARAMETER, RPCError
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.methods.wallet import wallet_call
from wattchain.rpc.params import ArgType, Param
from wattchain.wallet.psbt import Psbt
from wattchain.wallet.psbt_json import decode_psbt as psbt_to_json
from wattchain.wallet.spending import Spending


async def combinepsbt(ctx: RpcContext, a: dict[str, Any]) -> str:
    psbts = a["txs"]
    if not psbts or not all(isinstance(p, str) for p in psbts):
        raise RPCError(RPC_INVALID_PARAMETER, "Parameter 'txs' cannot be empty")
    return await wallet_call(ctx.node, Spending.combine_psbt, list(psbts))


async def finalizepsbt(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    return await wallet_call(ctx.node, Spending.finalize_psbt, a["psbt"], bool(a["extract"]))


async def decodepsbt(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    fmt = ctx.node.params.address_format

    def run() -> dict[str, Any]:
        return psbt_to_json(Psbt.from_base64(a["psbt"]), fmt)
    return await wallet_call(ctx.node, run)


METHODS = (
    RpcMethod("combinepsbt", "rawtransactions", combinepsbt,
              (Param("txs", ArgType.ARR, description="base64 PSBTs"),),
              "Combine multiple partially signed transactions into one transaction."),
    RpcMethod("decodepsbt", "rawtransactions", decodepsbt,
              (Param("psbt", ArgType.STR, description="the PSBT base64 string"),),
              "Return a JSON object representing the serialized, base64-encoded PSBT."),
    RpcMethod("finalizepsbt", "rawtransactions", finalizepsbt,
              (Param("psbt", ArgType.STR, description="a base64 PSBT"),
               Param("extract", ArgType.BOOL, False, True,
                     "return the network transaction hex if complete")),
              "Finalize the inputs of a PSBT; extract the transaction if complete."),
)
