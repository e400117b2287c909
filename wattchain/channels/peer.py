"""One channel peer over an aiohttp WebSocket: handshake, framing, dispatch.

The transport is the P2P layer's :class:`~wattchain.p2p.connection.Connection` (one class for
inbound and outbound sockets, a bounded send queue drained by one writer task), so ``send`` is
synchronous and the channel code stays free of awaits between a state transition, its
persistence and the frames it sends — no other message can interleave. The first frame each
way is ``init`` with the node id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from wattchain.channels import messages as m
from wattchain.p2p.connection import Connection

log = logging.getLogger(__name__)

#: URL path of the channel WebSocket endpoint.
WS_PATH = "/channels"


class ChannelPeer:
    """A connected counterparty. ``node_id`` is known once its ``init`` arrived."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.node_id: bytes | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()

    def send(self, msg: m.Message) -> None:
        self.conn.send(msg.encode())

    def send_frame(self, frame: bytes) -> None:
        self.conn.send(frame)

    @property
    def is_closed(self) -> bool:
        return self.conn.closed


Handler = Callable[[ChannelPeer, m.Message], Awaitable[None]]


async def run_peer(peer: ChannelPeer, local_id: bytes, on_message: Handler,
                   on_ready: Callable[[ChannelPeer], Awaitable[None]],
                   on_closed: Callable[[ChannelPeer], Awaitable[None]]) -> None:
    """Drive one connection: send our init, read frames, dispatch, clean up on close."""
    peer.send(m.Init(local_id))

    async def on_frame(frame: bytes) -> bool:
        try:
            msg = m.decode(frame)
        except m.MessageDecodeError as exc:
            log.info("bad frame from peer: %s", exc)
            peer.send(m.Error(bytes(32), f"decode: {exc.reason}".encode()))
            return False
        if peer.node_id is None:
            if not isinstance(msg, m.Init):
                return False
            peer.node_id = msg.node_id
            peer.ready.set_result(msg.node_id)
            await on_ready(peer)
            return True
        await on_message(peer, msg)
        return True

    async def on_oversized() -> None:
        log.info("oversized frame from channel peer")

    try:
        await peer.conn.run(on_frame, on_oversized)
    finally:
        if not peer.ready.done():
            peer.ready.set_exception(ConnectionError("closed before init"))
            peer.ready.exception()  # mark retrieved
        if not peer.closed.done():
            peer.closed.set_result(None)
        await on_closed(peer)


async def connect_ws(host: str, port: int) -> Connection:
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(f"http://{host}:{port}{WS_PATH}",
                                      max_msg_size=m.MAX_MESSAGE_BYTES, heartbeat=None)
    except BaseException:
        await session.close()
        raise
    return Connection(ws, host=host, port=port, inbound=False, session=session)


async def accept_ws(request: web.Request) -> tuple[web.WebSocketResponse, Connection]:
    ws = web.WebSocketResponse(max_msg_size=m.MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    peername = request.transport.get_extra_info("peername") if request.transport else None
    host, port = (peername[0], peername[1]) if peername else ("?", 0)
    return ws, Connection(ws, host=host, port=port, inbound=True)
