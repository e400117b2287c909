"""The wire codec: msgpack maps ``{"type": str, "payload": ...}`` <-> typed message objects.

Every bound is checked *before* work is done on it: the frame length against
:func:`max_frame_size` (derived from the consensus block-size limit plus a fixed envelope, so a
valid block is never refused by the network layer — btcd's lesson), then msgpack's own
container/bin limits, then the per-type bounds below (Bitcoin Core's numbers). Consensus objects
travel as their consensus serialization in msgpack ``bin`` fields; headers and transactions are
decoded here (small), blocks are left as bytes for the node to decode off the event loop.

Any malformed input raises a subclass of :class:`MessageError` (itself a ``DecodeError``), so
the peer layer catches one type and scores the sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import msgpack

from wattchain.consensus.params import ChainParams
from wattchain.core.errors import DecodeError
from wattchain.core.header import MAX_BLOCK_SIGNATURE_SIZE, UNSIGNED_HEADER_SIZE, StakeBlockHeader
from wattchain.core.tx import Transaction

#: Bumped on incompatible protocol changes; peers below MIN_PROTOCOL_VERSION are refused.
PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 1

#: Core's limits: MAX_HEADERS_RESULTS, MAX_INV_SZ, MAX_ADDR_TO_SEND, MAX_LOCATOR_SZ.
MAX_HEADERS = 2000
MAX_INV = 50_000
MAX_ADDR = 1000
MAX_LOCATOR = 101
MAX_USER_AGENT = 256
MAX_HOST_LEN = 255

#: Envelope allowance on top of the largest consensus object (map keys, type names, bin
#: headers). Generous: it only has to be larger than the real overhead.
ENVELOPE_OVERHEAD = 64 * 1024

#: Largest serialized header (fields + CompactSize + the largest allowed signature).
MAX_HEADER_SIZE = UNSIGNED_HEADER_SIZE + 1 + MAX_BLOCK_SIGNATURE_SIZE

#: Inventory kinds (Core's MSG_TX / MSG_BLOCK).
INV_TX = 1
INV_BLOCK = 2
INV_KINDS = frozenset({INV_TX, INV_BLOCK})


def max_frame_size(params: ChainParams) -> int:
    """Largest frame any message may occupy: one full block plus the envelope. Derived from
    consensus so it can never be tighter than it (a valid block always fits)."""
    return max(params.max_block_serialized_size, MAX_HEADERS * MAX_HEADER_SIZE) + \
        ENVELOPE_OVERHEAD


class MessageError(DecodeError):
    """A frame that is not a valid message. ``reason`` is a short stable tag for logs/scores."""

    reason: ClassVar[str] = "malformed"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.reason}: {detail}")
        self.detail = detail


class OversizedMessageError(MessageError):
    """The frame (or a list inside it) exceeds its bound."""

    reason = "oversized"


class UndecodableMessageError(MessageError):
    """Not msgpack, or not a map with a string ``type``."""

    reason = "undecodable"


class UnknownMessageError(MessageError):
    """A well-formed envelope whose type this protocol version does not know."""

    reason = "unknown-type"


class MalformedPayloadError(MessageError):
    """The payload of a known type has the wrong shape or a bad consensus encoding."""

    reason = "bad-payload"


# ---------------------------------------------------------------------------- messages
@dataclass(frozen=True)
class Version:
    TYPE: ClassVar[str] = "version"
    magic: bytes
    genesis_hash: bytes
    protocol_version: int
    services: int
    best_height: int
    user_agent: str
    nonce: int
    listen_port: int


@dataclass(frozen=True)
class Verack:
    TYPE: ClassVar[str] = "verack"


@dataclass(frozen=True)
class Ping:
    TYPE: ClassVar[str] = "ping"
    nonce: int


@dataclass(frozen=True)
class Pong:
    TYPE: ClassVar[str] = "pong"
    nonce: int


@dataclass(frozen=True)
class Inv:
    """Announce (``inv``), request (``getdata``) or deny (``notfound``) objects by hash."""

    TYPE: ClassVar[str] = "inv"
    items: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class GetData(Inv):
    TYPE: ClassVar[str] = "getdata"


@dataclass(frozen=True)
class NotFound(Inv):
    TYPE: ClassVar[str] = "notfound"


@dataclass(frozen=True)
class GetHeaders:
    TYPE: ClassVar[str] = "getheaders"
    locator: tuple[bytes, ...]
    stop: bytes


@dataclass(frozen=True)
class Headers:
    TYPE: ClassVar[str] = "headers"
    headers: tuple[StakeBlockHeader, ...]


@dataclass(frozen=True)
class BlockMsg:
    """A full block, left serialized (decoding 2 MB belongs off the event loop)."""

    TYPE: ClassVar[str] = "block"
    raw: bytes


@dataclass(frozen=True)
class TxMsg:
    TYPE: ClassVar[str] = "tx"
    tx: Transaction


@dataclass(frozen=True)
class GetAddr:
    TYPE: ClassVar[str] = "getaddr"


@dataclass(frozen=True)
class Addr:
    TYPE: ClassVar[str] = "addr"
    addrs: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SendHeaders:
    """Ask the peer to announce new blocks with ``headers`` rather than ``inv`` (BIP130)."""

    TYPE: ClassVar[str] = "sendheaders"


Message = (Version | Verack | Ping | Pong | Inv | GetData | NotFound | GetHeaders | Headers
           | BlockMsg | TxMsg | GetAddr | Addr | SendHeaders)


# ---------------------------------------------------------------------------- encoding
def _payload(msg: Message) -> Any:
    if isinstance(msg, Version):
        return [msg.magic, msg.genesis_hash, msg.protocol_version, msg.services,
                msg.best_height, msg.user_agent, msg.nonce, msg.listen_port]
    if isinstance(msg, (Ping, Pong)):
        return msg.nonce
    if isinstance(msg, Inv):
        return [[kind, h] for kind, h in msg.items]
    if isinstance(msg, GetHeaders):
        return [list(msg.locator), msg.stop]
    if isinstance(msg, Headers):
        return [h.serialize() for h in msg.headers]
    if isinstance(msg, BlockMsg):
        return msg.raw
    if isinstance(msg, TxMsg):
        return msg.tx.serialize()
    if isinstance(msg, Addr):
        return [[host, port] for host, port in msg.addrs]
    return None


def encode(msg: Message) -> bytes:
    """One frame for ``msg``."""
    return msgpack.packb({"type": msg.TYPE, "payload": _payload(msg)}, use_bin_type=True)


# ---------------------------------------------------------------------------- decoding
def _expect(cond: bool, detail: str) -> None:
    if not cond:
        raise MalformedPayloadError(detail)


def _u64(value: Any, what: str) -> int:
    _expect(isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64,
            f"{what} is not an unsigned 64-bit integer")
    return value


def _hash(value: Any, what: str) -> bytes:
    _expect(isinstance(value, bytes) and len(value) == 32, f"{what} is not a 32-byte hash")
    return value


def _list(value: Any, bound: int, what: str) -> list[Any]:
    _expect(isinstance(value, list), f"{what} is not a list")
    if len(value) > bound:
        raise OversizedMessageError(f"{len(value)} {what} (at most {bound})")
    return value


def _inv_items(payload: Any) -> tuple[tuple[int, bytes], ...]:
    items = []
    for item in _list(payload, MAX_INV, "inventory items"):
        _expect(isinstance(item, list) and len(item) == 2, "inventory item is not a pair")
        _expect(item[0] in INV_KINDS, f"unknown inventory kind {item[0]!r}")
        items.append((int(item[0]), _hash(item[1], "inventory hash")))
    return tuple(items)


def _decode_version(p: Any) -> Version:
    _expect(isinstance(p, list) and len(p) == 8, "version payload is not an 8-list")
    magic, genesis, proto, services, height, agent, nonce, port = p
    _expect(isinstance(magic, bytes) and len(magic) == 4, "magic is not 4 bytes")
    _expect(isinstance(agent, str), "user agent is not a string")
    if len(agent) > MAX_USER_AGENT:
        raise OversizedMessageError(f"user agent of {len(agent)} characters")
    _expect(isinstance(port, int) and 0 <= port < 65536, "listen port out of range")
    return Version(magic, _hash(genesis, "genesis hash"), _u64(proto, "protocol version"),
                   _u64(services, "services"), _u64(height, "best height"), agent,
                   _u64(nonce, "nonce"), port)


def _decode_headers(p: Any) -> Headers:
    headers = []
    for raw in _list(p, MAX_HEADERS, "headers"):
        _expect(isinstance(raw, bytes) and len(raw) <= MAX_HEADER_SIZE, "header is not bytes")
        try:
            headers.append(StakeBlockHeader.deserialize(raw))
        except DecodeError as exc:
            raise MalformedPayloadError(f"bad header: {exc}") from exc
    return Headers(tuple(headers))


def _decode_addr(p: Any) -> Addr:
    addrs = []
    for item in _list(p, MAX_ADDR, "addresses"):
        _expect(isinstance(item, list) and len(item) == 2, "address is not a pair")
        host, port = item
        _expect(isinstance(host, str) and 0 < len(host) <= MAX_HOST_LEN, "bad address host")
        _expect(isinstance(port, int) and 0 < port < 65536, "bad address port")
        addrs.append((host, port))
    return Addr(tuple(addrs))


def _decode_tx(p: Any) -> TxMsg:
    _expect(isinstance(p, bytes), "tx payload is not bytes")
    try:
        return TxMsg(Transaction.deserialize(p))
    except DecodeError as exc:
        raise MalformedPayloadError(f"bad transaction: {exc}") from exc


def _decode_getheaders(p: Any) -> GetHeaders:
    _expect(isinstance(p, list) and len(p) == 2, "getheaders payload is not a pair")
    locator = tuple(_hash(h, "locator hash") for h in _list(p[0], MAX_LOCATOR, "locator hashes"))
    return GetHeaders(locator, _hash(p[1], "stop hash"))


def _decode_block(p: Any) -> BlockMsg:
    _expect(isinstance(p, bytes), "block payload is not bytes")
    return BlockMsg(p)


_DECODERS: dict[str, Any] = {
    "version": _decode_version,
    "verack": lambda p: Verack(),
    "ping": lambda p: Ping(_u64(p, "ping nonce")),
    "pong": lambda p: Pong(_u64(p, "pong nonce")),
    "inv": lambda p: Inv(_inv_items(p)),
    "getdata": lambda p: GetData(_inv_items(p)),
    "notfound": lambda p: NotFound(_inv_items(p)),
    "getheaders": _decode_getheaders,
    "headers": _decode_headers,
    "block": _decode_block,
    "tx": _decode_tx,
    "getaddr": lambda p: GetAddr(),
    "addr": _decode_addr,
    "sendheaders": lambda p: SendHeaders(),
}


def decode(frame: bytes, max_size: int) -> Message:
    """Decode one frame, refusing anything over ``max_size`` bytes before parsing it."""
    if len(frame) > max_size:
        raise OversizedMessageError(f"frame of {len(frame)} bytes (at most {max_size})")
    try:
        obj = msgpack.unpackb(frame, raw=False, strict_map_key=True, max_bin_len=max_size,
                              max_str_len=MAX_HOST_LEN + MAX_USER_AGENT, max_array_len=MAX_INV,
                              max_map_len=2, max_ext_len=0)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError,
            TypeError) as exc:
        raise UndecodableMessageError(f"not a msgpack frame: {exc}") from exc
    if not isinstance(obj, dict) or set(obj) != {"type", "payload"} or \
            not isinstance(obj["type"], str):
        raise UndecodableMessageError("not a {type, payload} map")
    decoder = _DECODERS.get(obj["type"])
    if decoder is None:
        raise UnknownMessageError(f"message type {obj['type'][:32]!r}")
    return decoder(obj["payload"])
