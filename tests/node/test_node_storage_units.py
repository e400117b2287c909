"""Unit tests of the storage building blocks: schema records, block index, KV store, UTXO hash."""

from __future__ import annotations

import hashlib
import random

import pytest

from wattchain.consensus.coins import Coin
from wattchain.core.header import StakeBlockHeader
from wattchain.core.tx import OutPoint, TxOut
from wattchain.node import schema
from wattchain.node.block_index import (ActiveChain, BlockIndex, EntryChainContext,
                                        last_common_ancestor, skip_height)
from wattchain.node.errors import StorageError
from wattchain.node.kvstore import Batch, KVStore
from wattchain.node.schema import BlockStatus, IndexRecord
from wattchain.node.utxo_db import coin_hash_bytes, utxo_stats


def test_index_record_round_trip() -> None:
    record = IndexRecord(BlockStatus.HEADER_VALID | BlockStatus.FAILED_CHILD, 77, 2**200 + 5, 3,
                         b"header-bytes")
    assert IndexRecord.deserialize(record.serialize()) == record
    assert record.status.failed
    with pytest.raises(schema.SchemaError):
        IndexRecord.deserialize(b"\x00" * 10)


def test_coin_keys_sort_by_txid_then_numeric_index() -> None:
    txid = bytes(range(32))
    keys = [schema.coin_key(OutPoint(txid, i)) for i in (0, 1, 255, 256, 70000)]
    assert keys == sorted(keys)
    assert schema.outpoint_from_coin_key(keys[3]) == OutPoint(txid, 256)
    assert schema.coin_key(OutPoint(bytes(31) + b"\x01", 0)) > schema.coin_key(
        OutPoint(bytes(32), 2**32 - 1))
    with pytest.raises(schema.SchemaError):
        schema.block_key(b"short")


def _header_chain(n: int, branch_tag: int = 0, parent_hash: bytes = bytes(32),
                  start_time: int = 1000) -> list[StakeBlockHeader]:
    headers = []
    prev = parent_hash
    for i in range(n):
        merkle = hashlib.sha256(bytes([branch_tag]) + i.to_bytes(4, "little")).digest()
        header = StakeBlockHeader(4, prev, merkle,
                                  start_time + i * 7 % 13 + i, 0x207FFFFF)
        headers.append(header)
        prev = header.hash
    return headers


def _index_with_chain(n: int) -> tuple[BlockIndex, list]:
    index = BlockIndex()
    entries = []
    parent = None
    for header in _header_chain(n):
        parent = index.add(header, parent, 2, BlockStatus.HAVE_DATA, 1)
        entries.append(parent)
    return index, entries


def test_skip_list_ancestor_matches_parent_walk() -> None:
    _, entries = _index_with_chain(600)
    rng = random.Random(5)
    for _ in range(300):
        top = rng.randrange(600)
        target = rng.randrange(top + 1)
        assert entries[top].get_ancestor(target) is entries[target]
    assert entries[10].get_ancestor(11) is None
    assert skip_height(0) == 0 and skip_height(1) == 0
    assert entries[599].chain_work == 1200


def test_locator_follows_core_step_back() -> None:
    _, entries = _index_with_chain(200)
    chain = ActiveChain()
    chain.set_tip(entries[-1])
    heights = [next(e.height for e in entries if e.hash == h) for h in chain.locator()]
    # the tip and 11 consecutive heights below it, then doubling steps, genesis last (Core's shape)
    assert heights[:12] == list(range(199, 187, -1))
    gaps = [a - b for a, b in zip(heights[11:], heights[12:-1])]
    assert gaps == [2 ** (i + 1) for i in range(len(gaps))]
    assert heights[-1] == 0


def test_median_time_past_and_context() -> None:
    _, entries = _index_with_chain(30)
    entry = entries[20]
    times = sorted(e.header.time for e in entries[10:21])
    assert entry.median_time_past() == times[5]
    ctx = EntryChainContext(entry)
    assert ctx.height == 20 and ctx.hash == entry.hash and ctx.time == entry.header.time
    assert ctx.median_time_past_at(20) == entry.median_time_past()
    assert ctx.median_time_past_at(0) == entries[0].header.time
    with pytest.raises(IndexError):
        ctx.median_time_past_at(21)


def test_active_chain_fork_and_common_ancestor() -> None:
    index, entries = _index_with_chain(20)
    side_parent = entries[9]
    side = []
    parent = side_parent
    for header in _header_chain(5, branch_tag=1, parent_hash=side_parent.hash):
        parent = index.add(header, parent, 2, BlockStatus.HAVE_DATA, 1)
        side.append(parent)
    chain = ActiveChain()
    chain.set_tip(entries[-1])
    assert chain.find_fork(side[-1]) is side_parent
    assert last_common_ancestor(side[-1], entries[15]) is side_parent
    chain.set_tip(side[-1])
    assert chain.height == 14 and chain[10] is side[0] and chain.contains(entries[9])
    assert not chain.contains(entries[10])
    assert set(index.descendants(side[2])) == set(side[3:])


def test_kvstore_batches_and_errors(tmp_path) -> None:
    store = KVStore(tmp_path / "db", sync=False)
    batch = Batch()
    batch.put(b"a", b"1")
    batch.put(b"b", b"2")
    store.commit(batch)
    batch = Batch()
    batch.delete(b"a")
    batch.put(b"c", b"3")
    store.commit(batch)
    assert list(store.iterate_prefix(b"")) == [(b"b", b"2"), (b"c", b"3")]
    store.close()
    with pytest.raises(StorageError):
        store.get(b"b")


def test_utxo_hash_is_order_independent_and_documented() -> None:
    coins = [(OutPoint(bytes([i]) * 32, j), Coin(TxOut(i * 10 + j, b"\x51"), i, i == 1, j == 2))
             for i in range(3) for j in range(3)]
    a = utxo_stats(coins)
    b = utxo_stats(list(reversed(coins)), presorted=False)
    assert a == b and a.count == 9 and a.total_amount == sum(c.output.value for _, c in coins)
    with pytest.raises(ValueError):
        utxo_stats(list(reversed(coins)))
    # The documented serialization: outpoint | u32 code | TxOut.
    op, coin = coins[5]  # i=1 (coinbase), j=2 (coinstake)
    assert coin_hash_bytes(op, coin) == (op.txid + (2).to_bytes(4, "little")
                                         + (1 << 2 | 2 | 1).to_bytes(4, "little")
                                         + coin.output.serialize())
    stream = b"".join(coin_hash_bytes(o, c) for o, c in coins)
    assert a.hash_serialized == hashlib.sha256(hashlib.sha256(stream).digest()).digest()
