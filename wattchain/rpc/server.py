"""The JSON-RPC HTTP server (aiohttp), speaking JSON-RPC 1.0/2.0 the way Bitcoin Core does.

Protocol details reproduced from Core (httprpc.cpp, rpc/request.cpp) because clients rely on
them:

- HTTP Basic auth on every request (:mod:`.auth`); a failure is ``401`` with
  ``WWW-Authenticate: Basic realm="jsonrpc"`` and no body. Only POST is served (``405``).
- The body is limited (``max_body_bytes``, ``413`` beyond). Malformed JSON is -32700 "Parse
  error"; a body that is neither object nor array is -32700 "Top-level object parse error".
- A request without ``"jsonrpc"`` (or with ``"1.0"``) is legacy: the reply has ``result``,
  ``error`` and ``id``; errors use HTTP 500, except -32600 (400) and -32601 (404).
- ``"jsonrpc": "2.0"``: the reply has ``jsonrpc``, ``id`` and exactly one of ``result`` /
  ``error``, always with HTTP 200; a request without ``id`` is a notification, answered 204.
- A batch (array) is answered with an array in order (notifications left out), HTTP 200.

Request parsing and dispatch (:class:`RpcDispatcher`) are free of HTTP so tests and the REST
layer can reuse them; :class:`RpcServer` is the aiohttp shell.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wattchain.rpc import jsonenc
from wattchain.rpc.auth import RpcAuth
from wattchain.rpc.errors import (RPC_IN_WARMUP, RPC_INTERNAL_ERROR, RPC_INVALID_REQUEST,
                                  RPC_METHOD_NOT_FOUND, RPC_PARSE_ERROR, RPCError)
from wattchain.rpc.methods import RpcContext, RpcMethod, all_methods
from wattchain.rpc.rest import add_rest_routes

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.services import NodeServices

log = logging.getLogger(__name__)

#: Core's HTTP body limit for RPC (MAX_SIZE, 32 MiB) — larger than any valid block's hex.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
#: Core waits this long before answering a failed login (slows password guessing).
DEFAULT_AUTH_FAILURE_DELAY = 0.25
#: Methods allowed while the node is warming up.
_WARMUP_ALLOWED = frozenset({"help", "stop", "uptime"})

_NO_ID = object()


@dataclass(frozen=True)
class Reply:
    """One request's reply object, or None for a notification; ``status`` for single replies."""

    body: dict[str, Any] | None
    status: int


