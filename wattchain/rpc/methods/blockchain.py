"""Core's "blockchain" category: chain tip, blocks, headers, chain tips, UTXO queries.

Every handler reads the chainstate on the node's chainstate thread (``node.call``), and turns
lookups that fail into Core's errors (-5 "Block not found", -8 "Block height out of range").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wattchain.core.tx import OutPoint, txid_to_hex
from wattchain.node.schema import BlockStatus
from wattchain.rpc.blockjson import block_to_json, chainwork_hex, difficulty, header_to_json
from wattchain.rpc.errors import RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RPCError
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param, as_int, parse_hash
from wattchain.rpc.txjson import amount_to_coins, script_pubkey_to_json

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.block_index import BlockIndexEntry
    from wattchain.node.services import NodeServices


def lookup_entry(node: "NodeServices", block_hash: bytes) -> "BlockIndexEntry":
    entry = node.chainstate.index.get(block_hash)
    if entry is None:
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    return entry


def verbosity_level(value: Any, default: int) -> int:
    """Core accepts a bool for verbosity (false -> 0, true -> 1)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    return as_int(value)


# ------------------------------------------------------------------ handlers
async def getblockcount(ctx: RpcContext, a: dict[str, Any]) -> int:
    return await ctx.node.call(lambda: ctx.node.chainstate.tip.height)


async def getbestblockhash(ctx: RpcContext, a: dict[str, Any]) -> str:
    return await ctx.node.call(lambda: ctx.node.chainstate.tip.hash_hex)


async def getblockhash(ctx: RpcContext, a: dict[str, Any]) -> str:
    height = as_int(a["height"])

    def run() -> str:
        entry = ctx.node.chainstate.chain.at(height)
        if entry is None:
            raise RPCError(RPC_INVALID_PARAMETER, "Block height out of range")
        return txid_to_hex(entry.hash)
    return await ctx.node.call(run)


async def getdifficulty(ctx: RpcContext, a: dict[str, Any]) -> float:
    return await ctx.node.call(lambda: difficulty(ctx.node.chainstate.tip_entry.header.bits))


