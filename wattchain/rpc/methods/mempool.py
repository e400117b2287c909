"""Core's mempool methods: getmempoolinfo, getrawmempool, getmempoolentry.

Fee rates are coins per kvB and fees coins, as in Core. ``getrawmempool``'s
``mempool_sequence`` option (Core's ZMQ sequence numbers) is not supported: asking for it is
-8.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wattchain.core.tx import txid_to_hex
from wattchain.node.policy import signals_rbf
from wattchain.rpc.errors import (RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RPCError,
                                  mempool_disabled)
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param, parse_hash
from wattchain.rpc.txjson import amount_to_coins

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.mempool import Mempool, MempoolEntry
    from wattchain.node.services import NodeServices


def _pool(node: "NodeServices") -> "Mempool":
    if node.mempool is None:
        raise mempool_disabled()
    return node.mempool


def mempool_info(pool: "Mempool") -> dict[str, Any]:
    info = pool.info()
    return {
        "loaded": True,
        "size": info.size,
        "bytes": info.bytes,
        "usage": info.usage,
        "total_fee": amount_to_coins(info.total_fee),
        "maxmempool": info.max,
        "mempoolminfee": amount_to_coins(info.mempoolminfee),
        "minrelaytxfee": amount_to_coins(info.minrelaytxfee),
        "incrementalrelayfee": amount_to_coins(pool.policy.incremental_relay_fee_rate),
        "unbroadcastcount": 0,
        "fullrbf": pool.policy.full_rbf,
    }


def entry_to_json(pool: "Mempool", entry: "MempoolEntry") -> dict[str, Any]:
    """Core's getmempoolentry object."""
    replaceable = pool.policy.full_rbf or _signals_rbf_with_ancestors(pool, entry)
    return {
        "vsize": entry.vsize,
        "weight": entry.weight,
        "time": entry.time,
        "height": entry.height,
        "descendantcount": entry.descendant_count,
        "descendantsize": entry.descendant_size,
        "ancestorcount": entry.ancestor_count,
        "ancestorsize": entry.ancestor_size,
        "wtxid": txid_to_hex(entry.wtxid),
        "fees": {"base": amount_to_coins(entry.fee), "modified": amount_to_coins(entry.fee),
                 "ancestor": amount_to_coins(entry.ancestor_fees),
                 "descendant": amount_to_coins(entry.descendant_fees)},
        "depends": sorted(txid_to_hex(t) for t in entry.parents),
        "spentby": sorted(txid_to_hex(t) for t in entry.children),
        "bip125-replaceable": replaceable,
        "unbroadcast": False,
    }


def _signals_rbf_with_ancestors(pool: "Mempool", entry: "MempoolEntry") -> bool:
    """BIP125: replaceable if it or any in-pool ancestor signals."""
    seen: set[bytes] = set()
    stack = [entry]
    while stack:
        current = stack.pop()
        if signals_rbf(current.tx):
            return True
        for parent in current.parents:
            if parent not in seen:
                seen.add(parent)
                parent_entry = pool.get_entry(parent)
                if parent_entry is not None:
                    stack.append(parent_entry)
    return False


async def getmempoolinfo(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    pool = _pool(ctx.node)
    return await ctx.node.call(mempool_info, pool)


async def getrawmempool(ctx: RpcContext, a: dict[str, Any]) -> Any:
    pool = _pool(ctx.node)
    if a["mempool_sequence"]:
        raise RPCError(RPC_INVALID_PARAMETER, "mempool_sequence is not supported")
    verbose = bool(a["verbose"])

    def run() -> Any:
        txids = pool.txids()
        if not verbose:
            return [txid_to_hex(t) for t in txids]
        result = {}
        for txid in txids:
            entry = pool.get_entry(txid)
            if entry is not None:
                result[txid_to_hex(txid)] = entry_to_json(pool, entry)
        return result
    return await ctx.node.call(run)


async def getmempoolentry(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    pool = _pool(ctx.node)
    txid = parse_hash(a["txid"], "txid")

    def run() -> dict[str, Any]:
        entry = pool.get_entry(txid)
        if entry is None:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
        return entry_to_json(pool, entry)
    return await ctx.node.call(run)


METHODS = (
    RpcMethod("getmempoolentry", "blockchain", getmempoolentry,
              (Param("txid", ArgType.STR_HEX, description="the transaction id"),),
              "Returns mempool data for the given transaction."),
    RpcMethod("getmempoolinfo", "blockchain", getmempoolinfo, (),
              "Returns details on the active state of the TX memory pool."),
    RpcMethod("getrawmempool", "blockchain", getrawmempool,
              (Param("verbose", ArgType.BOOL, False, False,
                     "true for a json object, false for an array of txids"),
               Param("mempool_sequence", ArgType.BOOL, False, False, "not supported")),
              "Returns all transaction ids in the memory pool, in arrival order."),
)
