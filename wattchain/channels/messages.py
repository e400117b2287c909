"""The BOLT 2 channel messages as msgpack maps: one frozen dataclass per message.

Why a table-driven codec: every field of every message is checked on the way in (type, exact
length for hashes/keys/signatures, bounds for integers and lists), so the state machine only
ever sees well-formed values and a hostile peer gets a typed :class:`MessageDecodeError` with
the offending field named instead of a ``KeyError`` deep in channel code. The wire form is a
msgpack map ``{"t": <type name>, <field>: <value>, ...}``, like the P2P layer's messages.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import msgpack

#: Largest frame we accept. BOLT 1 caps a message at 65535 bytes; a commitment_signed for our
#: maximum of HTLCs (2 x 483 signatures of <= 73 bytes) stays under it.
MAX_MESSAGE_BYTES = 65_535
#: BOLT 2: max_accepted_htlcs may not exceed 483 (a commitment tx must stay standard).
MAX_HTLCS = 483
MAX_U64 = 2**64 - 1
MAX_U32 = 2**32 - 1
#: Longest free-text field (error data, shutdown reason).
MAX_TEXT = 1_000
#: Onion-like route blob of update_add_htlc (our source-routing payload; see router.py).
MAX_ROUTE_BYTES = 20 * 1024


class MessageDecodeError(ValueError):
    """A frame that is not a valid channel message; ``reason`` is a short stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# Field kinds: name -> (python type, validator). Validators return an error detail or None.
def _fixed(n: int) -> tuple[type, Any]:
    return bytes, lambda v: None if len(v) == n else f"must be {n} bytes, got {len(v)}"


def _sig() -> tuple[type, Any]:
    return bytes, lambda v: None if 8 <= len(v) <= 73 else f"bad signature length {len(v)}"


def _uint(limit: int) -> tuple[type, Any]:
    return int, lambda v: None if 0 <= v <= limit else f"out of range 0..{limit}"


def _blob(limit: int) -> tuple[type, Any]:
    return bytes, lambda v: None if len(v) <= limit else f"longer than {limit} bytes"


def _sigs() -> tuple[type, Any]:
    def check(v: list[Any]) -> str | None:
        if len(v) > 2 * MAX_HTLCS:
            return "too many htlc signatures"
        for s in v:
            if not isinstance(s, bytes) or not 8 <= len(s) <= 73:
                return "bad htlc signature"
        return None
    return list, check


KINDS: dict[str, tuple[type, Any]] = {
    "channel_id": _fixed(32), "temporary_channel_id": _fixed(32), "chain_hash": _fixed(32),
    "funding_txid": _fixed(32), "payment_hash": _fixed(32), "payment_preimage": _fixed(32),
    "per_commitment_secret": _fixed(32),
    "funding_pubkey": _fixed(33), "revocation_basepoint": _fixed(33),
    "payment_basepoint": _fixed(33), "delayed_payment_basepoint": _fixed(33),
    "htlc_basepoint": _fixed(33), "first_per_commitment_point": _fixed(33),
    "second_per_commitment_point": _fixed(33), "next_per_commitment_point": _fixed(33),
    "signature": _sig(), "htlc_signatures": _sigs(),
    "funding_satoshis": _uint(21_000_000 * 10**8), "push_msat": _uint(MAX_U64),
    "dust_limit_satoshis": _uint(MAX_U64), "channel_reserve_satoshis": _uint(MAX_U64),
    "htlc_minimum_msat": _uint(MAX_U64), "feerate_per_kw": _uint(MAX_U32),
    "to_self_delay": _uint(0xFFFF), "max_accepted_htlcs": _uint(MAX_HTLCS),
    "minimum_depth": _uint(MAX_U32), "funding_output_index": _uint(0xFFFF),
    "id": _uint(MAX_U64), "amount_msat": _uint(MAX_U64), "cltv_expiry": _uint(MAX_U32),
    "fee_satoshis": _uint(21_000_000 * 10**8), "next_commitment_number": _uint(2**48 - 1),
    "next_revocation_number": _uint(2**48 - 1), "node_id": _fixed(33),
    "scriptpubkey": _blob(42), "reason": _blob(MAX_ROUTE_BYTES),
    "onion_routing_packet": _blob(MAX_ROUTE_BYTES), "data": _blob(MAX_TEXT),
}


@dataclass(frozen=True)
class Message:
    """Base of every channel message. ``TYPE`` is the wire name."""

    TYPE: ClassVar[str] = ""

    def encode(self) -> bytes:
        body: dict[str, Any] = {"t": self.TYPE}
        for f in fields(self):
            body[f.name] = getattr(self, f.name)
        return msgpack.packb(body, use_bin_type=True)


@dataclass(frozen=True)
class OpenChannel(Message):
    TYPE: ClassVar[str] = "open_channel"
    chain_hash: bytes
    temporary_channel_id: bytes
    funding_satoshis: int
    push_msat: int
    dust_limit_satoshis: int
    channel_reserve_satoshis: int
    htlc_minimum_msat: int
    feerate_per_kw: int
    to_self_delay: int
    max_accepted_htlcs: int
    funding_pubkey: bytes
    revocation_basepoint: bytes
    payment_basepoint: bytes
    delayed_payment_basepoint: bytes
    htlc_basepoint: bytes
    first_per_commitment_point: bytes


