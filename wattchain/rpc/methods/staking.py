"""Staking RPCs in Qtum's style: ``getstakinginfo`` and ``setstaking true|false``.

``getstakinginfo`` has Qtum's fields (weights in base units, as Qtum reports satoshis):
enabled, staking, errors, pooledtx, difficulty, search-interval, weight, netstakeweight,
expectedtime. Without a staker it reports ``enabled: false`` and zero weights. Qtum switches
staking with the ``-staking`` option only; ``setstaking`` (wattchain's name) does it at run time
and returns the new state; without a staker it is -4.
"""

from __future__ import annotations

from typing import Any

from wattchain.rpc.blockjson import difficulty
from wattchain.rpc.errors import RPC_WALLET_ERROR, RPCError
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param


async def getstakinginfo(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = ctx.node

    def run() -> dict[str, Any]:
        pooled = len(node.mempool) if node.mempool is not None else 0
        staker = node.staker
        if staker is None:
            return {"enabled": False, "staking": False, "errors": "", "pooledtx": pooled,
                    "difficulty": difficulty(node.chainstate.tip_entry.header.bits),
                    "search-interval": 0, "weight": 0, "netstakeweight": 0, "expectedtime": 0}
        info = staker.staking_info()
        return {"enabled": info.enabled, "staking": info.staking, "errors": "",
                "pooledtx": pooled, "difficulty": info.difficulty,
                "search-interval": info.search_interval, "weight": info.weight,
                "netstakeweight": info.netstakeweight, "expectedtime": info.expectedtime,
                "candidates": info.candidates, "blocksstaked": info.blocks_staked,
                "laststaketime": info.last_stake_time, "laststakeheight": info.last_stake_height}
    return await node.call(run)


async def setstaking(ctx: RpcContext, a: dict[str, Any]) -> bool:
    staker = ctx.node.staker
    if staker is None:
        raise RPCError(RPC_WALLET_ERROR, "Staking is not available (no staking wallet loaded)")
    enable = bool(a["enable"])
    await ctx.node.call(staker.enable if enable else staker.disable)
    return enable


METHODS = (
    RpcMethod("getstakinginfo", "staking", getstakinginfo, (),
              "Returns staking-related information (Qtum's fields)."),
    RpcMethod("setstaking", "staking", setstaking,
              (Param("enable", ArgType.BOOL, description="true to stake, false to stop"),),
              "Switch staking on or off at run time; returns the new state."),
)
