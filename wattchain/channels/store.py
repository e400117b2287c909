"""Channel persistence in LevelDB: one atomic write batch per state transition.

Layout (every key format in this one place)::

    b"c" + channel_id                       -> msgpack channel header (Channel.header_record)
    b"h" + channel_id + proposer + id(8 BE)  -> msgpack HTLC log entry (only changed ones written)
    b"p" + payment_hash                     -> payment preimage we can claim with (invoices)
    b"n" + channel_id                       -> the counterparty's node id
    b"t"                                    -> height (8 BE) of the last chain tip seen
    b"k"                                    -> this node's secret key (its identity)

Why per-entry HTLC keys: the header is small and rewritten on every transition, while the HTLC
log grows with every payment; writing only the entries a transition touched keeps a transition
O(changed HTLCs) instead of O(all HTLCs ever), and the header plus those entries still go in
one batch, so a crash leaves either the state before or the state after a transition.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack

from wattchain.channels.errors import ChannelError
from wattchain.channels.htlclog import LOCAL
from wattchain.channels.state import Channel
from wattchain.node.kvstore import Batch, KVStore

PREFIX_CHANNEL = b"c"
PREFIX_HTLC = b"h"
PREFIX_PREIMAGE = b"p"
PREFIX_PEER = b"n"
KEY_SCANNED = b"t"
KEY_NODE_SECRET = b"k"


class ChannelStoreError(ChannelError):
    """A stored record is missing or does not decode (the database is damaged)."""


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several exception types
        raise ChannelStoreError(f"undecodable channel record: {exc}") from exc


def _htlc_key(channel_id: bytes, proposer: str, htlc_id: int) -> bytes:
    return (PREFIX_HTLC + channel_id + (b"L" if proposer == LOCAL else b"R")
            + htlc_id.to_bytes(8, "big"))


class ChannelStore:
    """All channels of one node, plus its invoice preimages."""

    def __init__(self, path: Path | str, *, sync: bool = True) -> None:
        self.kv = KVStore(Path(path), sync=sync)

    def close(self) -> None:
        self.kv.close()

    def save(self, chan: Channel, peer_id: bytes | None = None) -> None:
        """Write the channel header and every HTLC entry changed since the last save (and the
        peer's node id) in one atomic batch."""
        batch = Batch()
        if peer_id is not None:
            batch.put(PREFIX_PEER + chan.channel_id, peer_id)
        for entry in chan.log.take_dirty():
            batch.put(_htlc_key(chan.channel_id, entry.htlc.proposer, entry.htlc.id),
                      _pack(entry.to_record()))
        batch.put(PREFIX_CHANNEL + chan.channel_id, _pack(chan.header_record()))
        self.kv.commit(batch)

    def load(self, channel_id: bytes) -> Channel:
        raw = self.kv.get(PREFIX_CHANNEL + channel_id)
        if raw is None:
            raise ChannelStoreError(f"no channel {channel_id.hex()}")
        htlcs = [_unpack(v) for _, v in self.kv.iterate_prefix(PREFIX_HTLC + channel_id)]
        try:
            return Channel.restore(_unpack(raw), htlcs)
        except (KeyError, TypeError, ValueError) as exc:
            raise ChannelStoreError(f"bad channel record {channel_id.hex()}: {exc}") from exc

    def peer_of(self, channel_id: bytes) -> bytes | None:
        return self.kv.get(PREFIX_PEER + channel_id)

    def channel_ids(self) -> Iterator[bytes]:
        for key, _ in self.kv.iterate_prefix(PREFIX_CHANNEL):
            yield key[len(PREFIX_CHANNEL):]

    def load_all(self) -> list[Channel]:
        return [self.load(cid) for cid in list(self.channel_ids())]

    def node_secret(self) -> bytes:
        """This node's identity key, created (randomly) on first use: a daemon's channel
        node keeps its id across restarts, and its channels stay with the right peers."""
        secret = self.kv.get(KEY_NODE_SECRET)
        if secret is None:
            secret = os.urandom(32)
            batch = Batch()
            batch.put(KEY_NODE_SECRET, secret)
            self.kv.commit(batch)
        return secret

    # ------------------------------------------------------------------ chain position
    def set_scanned(self, height: int) -> None:
        """Remember the chain tip height the node has processed (where a rescan after a
        restart must begin looking for spends of funding outputs)."""
        batch = Batch()
        batch.put(KEY_SCANNED, height.to_bytes(8, "big"))
        self.kv.commit(batch)

    def scanned(self) -> int | None:
        raw = self.kv.get(KEY_SCANNED)
        return None if raw is None else int.from_bytes(raw, "big")

    # ------------------------------------------------------------------ invoices
    def add_preimage(self, payment_hash: bytes, preimage: bytes) -> None:
        batch = Batch()
        batch.put(PREFIX_PREIMAGE + payment_hash, preimage)
        self.kv.commit(batch)

    def preimage(self, payment_hash: bytes) -> bytes | None:
        return self.kv.get(PREFIX_PREIMAGE + payment_hash)