@dataclass(frozen=True)
class AcceptChannel(Message):
    TYPE: ClassVar[str] = "accept_channel"
    temporary_channel_id: bytes
    dust_limit_satoshis: int
    channel_reserve_satoshis: int
    htlc_minimum_msat: int
    minimum_depth: int
    to_self_delay: int
    max_accepted_htlcs: int
    funding_pubkey: bytes
    revocation_basepoint: bytes
    payment_basepoint: bytes
    delayed_payment_basepoint: bytes
    htlc_basepoint: bytes
    first_per_commitment_point: bytes


@dataclass(frozen=True)
class FundingCreated(Message):
    TYPE: ClassVar[str] = "funding_created"
    temporary_channel_id: bytes
    funding_txid: bytes
    funding_output_index: int
    signature: bytes


@dataclass(frozen=True)
class FundingSigned(Message):
    TYPE: ClassVar[str] = "funding_signed"
    channel_id: bytes
    signature: bytes


@dataclass(frozen=True)
class ChannelReady(Message):
    TYPE: ClassVar[str] = "channel_ready"
    channel_id: bytes
    second_per_commitment_point: bytes


@dataclass(frozen=True)
class UpdateAddHtlc(Message):
    TYPE: ClassVar[str] = "update_add_htlc"
    channel_id: bytes
    id: int
    amount_msat: int
    payment_hash: bytes
    cltv_expiry: int
    onion_routing_packet: bytes


@dataclass(frozen=True)
class CommitmentSigned(Message):
    TYPE: ClassVar[str] = "commitment_signed"
    channel_id: bytes
    signature: bytes
    htlc_signatures: list[bytes]


@dataclass(frozen=True)
class RevokeAndAck(Message):
    TYPE: ClassVar[str] = "revoke_and_ack"
    channel_id: bytes
    per_commitment_secret: bytes
    next_per_commitment_point: bytes


@dataclass(frozen=True)
class UpdateFulfillHtlc(Message):
    TYPE: ClassVar[str] = "update_fulfill_htlc"
    channel_id: bytes
    id: int
    payment_preimage: bytes


@dataclass(frozen=True)
class UpdateFailHtlc(Message):
    TYPE: ClassVar[str] = "update_fail_htlc"
    channel_id: bytes
    id: int
    reason: bytes


@dataclass(frozen=True)
class Shutdown(Message):
    TYPE: ClassVar[str] = "shutdown"
    channel_id: bytes
    scriptpubkey: bytes


@dataclass(frozen=True)
class ClosingSigned(Message):
    TYPE: ClassVar[str] = "closing_signed"
    channel_id: bytes
    fee_satoshis: int
    signature: bytes


@dataclass(frozen=True)
class ChannelReestablish(Message):
    """Sent on reconnect (BOLT 2 channel_reestablish, reduced to what our resume needs)."""

    TYPE: ClassVar[str] = "channel_reestablish"
    channel_id: bytes
    next_commitment_number: int
    next_revocation_number: int


@dataclass(frozen=True)
class Init(Message):
    """First frame on a connection both ways: who we are (BOLT 1 init, plus the node id
    that BOLT 8's handshake would authenticate)."""

    TYPE: ClassVar[str] = "init"
    node_id: bytes


@dataclass(frozen=True)
class Error(Message):
    TYPE: ClassVar[str] = "error"
    channel_id: bytes
    data: bytes


MESSAGE_TYPES: dict[str, type[Message]] = {cls.TYPE: cls for cls in (
    OpenChannel, AcceptChannel, FundingCreated, FundingSigned, ChannelReady, UpdateAddHtlc,
    CommitmentSigned, RevokeAndAck, UpdateFulfillHtlc, UpdateFailHtlc, Shutdown, ClosingSigned,
    ChannelReestablish, Error, Init)}


def decode(frame: bytes) -> Message:
    """One message from a frame, every field checked; raises :class:`MessageDecodeError`."""
    if len(frame) > MAX_MESSAGE_BYTES:
        raise MessageDecodeError("oversized", f"{len(frame)} > {MAX_MESSAGE_BYTES} bytes")
    try:
        body = msgpack.unpackb(frame, raw=False, strict_map_key=True, use_list=True,
                               max_bin_len=MAX_MESSAGE_BYTES, max_str_len=64,
                               max_array_len=2 * MAX_HTLCS, max_map_len=32)
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise MessageDecodeError("malformed", str(exc)) from exc
    if not isinstance(body, dict):
        raise MessageDecodeError("malformed", "not a map")
    name = body.get("t")
    cls = MESSAGE_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise MessageDecodeError("unknown-type", repr(name)[:40])
    values = {}
    expected = {f.name for f in fields(cls)}
    extra = set(body) - expected - {"t"}
    if extra:
        raise MessageDecodeError("unknown-field", f"{cls.TYPE}.{sorted(map(str, extra))[0]}")
    for field_name in expected:
        if field_name not in body:
            raise MessageDecodeError("missing-field", f"{cls.TYPE}.{field_name}")
        value = body[field_name]
        kind, check = KINDS[field_name]
        if type(value) is not kind:
            raise MessageDecodeError("bad-field", f"{cls.TYPE}.{field_name}: expected "
                                     f"{kind.__name__}, got {type(value).__name__}")
        problem = check(value)
        if problem:
            raise MessageDecodeError("bad-field", f"{cls.TYPE}.{field_name}: {problem}")
        values[field_name] = value
    return cls(**values)
