"""Core's hidden test helpers ``waitfornewblock`` / ``waitforblockheight`` / ``waitforblock``:
a client (a test, a script driving a testnet) waits for the chain to move without polling.

They wait on the P2P node's change notifications (every tip change wakes them) and return
``{"hash", "height"}`` of the tip when the condition holds or when ``timeout`` milliseconds pass
(0 = no limit), as Core does. Without networking there is nothing that could move the tip
while the request waits except this node's own staker, so the current tip is returned at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param, as_int, parse_hash


async def _tip(ctx: RpcContext) -> dict[str, Any]:
    tip = await ctx.node.call(lambda: ctx.node.chainstate.tip)
    return {"hash": tip.hash_hex, "height": tip.height}


async def _wait(ctx: RpcContext, done: Callable[[], bool], timeout_ms: int) -> dict[str, Any]:
    p2p = ctx.node.p2p
    if p2p is not None and getattr(p2p, "loop", None) is not None and not done():
        waiter = p2p.wait_until(done)
        try:
            if timeout_ms > 0:
                await asyncio.wait_for(waiter, timeout_ms / 1000)
            else:
                await waiter
        except asyncio.TimeoutError:
            pass
    return await _tip(ctx)


def _tip_height(ctx: RpcContext) -> int:
    return int(getattr(ctx.node.p2p, "tip_height", -1))


async def waitfornewblock(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    start = getattr(ctx.node.p2p, "tip_hash", None)
    return await _wait(ctx, lambda: getattr(ctx.node.p2p, "tip_hash", None) != start,
                       as_int(a["timeout"]))


async def waitforblockheight(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    height = as_int(a["height"])
    return await _wait(ctx, lambda: _tip_height(ctx) >= height, as_int(a["timeout"]))


async def waitforblock(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    wanted = parse_hash(a["blockhash"], "blockhash")
    return await _wait(ctx, lambda: getattr(ctx.node.p2p, "tip_hash", None) == wanted,
                       as_int(a["timeout"]))


_TIMEOUT = Param("timeout", ArgType.NUM, False, 0, "milliseconds to wait (0: no limit)")
METHODS = (
    RpcMethod("waitfornewblock", "hidden", waitfornewblock, (_TIMEOUT,),
              "Waits for a new tip and returns it (or the current tip after the timeout)."),
    RpcMethod("waitforblockheight", "hidden", waitforblockheight,
              (Param("height", ArgType.NUM, description="block height to wait for"),
               _TIMEOUT),
              "Waits until the tip is at least at this height and returns the tip."),
    RpcMethod("waitforblock", "hidden", waitforblock,
              (Param("blockhash", ArgType.STR_HEX, description="block hash to wait for"),
               _TIMEOUT),
              "Waits until this block is the tip and returns the tip."),
)
