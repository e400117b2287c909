"""The transport: one :class:`Connection` class over an aiohttp WebSocket, either direction.

Inbound sockets come from the node's ``aiohttp.web`` route (``web.WebSocketResponse``),
outbound ones from ``ClientSession.ws_connect``; both expose ``send_bytes``/``receive``/``close``
so the rest of the code never knows which it has. aiohttp enforces ``max_msg_size`` while
reading, so an oversized frame is refused before it is buffered whole; it surfaces here as an
error frame and is reported as :class:`TransportOversized`.

Writes go through a bounded queue drained by one writer task, so the sans-I/O protocol can
"send" synchronously and a slow peer cannot grow our memory without bound (a full queue closes
the connection).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

#: Frames queued for one peer before we give up on it.
MAX_SEND_QUEUE = 4096


class TransportOversized(Exception):
    """The peer sent a frame over ``max_msg_size`` (aiohttp refused to read it)."""


class Connection:
    """A WebSocket to one peer with a send queue and a receive loop."""

    def __init__(self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, *,
                 host: str, port: int, inbound: bool,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.ws: Any = ws
        self.host = host
        self.port = port
        self.inbound = inbound
        self._session = session
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(MAX_SEND_QUEUE)
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        #: Frames queued but not yet handed to the socket, and an event set when none are.
        self._unsent = 0
        self._all_sent = asyncio.Event()
        self._all_sent.set()
        self.bytes_sent = 0
        self.bytes_received = 0

    def send(self, frame: bytes) -> None:
        """Queue a frame (non-blocking). A peer that lets MAX_SEND_QUEUE frames pile up is
        dropped rather than buffered forever."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(frame)
            self._unsent += 1
            self._all_sent.clear()
        except asyncio.QueueFull:
            log.info("send queue to %s:%d full; closing", self.host, self.port)
            self.closed = True
            asyncio.get_running_loop().create_task(self._close_ws())

    async def _write_loop(self) -> None:
        try:
            while True:
                frame = await self._queue.get()
                if frame is None:
                    break
                await self.ws.send_bytes(frame)
                self.bytes_sent += len(frame)
                self._unsent -= 1
                if self._unsent == 0:
                    self._all_sent.set()
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            pass
        finally:
            self.closed = True
            self._all_sent.set()

    async def wait_sent(self) -> None:
        """Until every queued frame went to the socket (or the connection closed)."""
        await self._all_sent.wait()

    async def run(self, on_frame: Callable[[bytes], Awaitable[bool]],
                  on_oversized: Callable[[], Awaitable[None]]) -> None:
        """Read frames until the socket closes or ``on_frame`` returns False."""
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        try:
            while not self.closed:
                msg = await self.ws.receive()
                if msg.type is WSMsgType.BINARY:
                    self.bytes_received += len(msg.data)
                    if not await on_frame(msg.data):
                        break
                elif msg.type is WSMsgType.TEXT:
                    if not await on_frame(msg.data.encode("utf-8", "surrogateescape")):
                        break
                elif msg.type is WSMsgType.ERROR:
                    if _is_too_big(msg.data):
                        await on_oversized()
                    break
                else:  # CLOSE, CLOSING, CLOSED
                    break
        except (ConnectionError, asyncio.IncompleteReadError, aiohttp.ClientError):
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        if self._writer is not None and not self._writer.done():
            # Let queued frames (e.g. a final reject) go out, briefly.
            try:
                self._queue.put_nowait(None)
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
            except (asyncio.QueueFull, asyncio.TimeoutError):
                self._writer.cancel()
        self.closed = True
        await self._close_ws()

    async def _close_ws(self) -> None:
        try:
            await self.ws.close()
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            pass
        if self._session is not None:
            await self._session.close()
            self._session = None


def _is_too_big(exc: object) -> bool:
    code = getattr(exc, "code", None)
    return code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
