"""The sans-I/O peer state machine: handshake, ping/pong, and framing errors.

It consumes frames (bytes) and emits messages through a ``send`` callback and
:class:`Event` objects as return values, so tests drive it without sockets (hypercorn's style).
Everything past the handshake is handed to the application as :class:`Deliver`; what the node
does with an ``inv`` or a block is not this module's business.

Handshake: the dialing side sends ``version`` at once; the listening side answers a valid
``version`` with its own. Each side sends ``verack`` after accepting the other's ``version`` and
is ready after receiving ``verack``. A wrong magic or genesis, a too-old protocol version, or our
own nonce (we dialled ourselves) closes the connection; anything but version/verack before the
handshake completes is misbehaviour.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from wattchain.consensus.params import ChainParams
from wattchain.p2p.messages import (MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, Message,
                                    MessageError, OversizedMessageError, Ping, Pong,
                                    SendHeaders, Verack, Version, decode)

#: Misbehaviour points (100 = ban), in the spirit of Core's Misbehaving() calls.
SCORE_OVERSIZED = 100
SCORE_UNDECODABLE = 100
SCORE_BAD_PAYLOAD = 50
SCORE_UNKNOWN_TYPE = 10
SCORE_BEFORE_HANDSHAKE = 10
SCORE_UNSOLICITED_PONG = 1


class State(enum.Enum):
    CONNECTED = "connected"
    SENT_VERSION = "sent-version"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True)
class LocalInfo:
    """What we tell peers about ourselves."""

    nonce: int
    best_height: int
    listen_port: int
    user_agent: str = "/wattchain:0.1/"
    services: int = 1


@dataclass(frozen=True)
class Ready:
    """The handshake completed; ``version`` is what the peer said about itself."""

    version: Version


@dataclass(frozen=True)
class Deliver:
    """A post-handshake message for the application."""

    message: Message


@dataclass(frozen=True)
class Misbehaved:
    points: int
    reason: str


@dataclass(frozen=True)
class Close:
    reason: str


@dataclass(frozen=True)
class PongReceived:
    """Our ping was answered; ``latency`` is the round trip in seconds."""

    latency: float


Event = Ready | Deliver | Misbehaved | Close | PongReceived


class PeerProtocol:
    """One peer connection's protocol state (either direction)."""

    def __init__(self, params: ChainParams, local: LocalInfo, *, inbound: bool,
                 send: Callable[[Message], None], clock: Callable[[], float],
                 max_frame: int) -> None:
        self.params = params
        self.local = local
        self.inbound = inbound
        self._send = send
        self._clock = clock
        self.max_frame = max_frame
        self.state = State.CONNECTED
        self.peer_version: Version | None = None
        self._got_verack = False
        self._ping_nonces = itertools.count(1)
        self._ping_pending: tuple[int, float] | None = None
        #: Round-trip time of the last answered ping, seconds (None before the first).
        self.latency: float | None = None
        self.wants_headers = False

    # ------------------------------------------------------------------ outgoing
    def start(self) -> None:
        """Call once the transport is up: the dialing side opens the handshake."""
        if not self.inbound:
            self._send_version()

    def _send_version(self) -> None:
        self._send(Version(self.params.magic, self.params.genesis_hash, PROTOCOL_VERSION,
                           self.local.services, self.local.best_height, self.local.user_agent,
                           self.local.nonce, self.local.listen_port))
        self.state = State.SENT_VERSION

    def send(self, msg: Message) -> None:
        if self.state is not State.READY:
            raise RuntimeError("send before the handshake completed")
        self._send(msg)

    def send_ping(self) -> None:
        """Send a ping; its pong updates :attr:`latency`. One outstanding ping at a time."""
        if self.state is State.READY and self._ping_pending is None:
            nonce = next(self._ping_nonces)
            self._ping_pending = (nonce, self._clock())
            self._send(Ping(nonce))

    @property
    def ping_outstanding_since(self) -> float | None:
        return self._ping_pending[1] if self._ping_pending else None

    # ------------------------------------------------------------------ incoming
    def frame_received(self, frame: bytes) -> list[Event]:
        """Decode and handle one frame."""
        if self.state is State.CLOSED:
            return []
        try:
            msg = decode(frame, self.max_frame)
        except OversizedMessageError as exc:
            return self._close_with(SCORE_OVERSIZED, str(exc))
        except MessageError as exc:
            points = {"undecodable": SCORE_UNDECODABLE, "unknown-type": SCORE_UNKNOWN_TYPE}.get(
                exc.reason, SCORE_BAD_PAYLOAD)
            if points >= 100:
                return self._close_with(points, str(exc))
            return [Misbehaved(points, str(exc))]
        return self.message_received(msg)

    def message_received(self, msg: Message) -> list[Event]:
        if self.state is State.CLOSED:
            return []
        if isinstance(msg, Version):
            return self._on_version(msg)
        if isinstance(msg, Verack):
            if self.peer_version is None or self._got_verack:
                return [Misbehaved(SCORE_BEFORE_HANDSHAKE, "unexpected verack")]
            self._got_verack = True
            self.state = State.READY
            return [Ready(self.peer_version)]
        if self.state is not State.READY:
            return [Misbehaved(SCORE_BEFORE_HANDSHAKE, f"{msg.TYPE} before handshake")]
        if isinstance(msg, Ping):
            self._send(Pong(msg.nonce))
            return []
        if isinstance(msg, Pong):
            pending = self._ping_pending
            if pending is None or pending[0] != msg.nonce:
                return [Misbehaved(SCORE_UNSOLICITED_PONG, "unsolicited pong")]
            self.latency = self._clock() - pending[1]
            self._ping_pending = None
            return [PongReceived(self.latency)]
        if isinstance(msg, SendHeaders):
            self.wants_headers = True
            return []
        return [Deliver(msg)]

    def _on_version(self, msg: Version) -> list[Event]:
        if self.peer_version is not None:
            return [Misbehaved(SCORE_BEFORE_HANDSHAKE, "duplicate version")]
        if msg.magic != self.params.magic or msg.genesis_hash != self.params.genesis_hash:
            return self._close("wrong network")
        if msg.nonce == self.local.nonce:
            return self._close("connected to self")
        if msg.protocol_version < MIN_PROTOCOL_VERSION:
            return self._close(f"protocol version {msg.protocol_version} too old")
        self.peer_version = msg
        if self.inbound:
            self._send_version()
        self._send(Verack())
        return []

    def _close(self, reason: str) -> list[Event]:
        self.state = State.CLOSED
        return [Close(reason)]

    def _close_with(self, points: int, reason: str) -> list[Event]:
        self.state = State.CLOSED
        return [Misbehaved(points, reason), Close(reason)]