async def getblockchaininfo(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = ctx.node

    def run() -> dict[str, Any]:
        cs = node.chainstate
        tip = cs.tip_entry
        headers = max((e.height for e in cs.index.entries() if not e.is_failed()),
                      default=tip.height)
        return {
            "chain": node.params.name,
            "blocks": tip.height,
            "headers": headers,
            "bestblockhash": txid_to_hex(tip.hash),
            "difficulty": difficulty(tip.header.bits),
            "time": tip.header.time,
            "mediantime": tip.median_time_past(),
            "verificationprogress": 1.0 if headers <= tip.height
            else round(tip.height / headers, 8),
            "initialblockdownload": headers > tip.height,
            "chainwork": chainwork_hex(tip.chain_work),
            "size_on_disk": _size_on_disk(node),
            "pruned": False,
            "warnings": "",
        }
    return await node.call(run)


def _size_on_disk(node: "NodeServices") -> int:
    """Bytes of the chainstate database directory (blocks, index, coins, undo)."""
    return sum(f.stat().st_size for f in node.chainstate.store.path.rglob("*") if f.is_file())


async def getblock(ctx: RpcContext, a: dict[str, Any]) -> Any:
    block_hash = parse_hash(a["blockhash"], "blockhash")
    verbosity = verbosity_level(a["verbosity"], 1)
    node = ctx.node

    def run() -> Any:
        cs = node.chainstate
        entry = lookup_entry(node, block_hash)
        block = cs.get_block(block_hash)
        if block is None:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block not available (pruned data)")
        if verbosity <= 0:
            return block.serialize().hex()
        return block_to_json(block, entry, cs.chain, node.params, verbosity)
    return await node.call(run)


async def getblockheader(ctx: RpcContext, a: dict[str, Any]) -> Any:
    block_hash = parse_hash(a["blockhash"], "hash")
    verbose = a["verbose"]
    node = ctx.node

    def run() -> Any:
        entry = lookup_entry(node, block_hash)
        if not verbose:
            return entry.header.serialize().hex()
        return header_to_json(entry, node.chainstate.chain)
    return await node.call(run)


async def getchaintips(ctx: RpcContext, a: dict[str, Any]) -> list[dict[str, Any]]:
    node = ctx.node

    def run() -> list[dict[str, Any]]:
        cs = node.chainstate
        entries = list(cs.index.entries())
        parents = {id(e.parent) for e in entries if e.parent is not None}
        tips = [e for e in entries if id(e) not in parents]
        active = cs.tip_entry
        if all(t is not active for t in tips):
            tips.append(active)
        result = []
        for tip in sorted(tips, key=lambda e: (-e.height, e.hash[::-1])):
            fork = cs.chain.find_fork(tip)
            branchlen = tip.height - (fork.height if fork is not None else 0)
            result.append({"height": tip.height, "hash": txid_to_hex(tip.hash),
                           "branchlen": branchlen, "status": chain_tip_status(tip, cs)})
        return result
    return await node.call(run)


def chain_tip_status(tip: "BlockIndexEntry", cs: Any) -> str:
    """Core's statuses: active, invalid, headers-only, valid-headers, valid-fork."""
    if cs.chain.contains(tip):
        return "active"
    if tip.is_failed():
        return "invalid"
    if not tip.have_data():
        return "headers-only"
    if tip.status & BlockStatus.VALID_SCRIPTS:
        return "valid-fork"
    return "valid-headers"


async def gettxout(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any] | None:
    txid = parse_hash(a["txid"], "txid")
    n = as_int(a["n"])
    include_mempool = bool(a["include_mempool"])
    node = ctx.node
    if n < 0:
        raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")

    def run() -> dict[str, Any] | None:
        cs = node.chainstate
        outpoint = OutPoint(txid, n)
        pool = node.mempool
        tip = cs.tip_entry
        if include_mempool and pool is not None:
            if pool.spender_of(outpoint) is not None:
                return None
            pooled = pool.get(txid)
            if pooled is not None:
                if n >= len(pooled.outputs):
                    return None
                out = pooled.outputs[n]
                return _txout_json(node, tip, out, 0, False, False)
        coin = cs.get_coin(outpoint)
        if coin is None:
            return None
        return _txout_json(node, tip, coin.output, tip.height - coin.height + 1,
                           coin.is_coinbase, coin.is_coinstake)
    return await node.call(run)


def _txout_json(node: "NodeServices", tip: "BlockIndexEntry", out: Any, confirmations: int,
                coinbase: bool, coinstake: bool) -> dict[str, Any]:
    return {"bestblock": txid_to_hex(tip.hash), "confirmations": confirmations,
            "value": amount_to_coins(out.value),
            "scriptPubKey": script_pubkey_to_json(out.script_pubkey,
                                                  node.params.address_format),
            "coinbase": coinbase, "coinstake": coinstake}


async def gettxoutsetinfo(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    hash_type = a["hash_type"]
    if hash_type not in ("hash_serialized", "hash_serialized_3", "none"):
        raise RPCError(RPC_INVALID_PARAMETER, f"'{hash_type}' is not a valid hash_type")
    node = ctx.node

    def run() -> dict[str, Any]:
        cs = node.chainstate
        stats = cs.utxo_stats()
        tip = cs.tip_entry
        result: dict[str, Any] = {"height": tip.height, "bestblock": txid_to_hex(tip.hash),
                                  "txouts": stats.count}
        if hash_type != "none":
            result["hash_serialized"] = stats.hash_hex
        result["total_amount"] = amount_to_coins(stats.total_amount)
        result["disk_size"] = cs.utxo_disk_size()
        return result
    return await node.call(run)


_HASH = Param("blockhash", ArgType.STR_HEX, description="the block hash")

METHODS = (
    RpcMethod("getbestblockhash", "blockchain", getbestblockhash, (),
              "Returns the hash of the best (tip) block in the most-work fully-validated chain."),
    RpcMethod("getblock", "blockchain", getblock,
              (_HASH, Param("verbosity", ArgType.NUM_OR_BOOL, False, 1,
                            "0 for hex, 1 for a json object, 2 with transaction data")),
              "Returns a block: hex (0), json with txids (1), json with decoded txs (2). "
              "PoS fields as Qtum: proofofstake, prevoutstake, stakemodifier, "
              "blocksignature."),
    RpcMethod("getblockchaininfo", "blockchain", getblockchaininfo, (),
              "Returns an object containing various state info regarding blockchain "
              "processing."),
    RpcMethod("getblockcount", "blockchain", getblockcount, (),
              "Returns the height of the most-work fully-validated chain."),
    RpcMethod("getblockhash", "blockchain", getblockhash,
              (Param("height", ArgType.NUM, description="the height index"),),
              "Returns hash of block in best-block-chain at height provided."),
    RpcMethod("getblockheader", "blockchain", getblockheader,
              (Param("blockhash", ArgType.STR_HEX, description="the block hash"),
               Param("verbose", ArgType.BOOL, False, True,
                     "true for a json object, false for the hex-encoded data")),
              "If verbose is false, returns the serialized header (with its block "
              "signature); else a json object."),
    RpcMethod("getchaintips", "blockchain", getchaintips, (),
              "Return information about all known tips in the block tree."),
    RpcMethod("getdifficulty", "blockchain", getdifficulty, (),
              "Returns the proof-of-stake difficulty as a multiple of the minimum difficulty "
              "(Core's base, compact 0x1d00ffff)."),
    RpcMethod("gettxout", "blockchain", gettxout,
              (Param("txid", ArgType.STR_HEX, description="the transaction id"),
               Param("n", ArgType.NUM, description="vout number"),
               Param("include_mempool", ArgType.BOOL, False, True,
                     "whether to include the mempool")),
              "Returns details about an unspent transaction output (null if spent or "
              "unknown)."),
    RpcMethod("gettxoutsetinfo", "blockchain", gettxoutsetinfo,
              (Param("hash_type", ArgType.STR, False, "hash_serialized",
                     "'hash_serialized' (wattchain's UTXO-set hash) or 'none'"),),
              "Returns statistics about the unspent transaction output set (flushes the "
              "coins cache)."),
)
