"""The P2P node: an aiohttp server plus outbound dialling, tying peers to one chainstate and
one mempool.

Threading model: the chainstate and the mempool are not thread-safe, so every call into them
runs on ONE single-thread executor owned by this node (:meth:`P2PNode.run`). That serializes
them and keeps validation off the event loop. Chain events (connected blocks, tip changes)
arrive on that thread and are handed to the loop with ``call_soon_threadsafe``.

Public API (issue 7's daemon/RPC calls these): ``start``/``stop``, ``connect``/``disconnect``,
``submit_transaction``, ``submit_block``, ``peer_info``, ``connection_count``, ``ban``/
``is_banned``, and awaitables for tests (``wait_for_tip``, ``wait_for_tx``, ``wait_until``,
``wait_for_block``: the block passed its precheck and was relayed, or connected).

What the messages do lives in :mod:`.handlers`; this module owns connections and lifecycle.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from wattchain.consensus.params import ChainParams
from wattchain.core.header import StakeBlock
from wattchain.core.tx import Transaction
from wattchain.node.activation import ProcessResult
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import AcceptResult, Mempool
from wattchain.p2p.addrbook import FILE_NAME, AddressBook
from wattchain.p2p.connection import Connection
from wattchain.p2p.handlers import MessageHandler
from wattchain.p2p.messages import (INV_BLOCK, INV_TX, MAX_INV, Addr, Headers, Inv, encode,
                                    max_frame_size)
from wattchain.p2p.peer import Peer
from wattchain.p2p.peers import DEFAULT_BAN_SECONDS
from wattchain.p2p.protocol import (Close, Deliver, LocalInfo, Misbehaved, PeerProtocol,
                                    PongReceived, Ready)
from wattchain.p2p.sync import DEFAULT_HEADER_SHARE, ChainSync, DownloadTracker

log = logging.getLogger(__name__)
T = TypeVar("T")

#: URL path of the peer WebSocket endpoint.
P2P_PATH = "/p2p"
#: Seconds between maintenance ticks (pings, timeouts, dialling).
TICK_SECONDS = 1.0
PING_INTERVAL = 30.0
PING_TIMEOUT = 120.0
HANDSHAKE_TIMEOUT = 10.0
#: Blocks announced by headers at most; a longer run is announced by the tip alone and the
#: peer asks for the rest with getheaders.
MAX_ANNOUNCE_HEADERS = 8


class P2PError(Exception):
    """A p2p operation failed (refused, banned, or the handshake did not complete)."""


class _ChainListener:
    """Receives chain events on the chainstate thread and forwards them to the loop."""

    def __init__(self, node: "P2PNode") -> None:
        self.node = node
        self._connected: list[tuple[bytes, Any]] = []
        self._reorg = False

    def block_connected(self, block: StakeBlock, entry: Any) -> None:
        self._connected.append((block.hash, block.header))

    def block_disconnected(self, block: StakeBlock, entry: Any) -> None:
        self._reorg = True

    def tip_changed(self, tip: Any) -> None:
        connected, self._connected = self._connected, []
        reorg, self._reorg = self._reorg, False
        loop = self.node.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.node._on_tip_changed, tip.hash, tip.height,
                                      connected, reorg)


class P2PNode:
    """One node's peer-to-peer layer (see the module docstring)."""

    def __init__(self, chainstate: Chainstate, mempool: Mempool, params: ChainParams, *,
                 host: str = "127.0.0.1", port: int = 0, datadir: str | Path | None = None,
                 clock: Callable[[], float] = time.time, max_outbound: int = 8,
                 max_inbound: int = 32, discover: bool = True, block_timeout: float = 10.0,
                 ban_seconds: float = DEFAULT_BAN_SECONDS, tick_seconds: float = TICK_SECONDS,
                 ping_interval: float = PING_INTERVAL,
                 rng: random.Random | None = None,
                 handshake_timeout: float = HANDSHAKE_TIMEOUT,
                 side_block_budget: int | None = None,
                 header_share: int = DEFAULT_HEADER_SHARE) -> None:
        """``handshake_timeout``: seconds a socket may take to complete version/verack (a
        silent one must not hold a slot). ``side_block_budget``: side-chain blocks a peer may
        make us store since its last tip-making block (default: twice the reorg window plus
        16, generous since a real reorg needs at most the window). ``header_share``: headers
        one peer may hold in the header tree before we stop asking it for more."""
        self.chainstate = chainstate
        self.mempool = mempool
        self.params = params
        self.host = host
        self.port = port
        self.clock = clock
        self.max_outbound = max_outbound
        self.max_inbound = max_inbound
        self.discover = discover
        self.ban_seconds = ban_seconds
        self.tick_seconds = tick_seconds
        self.ping_interval = ping_interval
        self.handshake_timeout = handshake_timeout
        self.side_block_budget = (2 * params.max_reorg_depth + 16 if side_block_budget is None
                                  else side_block_budget)
        self.rng = rng or random.Random()
        self.nonce = self.rng.getrandbits(64)
        self.max_frame = max_frame_size(params)
        self.addrbook = AddressBook(Path(datadir) / FILE_NAME if datadir else None, self.rng)
        self.sync = ChainSync(chainstate, clock, header_share=header_share)
        self.downloads = DownloadTracker(timeout=block_timeout)
        self.handler = MessageHandler(self)
        self.peers: dict[int, Peer] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="chainstate")
        self._ids = itertools.count(1)
        self._listener = _ChainListener(self)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._manual: set[tuple[str, int]] = set()
        self._dialling: set[tuple[str, int]] = set()
        self._changed: asyncio.Condition | None = None
        self._tip_hash = b""
        self._tip_height = 0
        self._mempool_version = 0
        self._stopping = False
        #: Maintenance ticks done (tests await a number of ticks instead of sleeping).
        self.ticks = 0
        #: host -> the misbehaviour reasons that got it banned (this run; for listbanned/logs).
        self.ban_reasons: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ plumbing
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the chainstate thread."""
        assert self.loop is not None
        return await self.loop.run_in_executor(self._executor, fn, *args)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def notify(self) -> None:
        """Wake every waiter of :meth:`wait_until` (state changed)."""
        if self._changed is not None and not self._stopping:
            self.spawn(self._notify())

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._changed = asyncio.Condition()
        tip = await self.run(lambda: self.chainstate.tip)
        self._tip_hash, self._tip_height = tip.hash, tip.height
        await self.run(self.chainstate.subscribe, self._listener)
        app = web.Application()
        app.router.add_get(P2P_PATH, self._accept)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self.spawn(self._maintain())

    async def stop(self) -> None:
        self._stopping = True
        for peer in list(self.peers.values()):
            await peer.conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        await self.run(self.chainstate.events.unsubscribe, self._listener)
        self._executor.shutdown(wait=True)
        self.addrbook.save()

    # ------------------------------------------------------------------ connections
    def _local_info(self) -> LocalInfo:
        return LocalInfo(self.nonce, self._tip_height, self.port)

    def inbound_count(self) -> int:
        return sum(1 for p in self.peers.values() if not p.outbound)

    def outbound_count(self) -> int:
        return sum(1 for p in self.peers.values() if p.outbound)

    def connection_count(self) -> int:
        """Peers that completed the handshake."""
        return sum(1 for p in self.peers.values() if p.is_ready)

    def is_banned(self, host: str) -> bool:
        return self.addrbook.bans.is_banned(host, self.clock())

    def ban(self, host: str, seconds: float | None = None) -> None:
        """Ban ``host`` (Core's setban) and drop its connections."""
        self.addrbook.bans.ban(host, self.clock() + (self.ban_seconds if seconds is None
                                                     else seconds))
        self.addrbook.save()
        for peer in list(self.peers.values()):
            if peer.host == host:
                self.spawn(peer.conn.close())
        self.notify()

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        host = request.remote or "?"
        if self.is_banned(host):
            raise web.HTTPForbidden(text="banned")
        if self.inbound_count() >= self.max_inbound or self._stopping:
            raise web.HTTPServiceUnavailable(text="inbound slots full")
        ws = web.WebSocketResponse(max_msg_size=self.max_frame, autoping=True, heartbeat=None)
        await ws.prepare(request)
        peername = request.transport.get_extra_info("peername") if request.transport else None
        port = peername[1] if peername else 0
        conn = Connection(ws, host=host, port=port, inbound=True)
        await self._run_peer(conn, outbound=False)
        return ws

    async def connect(self, host: str, port: int, *, persistent: bool = True) -> int:
        """Dial a peer and complete the handshake; returns the peer id. ``persistent`` peers
        are redialled with backoff when the connection drops (Core's addnode)."""
        if self.is_banned(host):
            raise P2PError(f"{host} is banned")
        if persistent:
            self._manual.add((host, port))
        self.addrbook.add(host, port, self.clock())
        return await self._dial(host, port)

    async def disconnect(self, host: str, port: int) -> None:
        """Drop connections to that listen address and stop redialling it."""
        self._manual.discard((host, port))
        for peer in list(self.peers.values()):
            if peer.listen_addr() == (host, port):
                await peer.conn.close()

    async def _dial(self, host: str, port: int) -> int:
        key = (host, port)
        info = self.addrbook.get(host, port)
        self._dialling.add(key)
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(f"http://{host}:{port}{P2P_PATH}",
                                          max_msg_size=self.max_frame, autoping=True,
                                          timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            await session.close()
            self._dialling.discard(key)
            if info is not None:
                info.backoff.failed(asyncio.get_running_loop().time())
            raise P2PError(f"cannot connect to {host}:{port}: {exc}") from exc
        conn = Connection(ws, host=host, port=port, inbound=False, session=session)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.spawn(self._run_peer(conn, outbound=True, dial_addr=key, ready=ready))
        try:
            peer_id = await asyncio.wait_for(asyncio.shield(ready), self.handshake_timeout)
        except (asyncio.TimeoutError, P2PError) as exc:
            # A refused handshake (wrong network, ourselves) backs off like a failed dial.
            if info is not None:
                info.backoff.failed(asyncio.get_running_loop().time())
            await conn.close()
            if isinstance(exc, P2PError):
                raise
            raise P2PError(f"handshake with {host}:{port} timed out") from None
        finally:
            self._dialling.discard(key)
        if info is not None:
            info.backoff.succeeded()
        return peer_id  # type: ignore[return-value]

    async def _run_peer(self, conn: Connection, *, outbound: bool,
                        dial_addr: tuple[str, int] | None = None,
                        ready: asyncio.Future[Any] | None = None) -> None:
        peer_id = next(self._ids)
        holder: list[Peer] = []
        proto = PeerProtocol(self.params, self._local_info(), inbound=not outbound,
                             send=lambda msg: holder[0].conn.send(encode(msg)),
                             clock=asyncio.get_running_loop().time, max_frame=self.max_frame)
        opened = asyncio.get_running_loop().time()
        peer = Peer(peer_id, conn, proto, self.clock(), outbound, dial_addr, ready=ready,
                    last_ping=opened, opened=opened)
        holder.append(peer)
        self.peers[peer_id] = peer
        try:
            proto.start()
            await conn.run(lambda frame: self._on_frame(peer, frame),
                           lambda: self._on_oversized(peer))
        finally:
            del self.peers[peer_id]
            if ready is not None and not ready.done():
                ready.set_exception(P2PError(f"connection to {conn.host}:{conn.port} closed "
                                             f"before the handshake"))
                ready.exception()  # mark retrieved; the dialler re-raises its own error
            lost = self.downloads.drop_peer(peer_id)
            if not self._stopping:
                self.spawn(self._forget_peer_headers(peer_id))
                if lost:
                    self.spawn(self.handler.schedule_downloads())
            self.notify()

    async def _forget_peer_headers(self, peer_id: int) -> None:
        """Drop a departed peer's unbacked headers; re-learn any that others also have."""
        if await self.run(self.sync.drop_peer, peer_id):
            for peer in list(self.peers.values()):
                if peer.is_ready:
                    await self.handler.send_getheaders(peer)

    async def _on_oversized(self, peer: Peer) -> None:
        self.misbehave(peer, 100, "oversized frame")

    async def _on_frame(self, peer: Peer, frame: bytes) -> bool:
        now = asyncio.get_running_loop().time()
        if not peer.messages.take(now):
            self.misbehave(peer, 5, "message rate limit exceeded")
            return not peer.conn.closed
        for event in peer.proto.frame_received(frame):
            if isinstance(event, Ready):
                await self._on_ready(peer, event)
            elif isinstance(event, Deliver):
                await self.handler.handle(peer, event.message)
            elif isinstance(event, Misbehaved):
                self.misbehave(peer, event.points, event.reason)
            elif isinstance(event, PongReceived):
                self.notify()
            elif isinstance(event, Close):
                log.info("closing peer %d (%s): %s", peer.id, peer.host, event.reason)
                return False
            if peer.conn.closed:
                return False
        return True

    async def _on_ready(self, peer: Peer, event: Ready) -> None:
        peer.best_height = event.version.best_height
        addr = peer.listen_addr()
        if addr is not None and self.addrbook.add(addr[0], addr[1], self.clock()) \
                and not peer.outbound:
            # A new inbound peer's listen address is news for our other peers.
            others = [p for p in self.peers.values() if p is not peer and p.is_ready]
            for other in self.rng.sample(others, min(2, len(others))):
                other.send(Addr((addr,)))
        await self.handler.on_ready(peer)
        if peer.ready is not None and not peer.ready.done():
            peer.ready.set_result(peer.id)
        self.notify()

    def misbehave(self, peer: Peer, points: int, reason: str) -> None:
        """Score a peer; at the threshold ban its host and disconnect it."""
        log.info("peer %d (%s) misbehaved: %s (+%d)", peer.id, peer.host, reason, points)
        if peer.misbehaviour.add(points, reason):
            log.warning("banning %s: %s", peer.host, "; ".join(peer.misbehaviour.reasons))
            if len(self.ban_reasons) < 1000:
                self.ban_reasons[peer.host] = list(peer.misbehaviour.reasons)
            self.ban(peer.host)

    # ------------------------------------------------------------------ maintenance
    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the maintenance loop must survive
                log.exception("p2p maintenance failed")
            self.ticks += 1
            self.notify()

    async def _tick(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if self.downloads.expired(loop_now):
            await self.handler.schedule_downloads()
        for peer in list(self.peers.values()):
            if not peer.is_ready:
                if loop_now - peer.opened > self.handshake_timeout:
                    await peer.conn.close()   # a silent socket must not hold a slot
                continue
            since = peer.proto.ping_outstanding_since
            if since is not None and loop_now - since > PING_TIMEOUT:
                await peer.conn.close()
            elif since is None and loop_now - peer.last_ping > self.ping_interval:
                peer.last_ping = loop_now
                peer.proto.send_ping()
        connected = {p.listen_addr() for p in self.peers.values()} | self._dialling
        for key in list(self._manual - connected):
            info = self.addrbook.get(*key)
            if info is None or info.backoff.ready(loop_now) and not self.is_banned(key[0]):
                self.spawn(self._try_dial(*key))
        free = self.max_outbound - self._outbound_in_use()
        if self.discover and free > 0:
            own = {(self.host, self.port)}
            for info in self.addrbook.candidates(loop_now, self.clock(),
                                                 connected | own)[:min(2, free)]:
                self.spawn(self._try_dial(info.host, info.port))

    def _outbound_in_use(self) -> int:
        """Outbound connections plus dials still opening their socket (those are not peers
        yet): counting only peers would let one tick start more dials than slots are free."""
        dialled = {p.dial_addr for p in self.peers.values() if p.outbound}
        return self.outbound_count() + sum(1 for key in self._dialling if key not in dialled)

    async def _try_dial(self, host: str, port: int) -> None:
        try:
            await self._dial(host, port)
        except P2PError as exc:
            log.info("dial failed: %s", exc)

    # ------------------------------------------------------------------ chain events
    def _on_tip_changed(self, tip_hash: bytes, height: int,
                        connected: list[tuple[bytes, Any]], reorg: bool) -> None:
        self._tip_hash, self._tip_height = tip_hash, height
        self.handler.relay.connected([h for h, _ in connected])
        self._mempool_version += 1
        self.announce_blocks(connected)
        if reorg and not self._stopping:
            self.spawn(self.handler.announce_mempool())
        self.notify()

    def announce_blocks(self, connected: list[tuple[bytes, Any]]) -> None:
        """sendheaders-style announcement of newly connected blocks to peers lacking them."""
        if not connected:
            return
        recent = connected[-MAX_ANNOUNCE_HEADERS:]
        for peer in self.peers.values():
            if not peer.is_ready:
                continue
            fresh = [(h, hdr) for h, hdr in recent if h not in peer.known_blocks]
            if not fresh:
                continue
            for h, _ in fresh:
                peer.known_blocks.add(h)
            if peer.proto.wants_headers:
                peer.send(Headers(tuple(hdr for _, hdr in fresh)))
            else:
                peer.send(Inv(tuple((INV_BLOCK, h) for h, _ in fresh)))

    def announce_txs(self, txids: list[bytes], source: Peer | None = None) -> None:
        for peer in list(self.peers.values()):
            if peer is not source:
                self.announce_txs_to(peer, txids)

    def announce_txs_to(self, peer: Peer, txids: list[bytes]) -> None:
        """inv the txids ``peer`` does not know yet (in messages of at most MAX_INV)."""
        if not peer.is_ready:
            return
        fresh = [t for t in txids if t not in peer.known_txs]
        for t in fresh:
            peer.known_txs.add(t)
        for start in range(0, len(fresh), MAX_INV):
            peer.send(Inv(tuple((INV_TX, t) for t in fresh[start:start + MAX_INV])))

    def mark_mempool_changed(self) -> None:
        self._mempool_version += 1
        self.notify()

    # ------------------------------------------------------------------ public API
    async def submit_transaction(self, tx: Transaction) -> AcceptResult:
        """Accept ``tx`` into the mempool and relay it (raises MempoolRejectError)."""
        result = await self.run(self.mempool.accept, tx)
        if result.accepted:
            self.announce_txs([tx.txid] + [t.txid for t in result.resolved])
        self.mark_mempool_changed()
        return result

    async def submit_block(self, block: StakeBlock) -> ProcessResult:
        """Process a locally made block. Once its header, stake and signature pass it is
        pushed to peers (early relay, :mod:`.relay`), before its full validation here."""
        if not self.handler.relay.is_known(block.hash):
            rejected = await self.handler.relay.precheck_and_push(block.header, None,
                                                                  block=block)
            if rejected is not None and rejected.reason != "prev-blk-not-found":
                return rejected   # process_block would refuse it for the same reason
        received = await self.run(self.sync.receive, block, 0)
        for outcome in received.outcomes:
            if outcome.block_hash == block.hash:
                return outcome.result
        return ProcessResult.reject(block.hash, "prev-blk-not-found", "parent unknown")

    def peer_info(self) -> list[dict[str, object]]:
        return [p.info() for p in sorted(self.peers.values(), key=lambda p: p.id)]

    @property
    def tip_hash(self) -> bytes:
        return self._tip_hash

    @property
    def tip_height(self) -> int:
        return self._tip_height

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait (without polling) until ``predicate()`` holds; it is re-checked after every
        tip change, mempool change, connection change and ban."""
        assert self._changed is not None
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def wait_for_tip(self, block_hash: bytes) -> None:
        await self.wait_until(lambda: self._tip_hash == block_hash)

    async def wait_for_block(self, block_hash: bytes) -> None:
        """Until the block passed the precheck (and was relayed) or connected here."""
        await self.wait_until(lambda: self.handler.relay.is_known(block_hash))

    async def wait_for_tx(self, txid: bytes) -> None:
        while True:
            version = self._mempool_version
            if await self.run(self.mempool.contains, txid):
                return
            await self.wait_until(lambda: self._mempool_version != version)

    async def wait_for_peers(self, n: int) -> None:
        await self.wait_until(lambda: self.connection_count() >= n)