class RpcDispatcher:
    """Parses JSON-RPC request objects and runs the methods (no HTTP here)."""

    def __init__(self, node: "NodeServices",
                 methods: Mapping[str, RpcMethod] | None = None) -> None:
        self.node = node
        self.methods = dict(all_methods() if methods is None else methods)
        self.context = RpcContext(node, self.methods)
        #: While set, methods other than help/stop/uptime answer -28 with this text.
        self.warmup: str | None = None

    async def handle_body(self, body: bytes) -> tuple[int, Any]:
        """A whole HTTP body -> (HTTP status, JSON reply or None for "no content")."""
        try:
            request = jsonenc.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return 500, _legacy_reply(None, RPCError(RPC_PARSE_ERROR, "Parse error"), None)
        if isinstance(request, dict):
            reply = await self.handle_one(request)
            if reply.body is None:
                return 204, None
            return reply.status, reply.body
        if isinstance(request, list):
            replies = [await self.handle_one(item) for item in request]
            return 200, [r.body for r in replies if r.body is not None]
        error = RPCError(RPC_PARSE_ERROR, "Top-level object parse error")
        return 500, _legacy_reply(None, error, None)

    async def handle_one(self, request: Any) -> Reply:
        """One request object -> its reply (Core's JSONRPCRequest::parse + JSONRPCExecOne)."""
        version2 = False
        request_id: Any = None
        try:
            if not isinstance(request, dict):
                raise RPCError(RPC_INVALID_REQUEST, "Invalid Request object")
            if "jsonrpc" in request and request["jsonrpc"] is not None:
                tag = request["jsonrpc"]
                if not isinstance(tag, str):
                    raise RPCError(RPC_INVALID_REQUEST, "jsonrpc field must be a string")
                if tag == "2.0":
                    version2 = True
                elif tag != "1.0":
                    raise RPCError(RPC_INVALID_REQUEST, "JSON-RPC version not supported")
            request_id = request.get("id", _NO_ID)
            method = request.get("method")
            if method is None:
                raise RPCError(RPC_INVALID_REQUEST, "Missing method")
            if not isinstance(method, str):
                raise RPCError(RPC_INVALID_REQUEST, "Method must be a string")
            params = request.get("params")
            if params is not None and not isinstance(params, (list, dict)):
                raise RPCError(RPC_INVALID_REQUEST, "Params must be an array or object")
            result = await self.execute(method, params)
        except RPCError as error:
            return self._error_reply(error, request_id, version2)
        if version2:
            if request_id is _NO_ID:
                return Reply(None, 204)
            return Reply({"jsonrpc": "2.0", "result": result, "id": request_id}, 200)
        return Reply(_legacy_reply(result, None, request_id), 200)

    def _error_reply(self, error: RPCError, request_id: Any, version2: bool) -> Reply:
        if version2:
            if request_id is _NO_ID:
                return Reply(None, 204)
            return Reply({"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}, 200)
        status = {RPC_INVALID_REQUEST: 400, RPC_METHOD_NOT_FOUND: 404}.get(error.code, 500)
        return Reply(_legacy_reply(None, error, request_id), status)

    async def execute(self, name: str, params: Any) -> Any:
        """Run method ``name`` with raw ``params``; every failure is an :class:`RPCError`."""
        method = self.methods.get(name)
        if method is None:
            raise RPCError(RPC_METHOD_NOT_FOUND, "Method not found")
        if self.warmup is not None and name not in _WARMUP_ALLOWED:
            raise RPCError(RPC_IN_WARMUP, self.warmup)
        try:
            return await method.invoke(self.context, params)
        except RPCError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected component failure
            log.exception("RPC %s failed", name)
            raise RPCError(RPC_INTERNAL_ERROR,
                           f"Internal error: {type(exc).__name__}: {exc}") from exc


def _legacy_reply(result: Any, error: RPCError | None, request_id: Any) -> dict[str, Any]:
    return {"result": result, "error": None if error is None else error.to_json(),
            "id": None if request_id is _NO_ID else request_id}


def json_response(status: int, payload: Any) -> web.Response:
    if payload is None:
        return web.Response(status=status)
    return web.Response(status=status, text=jsonenc.dumps(payload) + "\n",
                        content_type="application/json")


class RpcServer:
    """The HTTP listener: auth, size limit, JSON-RPC at ``/`` (and ``/wallet/<name>``), and the
    read-only REST interface under ``/rest/`` when ``rest`` is on (unauthenticated, as Core's)."""

    def __init__(self, node: "NodeServices", *, host: str = "127.0.0.1", port: int = 0,
                 datadir: str | Path | None = None, rpcuser: str | None = None,
                 rpcpassword: str | None = None, rest: bool = False,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 auth_failure_delay: float = DEFAULT_AUTH_FAILURE_DELAY,
                 methods: Mapping[str, RpcMethod] | None = None) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.datadir = datadir
        self.dispatcher = RpcDispatcher(node, methods)
        self.auth = RpcAuth.setup(datadir, rpcuser, rpcpassword)
        self.auth_failure_delay = auth_failure_delay
        self.app = web.Application(client_max_size=max_body_bytes)
        self.app.router.add_route("*", "/", self._handle_rpc)
        self.app.router.add_route("*", "/wallet/{name}", self._handle_rpc)
        if rest:
            add_rest_routes(self.app, node)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; ``self.port`` holds the bound port afterwards (0 picks a free one)."""
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            self.auth.cleanup()
            raise
        self._runner = runner
        if runner.addresses:
            self.port = runner.addresses[0][1]
        log.info("RPC server listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and delete the cookie file."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.auth.cleanup()

    async def _handle_rpc(self, request: web.Request) -> web.StreamResponse:
        if not self.auth.check(request.headers.get("Authorization")):
            log.warning("incorrect RPC password attempt from %s", request.remote)
            if self.auth_failure_delay:
                await asyncio.sleep(self.auth_failure_delay)
            return web.Response(status=401,
                                headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        if request.method != "POST":
            return web.Response(status=405, text="JSONRPC server handles only POST requests")
        body = await request.read()  # raises 413 beyond client_max_size
        status, payload = await self.dispatcher.handle_body(body)
        return json_response(status, payload)
