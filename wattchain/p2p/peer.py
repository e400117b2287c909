"""One connected peer as the node sees it: transport + protocol + the per-peer bookkeeping.

Limits here are Core-like: known-inventory sets bounded so a chatty peer cannot grow them,
a general message bucket and a tighter one for transactions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from wattchain.p2p.connection import Connection
from wattchain.p2p.messages import Message, encode
from wattchain.p2p.peers import BoundedSet, Misbehaviour, TokenBucket
from wattchain.p2p.protocol import PeerProtocol, State

#: Messages per second (and burst) a peer may send before its excess is dropped and scored.
MESSAGE_RATE = 500.0
MESSAGE_BURST = 5000.0
#: Transactions per second (and burst) per peer.
TX_RATE = 200.0
TX_BURST = 2000.0
KNOWN_INVENTORY = 50_000


@dataclass(eq=False)
class Peer:
    id: int
    conn: Connection
    proto: PeerProtocol
    connected_at: float
    #: Whether we dialled it (and at which listen address).
    outbound: bool
    dial_addr: tuple[str, int] | None = None
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    messages: TokenBucket = field(default_factory=lambda: TokenBucket(MESSAGE_RATE,
                                                                      MESSAGE_BURST))
    txs: TokenBucket = field(default_factory=lambda: TokenBucket(TX_RATE, TX_BURST))
    known_blocks: BoundedSet = field(default_factory=lambda: BoundedSet(KNOWN_INVENTORY))
    known_txs: BoundedSet = field(default_factory=lambda: BoundedSet(KNOWN_INVENTORY))
    #: txids we asked this peer for (a tx not in here is unrequested).
    tx_requested: set[bytes] = field(default_factory=set)
    best_height: int = 0
    #: Blocks from this peer stored off the active chain since its last tip-making block.
    side_blocks: int = 0
    #: Blocks this peer delivered that we had asked for (parallel-download evidence).
    blocks_received: int = 0
    #: We stopped asking it for headers: its share of the header tree is used up.
    headers_paused: bool = False
    sent_getaddr: bool = False
    answered_getaddr: bool = False
    ready: asyncio.Future[None] | None = None
    #: Event-loop times of the last ping we sent (or of connecting), and of connecting.
    last_ping: float = 0.0
    opened: float = 0.0

    @property
    def host(self) -> str:
        return self.conn.host

    @property
    def is_ready(self) -> bool:
        return self.proto.state is State.READY and not self.conn.closed

    def send(self, msg: Message) -> None:
        if self.is_ready:
            self.conn.send(encode(msg))

    def send_frame(self, frame: bytes) -> None:
        """Send an already encoded frame (one large message encoded once for many peers)."""
        if self.is_ready:
            self.conn.send(frame)

    def listen_addr(self) -> tuple[str, int] | None:
        if self.dial_addr is not None:
            return self.dial_addr
        version = self.proto.peer_version
        if version is not None and version.listen_port:
            return (self.host, version.listen_port)
        return None

    def info(self) -> dict[str, object]:
        """getpeerinfo-shaped fields."""
        version = self.proto.peer_version
        addr = self.listen_addr()
        return {
            "id": self.id,
            "addr": f"{self.host}:{self.conn.port}",
            # Where the peer listens (dialled address, or the port its version announced).
            "listen": f"{addr[0]}:{addr[1]}" if addr else None,
            "inbound": not self.outbound,
            "version": version.protocol_version if version else None,
            "subver": version.user_agent if version else "",
            "services": version.services if version else 0,
            "startingheight": version.best_height if version else -1,
            "synced_headers": self.best_height,
            "pingtime": self.proto.latency,
            "banscore": self.misbehaviour.score,
            "blocks_received": self.blocks_received,
            "bytessent": self.conn.bytes_sent,
            "bytesrecv": self.conn.bytes_received,
            "conntime": int(self.connected_at),
            "state": self.proto.state.value,
        }
