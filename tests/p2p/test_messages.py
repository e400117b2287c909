"""The wire codec: round-trips, and every kind of bad input gives its typed error."""

from __future__ import annotations

import random

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from wattchain.consensus.params import regtest_params
from wattchain.node.chaingen import Branch
from wattchain.p2p.messages import (ENVELOPE_OVERHEAD, INV_BLOCK, INV_TX, MAX_HEADERS, MAX_INV,
                                    Addr, BlockMsg, GetAddr, GetData, GetHeaders, Headers, Inv,
                                    MalformedPayloadError, MessageError, NotFound,
                                    OversizedMessageError, Ping, Pong, SendHeaders, TxMsg,
                                    UndecodableMessageError, UnknownMessageError, Verack, Version,
                                    decode, encode, max_frame_size)

from .helpers import payment, test_chain, unstaked_coins

PARAMS = regtest_params()
LIMIT = max_frame_size(PARAMS)
H = bytes(range(32))


def _frame(kind: str, payload: object) -> bytes:
    return msgpack.packb({"type": kind, "payload": payload}, use_bin_type=True)


def test_frame_limit_is_derived_from_consensus_and_never_tighter() -> None:
    assert LIMIT == PARAMS.max_block_serialized_size + ENVELOPE_OVERHEAD
    assert LIMIT > PARAMS.max_block_weight


def test_every_message_round_trips() -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    tx = payment(branch, unstaked_coins(branch)[0], random.Random(1))
    block = branch.add(branch.make_block([tx]))
    messages = [
        Version(params.magic, params.genesis_hash, 1, 1, 7, "/x:1/", 2**64 - 1, 8333),
        Verack(), Ping(3), Pong(3), GetAddr(), SendHeaders(),
        Inv(((INV_TX, H), (INV_BLOCK, H))), GetData(((INV_BLOCK, H),)), NotFound(((INV_TX, H),)),
        GetHeaders((H, bytes(32)), bytes(32)), Headers((block.header, params.genesis_block.header)),
        BlockMsg(block.serialize()), TxMsg(tx), Addr((("127.0.0.1", 8333), ("::1", 1))),
    ]
    for msg in messages:
        assert decode(encode(msg), LIMIT) == msg


def test_a_full_size_block_frame_fits() -> None:
    # A block of exactly the consensus maximum must pass the network limit (btcd's lesson).
    frame = encode(BlockMsg(b"\x00" * PARAMS.max_block_serialized_size))
    assert isinstance(decode(frame, LIMIT), BlockMsg)


@pytest.mark.parametrize("frame, error", [
    (b"\xc1", UndecodableMessageError),                       # a never-used msgpack byte
    (b"", UndecodableMessageError),
    (msgpack.packb([1, 2]), UndecodableMessageError),           # not a map
    (msgpack.packb({"type": 5, "payload": None}), UndecodableMessageError),
    (msgpack.packb({"type": "ping"}), UndecodableMessageError),  # no payload
    (_frame("ping", None) + b"\x00", UndecodableMessageError),  # trailing bytes
    (_frame("launch", None), UnknownMessageError),
    (_frame("ping", -1), MalformedPayloadError),
    (_frame("ping", True), MalformedPayloadError),
    (_frame("inv", [[3, H]]), MalformedPayloadError),          # unknown inventory kind
    (_frame("inv", [[INV_TX, H[:31]]]), MalformedPayloadError),
    (_frame("getheaders", [[H] * 102, H]), OversizedMessageError),
    (_frame("headers", [b"\x00" * 10]), MalformedPayloadError),
    (_frame("tx", b"\x02\x00\x00"), MalformedPayloadError),
    (_frame("addr", [["h", 0]]), MalformedPayloadError),
    (_frame("version", [b"abc", H, 1, 1, 1, "", 1, 1]), MalformedPayloadError),
    (_frame("version", [b"abcd", H, 1, 1, 1, "u" * 257, 1, 1]), OversizedMessageError),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_bad_frames_raise_typed_errors(frame: bytes, error: type[MessageError]) -> None:
    with pytest.raises(error):
        decode(frame, LIMIT)


def test_size_bounds_are_checked_before_decoding() -> None:
    with pytest.raises(OversizedMessageError, match="frame of 101 bytes"):
        decode(b"\xc1" * 101, 100)   # refused on length, before msgpack sees it
    with pytest.raises(OversizedMessageError, match="2001 headers"):
        decode(_frame("headers", [b""] * (MAX_HEADERS + 1)), LIMIT)
    with pytest.raises((OversizedMessageError, UndecodableMessageError)):
        decode(_frame("inv", [[INV_TX, H]] * (MAX_INV + 1)), LIMIT)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_other_errors(data: bytes) -> None:
    try:
        decode(data, LIMIT)
    except MessageError:
        pass
