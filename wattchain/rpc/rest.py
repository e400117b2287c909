"""Read-only REST interface on Bitcoin Core's paths (``-rest``), unauthenticated like Core's.

    GET /rest/block/<hash>.<bin|hex|json>            block (json: getblock verbosity 2)
    GET /rest/block/notxdetails/<hash>.<bin|hex|json> block (json: txids only)
    GET /rest/tx/<txid>.<bin|hex|json>                mempool transaction (no tx index)
    GET /rest/headers/<count>/<hash>.<bin|hex|json>   up to <count> headers from <hash> on
    GET /rest/headers/<hash>.<ext>?count=<n>          (Core's newer form of the same)
    GET /rest/blockhashbyheight/<height>.<bin|hex|json>
    GET /rest/chaininfo.json                          getblockchaininfo
    GET /rest/mempool/info.json                       getmempoolinfo
    GET /rest/mempool/contents.json                   getrawmempool verbose

Errors are plain text with Core's status codes: 400 for a malformed hash or count, 404 for
unknown objects and unknown formats. ``bin`` headers are wattchain's full PoS headers
(variable length: they end with the block signature), concatenated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from wattchain.core.tx import txid_to_hex
from wattchain.rpc import jsonenc
from wattchain.rpc.blockjson import block_to_json, header_to_json
from wattchain.rpc.errors import RPCError
from wattchain.rpc.methods import RpcContext, all_methods
from wattchain.rpc.methods.blockchain import getblockchaininfo
from wattchain.rpc.methods.mempool import entry_to_json, mempool_info
from wattchain.rpc.txjson import tx_to_json

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.services import NodeServices

FORMATS = ("bin", "hex", "json")
MAX_REST_HEADERS = 2000


class RestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise RestError(404, "output format not found (available: .bin, .hex, .json)")
    return fmt


def _hash(text: str) -> bytes:
    try:
        if len(text) != 64:
            raise ValueError
        return bytes.fromhex(text)[::-1]
    except ValueError:
        raise RestError(400, f"Invalid hash: {text}") from None


def _reply(fmt: str, raw: bytes | None, obj: Any) -> web.Response:
    if fmt == "bin":
        return web.Response(body=raw, content_type="application/octet-stream")
    if fmt == "hex":
        return web.Response(text=(raw or b"").hex() + "\n", content_type="text/plain")
    return web.Response(text=jsonenc.dumps(obj) + "\n", content_type="application/json")


class RestHandlers:
    """The REST endpoints of one node."""

    def __init__(self, node: "NodeServices") -> None:
        self.node = node
        self.context = RpcContext(node, all_methods())

    async def _guard(self, handler: Any, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RestError as exc:
            return web.Response(status=exc.status, text=exc.message + "\r\n",
                                content_type="text/plain")
        except RPCError as exc:
            return web.Response(status=500, text=exc.message + "\r\n", content_type="text/plain")

    def route(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            return await self._guard(handler, request)
        return wrapped

    async def block(self, request: web.Request) -> web.Response:
        fmt = _format(request.match_info["fmt"])
        block_hash = _hash(request.match_info["hash"])
        verbosity = 1 if request.path.startswith("/rest/block/notxdetails/") else 2
        node = self.node

        def run() -> web.Response:
            cs = node.chainstate
            entry = cs.index.get(block_hash)
            block = cs.get_block(block_hash) if entry is not None else None
            if entry is None or block is None:
                raise RestError(404, f"{txid_to_hex(block_hash)} not found")
            raw = block.serialize()
            obj = (block_to_json(block, entry, cs.chain, node.params, verbosity)
                   if fmt == "json" else None)
            return _reply(fmt, raw, obj)
        return await node.call(run)

    async def tx(self, request: web.Request) -> web.Response:
        fmt = _format(request.match_info["fmt"])
        txid = _hash(request.match_info["hash"])
        pool = self.node.mempool
        tx = await self.node.call(pool.get, txid) if pool is not None else None
        if tx is None:
            raise RestError(404, f"{txid_to_hex(txid)} not found")
        obj = dict(tx_to_json(tx, self.node.params.address_format), hex=tx.to_hex())
        return _reply(fmt, tx.serialize(), obj)

    async def headers(self, request: web.Request) -> web.Response:
        fmt = _format(request.match_info["fmt"])
        block_hash = _hash(request.match_info["hash"])
        count_text = request.match_info.get("count") or request.query.get("count", "5")
        if not count_text.isdigit() or not 1 <= int(count_text) <= MAX_REST_HEADERS:
            raise RestError(400, f"Header count is invalid or out of acceptable range "
                                 f"(1-{MAX_REST_HEADERS}): {count_text}")
        count = int(count_text)
        node = self.node

        def run() -> web.Response:
            cs = node.chainstate
            entry = cs.index.get(block_hash)
            entries = []
            while entry is not None and len(entries) < count:
                entries.append(entry)
                if not cs.chain.contains(entry):
                    break
                entry = cs.chain.at(entry.height + 1)
            raw = b"".join(e.header.serialize() for e in entries)
            obj = [header_to_json(e, cs.chain) for e in entries] if fmt == "json" else None
            return _reply(fmt, raw, obj)
        return await node.call(run)

    async def blockhash_by_height(self, request: web.Request) -> web.Response:
        fmt = _format(request.match_info["fmt"])
        text = request.match_info["height"]
        if not text.isdigit():
            raise RestError(400, f"Invalid height: {text}")
        height = int(text)
        entry = await self.node.call(self.node.chainstate.chain.at, height)
        if entry is None:
            raise RestError(404, "Block height out of range")
        return _reply(fmt, entry.hash, {"blockhash": txid_to_hex(entry.hash)})

    async def chaininfo(self, request: web.Request) -> web.Response:
        return _reply("json", None, await getblockchaininfo(self.context, {}))

    async def mempool(self, request: web.Request) -> web.Response:
        pool = self.node.mempool
        if pool is None:
            raise RestError(404, "Mempool disabled")
        what = request.match_info["what"]
        if what == "info":
            return _reply("json", None, await self.node.call(mempool_info, pool))

        def contents() -> dict[str, Any]:
            result = {}
            for txid in pool.txids():
                entry = pool.get_entry(txid)
                if entry is not None:
                    result[txid_to_hex(txid)] = entry_to_json(pool, entry)
            return result
        return _reply("json", None, await self.node.call(contents))


def add_rest_routes(app: web.Application, node: "NodeServices") -> None:
    rest = RestHandlers(node)
    hash_fmt = "{hash:[^/.]+}.{fmt:[a-z]+}"
    app.router.add_get(f"/rest/block/notxdetails/{hash_fmt}", rest.route(rest.block))
    app.router.add_get(f"/rest/block/{hash_fmt}", rest.route(rest.block))
    app.router.add_get(f"/rest/tx/{hash_fmt}", rest.route(rest.tx))
    app.router.add_get("/rest/headers/{count:[^/]+}/" + hash_fmt, rest.route(rest.headers))
    app.router.add_get(f"/rest/headers/{hash_fmt}", rest.route(rest.headers))
    app.router.add_get("/rest/blockhashbyheight/{height:[^/.]+}.{fmt:[a-z]+}",
                       rest.route(rest.blockhash_by_height))
    app.router.add_get("/rest/chaininfo.json", rest.route(rest.chaininfo))
    app.router.add_get("/rest/mempool/{what:info|contents}.json", rest.route(rest.mempool))
