"""Coin records, BlockUndo records and the layered coins cache."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattchain.consensus.coins import (CacheInconsistencyError, Coin, CoinNotFoundError,
                                       CoinOverwriteError, CoinsViewCache, DictCoinsView,
                                       _coin_usage, read_varint, write_varint)
from wattchain.consensus.connect import BlockUndo
from wattchain.consensus.connect_fast import compiled_undo_serializer
from wattchain.core.errors import DecodeError
from wattchain.core.serialization import ByteReader, compact_size
from wattchain.core.tx import OutPoint, TxOut

coins = st.builds(
    Coin,
    output=st.builds(TxOut, st.integers(0, 2**63 - 1), st.binary(max_size=200)),
    height=st.integers(0, 2**31),
    is_coinbase=st.booleans(),
    is_coinstake=st.booleans(),
)
outpoints = st.builds(OutPoint, st.sampled_from([bytes([i]) * 32 for i in range(4)]),
                      st.integers(0, 3))


@given(st.integers(0, 2**64 - 1))
def test_varint_round_trip(n: int) -> None:
    reader = ByteReader(write_varint(n))
    assert read_varint(reader) == n
    reader.expect_end()


def test_varint_known_encodings() -> None:
    # Core's serialize.h examples.
    assert write_varint(0) == b"\x00"
    assert write_varint(127) == b"\x7f"
    assert write_varint(128) == b"\x80\x00"
    assert write_varint(255) == b"\x80\x7f"
    assert write_varint(16511) == b"\xff\x7f"
    assert write_varint(16512) == b"\x80\x80\x00"


@given(coins)
def test_coin_round_trip(coin: Coin) -> None:
    assert Coin.deserialize(coin.serialize()) == coin


def test_coin_record_is_compact() -> None:
    coin = Coin(TxOut(50_000, bytes(22)), height=1000, is_coinbase=True)
    assert len(coin.serialize()) == 2 + 3 + 1 + 22


@given(st.binary(max_size=60))
def test_coin_decode_garbage_only_decode_error(data: bytes) -> None:
    try:
        Coin.deserialize(data)
    except DecodeError:
        pass


@given(st.lists(st.lists(coins, max_size=4), max_size=5))
def test_block_undo_round_trip(txs) -> None:
    undo = BlockUndo(tuple(tuple(x) for x in txs))
    assert BlockUndo.deserialize(undo.serialize()) == undo


def _python_undo_record(undo: BlockUndo) -> bytes:
    """BlockUndo's format written out with the Python pieces (the reference)."""
    return compact_size(len(undo.tx_undo)) + b"".join(
        compact_size(len(spent)) + b"".join(coin.serialize() for coin in spent)
        for spent in undo.tx_undo)


class _OtherCoin(Coin):
    pass


_outputs = st.builds(TxOut, st.integers(0, 2**63 - 1), st.binary(max_size=300))


@settings(max_examples=300)
@given(st.lists(st.lists(
    st.builds(Coin, output=_outputs, height=st.integers(0, 2**40), is_coinbase=st.booleans(),
              is_coinstake=st.booleans())
    | st.builds(_OtherCoin, output=_outputs, height=st.integers(0, 2**40),
                is_coinbase=st.booleans()), max_size=4), max_size=5))
def test_compiled_undo_record_matches_python(txs) -> None:
    serialize = compiled_undo_serializer(fast=True)
    if serialize is None:
        pytest.skip("compiled extensions are not built")
    undo = BlockUndo(tuple(tuple(x) for x in txs))
    assert serialize(undo.tx_undo) == _python_undo_record(undo) == undo.serialize()
    assert serialize(list(undo.tx_undo)) is None  # not a shape it models: Python writes it


def test_compiled_undo_record_with_long_lengths() -> None:
    """CompactSize's 3- and 5-byte forms: 300 transactions, a 70,000-byte script."""
    serialize = compiled_undo_serializer(fast=True)
    if serialize is None:
        pytest.skip("compiled extensions are not built")
    undo = BlockUndo(((Coin(TxOut(5, bytes(70_000)), 2**40, True, True),),)
                     + tuple((coin(n),) for n in range(299)))
    assert serialize(undo.tx_undo) == _python_undo_record(undo)


def test_compiled_undo_record_refuses_what_python_refuses() -> None:
    serialize = compiled_undo_serializer(fast=True)
    if serialize is None:
        pytest.skip("compiled extensions are not built")
    for bad in (Coin(TxOut(1, b""), -1, False), Coin(TxOut(-1, b""), 1, False)):
        with pytest.raises(ValueError):
            serialize(((bad,),))
        with pytest.raises(ValueError):
            bad.serialize()


@given(st.binary(max_size=80))
def test_block_undo_garbage_only_decode_error(data: bytes) -> None:
    try:
        BlockUndo.deserialize(data)
    except DecodeError:
        pass


# ---------------------------------------------------------------------------- cache
def coin(n: int) -> Coin:
    return Coin(TxOut(n, b"\x51"), 1, False)


def op(n: int) -> OutPoint:
    return OutPoint(bytes([n]) * 32, 0)


def test_created_and_spent_in_cache_never_reaches_base() -> None:
    base = DictCoinsView()
    cache = CoinsViewCache(base)
    cache.add_coin(op(1), coin(5))
    assert cache.spend_coin(op(1)) == coin(5)
    assert list(cache.dirty_entries()) == []
    assert len(cache) == 0


def test_spend_of_base_coin_is_a_dirty_delete() -> None:
    base = DictCoinsView({op(1): coin(5)})
    cache = CoinsViewCache(base)
    assert cache.have_coin(op(1))
    cache.spend_coin(op(1))
    assert not cache.have_coin(op(1))
    assert list(cache.dirty_entries()) == [(op(1), None)]
    base.apply(cache.dirty_entries())
    assert base.get_coin(op(1)) is None


def test_spend_missing_raises() -> None:
    cache = CoinsViewCache(DictCoinsView())
    with pytest.raises(CoinNotFoundError):
        cache.spend_coin(op(1))


def test_overwrite_rules() -> None:
    base = DictCoinsView({op(1): coin(5)})
    cache = CoinsViewCache(base)
    with pytest.raises(CoinOverwriteError):
        cache.add_coin(op(1), coin(6))  # unspent in the base
    cache.add_coin(op(1), coin(6), overwrite=True)
    assert cache.get_coin(op(1)) == coin(6)
    cache.add_coin(op(2), coin(7))
    with pytest.raises(CoinOverwriteError):
        cache.add_coin(op(2), coin(8))


def test_respend_after_readd_reaches_base() -> None:
    """Spend a base coin, re-add, spend again: the base's copy must still be deleted."""
    base = DictCoinsView({op(1): coin(5)})
    cache = CoinsViewCache(base)
    cache.spend_coin(op(1))
    cache.add_coin(op(1), coin(6))
    cache.spend_coin(op(1))
    assert dict(cache.dirty_entries()) == {op(1): None}


def test_flush_into_parent_merges_flags() -> None:
    base = DictCoinsView({op(1): coin(5)})
    parent = CoinsViewCache(base)
    child = CoinsViewCache(parent)
    child.add_coin(op(2), coin(7))
    child.spend_coin(op(1))
    child.flush_into(parent)
    assert len(child) == 0
    assert parent.get_coin(op(2)) == coin(7) and parent.get_coin(op(1)) is None
    # A fresh coin flushed up and then spent in a new child disappears entirely.
    child2 = CoinsViewCache(parent)
    child2.spend_coin(op(2))
    child2.flush_into(parent)
    assert dict(parent.dirty_entries()) == {op(1): None}


def test_flush_fresh_over_unspent_is_a_logic_error() -> None:
    parent = CoinsViewCache(DictCoinsView())
    child = CoinsViewCache(DictCoinsView())  # deliberately not stacked on parent
    parent.add_coin(op(1), coin(1))
    child.add_coin(op(1), coin(2))
    with pytest.raises(CacheInconsistencyError):
        child.flush_into(parent)


class _NoLookups(DictCoinsView):
    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        raise AssertionError(f"looked up {outpoint} below the cache")


def test_unique_txid_outputs_skip_the_layers_below() -> None:
    """Core's AddCoin with possible_overwrite=false: no lookup below, FRESH at once."""
    parent = CoinsViewCache(_NoLookups())
    cache = CoinsViewCache(parent)
    cache.add_outputs(op(1).txid, [(0, coin(1)), (2, coin(2))], unique_txid=True)
    assert [(e.coin, e.dirty, e.fresh) for e in cache._entries.values()] == [
        (coin(1), True, True), (coin(2), True, True)]
    assert cache.memory_usage() == _coin_usage(coin(1)) + _coin_usage(coin(2))
    # Spent before a flush: a FRESH coin is simply forgotten.
    cache.spend_coin(OutPoint(op(1).txid, 0))
    assert len(cache) == 1
    # An unspent coin in this layer is still refused.
    with pytest.raises(CoinOverwriteError):
        cache.add_outputs(op(1).txid, [(2, coin(3))], unique_txid=True)
    # Without the promise the layers below are consulted.
    with pytest.raises(AssertionError, match="looked up"):
        cache.add_outputs(op(2).txid, [(0, coin(4))])


def test_unique_txid_readd_over_spent_stays_dirty_not_fresh() -> None:
    """A coin spent in this layer and re-created must still delete the base's copy."""
    base = DictCoinsView({op(1): coin(5)})
    cache = CoinsViewCache(base)
    cache.spend_coin(op(1))
    cache.add_outputs(op(1).txid, [(op(1).index, coin(6))], unique_txid=True)
    entry = cache._entries[(op(1).txid, op(1).index)]
    assert (entry.coin, entry.dirty, entry.fresh) == (coin(6), True, False)
    assert cache.memory_usage() == _coin_usage(coin(6))
    cache.spend_coin(op(1))
    assert dict(cache.dirty_entries()) == {op(1): None}


def test_unique_txid_broken_promise_fails_at_flush() -> None:
    """Were a txid ever repeated while its coin is unspent in the parent, the flush refuses
    to replace that coin (Core's logic error), rather than destroying it."""
    parent = CoinsViewCache(DictCoinsView())
    parent.add_coin(op(1), coin(1))
    child = CoinsViewCache(parent)
    child.add_outputs(op(1).txid, [(op(1).index, coin(2))], unique_txid=True)
    with pytest.raises(CacheInconsistencyError):
        child.flush_into(parent)
    assert parent.get_coin(op(1)) == coin(1)


def test_memory_usage_tracks_entries() -> None:
    cache = CoinsViewCache(DictCoinsView())
    assert cache.memory_usage() == 0
    cache.add_coin(op(1), Coin(TxOut(1, bytes(1000)), 1, False))
    used = cache.memory_usage()
    assert used > 1000
    cache.spend_coin(op(1))
    assert cache.memory_usage() == 0
    cache.clear()
    assert cache.memory_usage() == 0


# A model-based check: random operations on base <- big <- small caches behave like a dict.
actions = st.lists(st.tuples(st.sampled_from(["add", "add_unique", "spend", "flush_small",
                                              "flush_big", "uncache"]),
                             outpoints, st.integers(1, 100)), max_size=60)


@settings(max_examples=200)
@given(st.dictionaries(outpoints, st.integers(1, 100), max_size=6), actions)
def test_layered_caches_match_a_dict(initial, steps) -> None:
    base = DictCoinsView({o: coin(v) for o, v in initial.items()})
    big = CoinsViewCache(base)
    small = CoinsViewCache(big)
    model = {o: coin(v) for o, v in initial.items()}
    for action, outpoint, value in steps:
        if action == "add":
            if outpoint in model:
                with pytest.raises(CoinOverwriteError):
                    small.add_coin(outpoint, coin(value))
            else:
                small.add_coin(outpoint, coin(value))
                model[outpoint] = coin(value)
        elif action == "add_unique":
            # The promise unique_txid makes: nothing unspent at the outpoint in any layer
            # (connect_block's non-coinbase outputs). A spent one may be re-created.
            if outpoint not in model:
                small.add_outputs(outpoint.txid, [(outpoint.index, coin(value))],
                                  unique_txid=True)
                model[outpoint] = coin(value)
        elif action == "spend":
            if outpoint in model:
                assert small.spend_coin(outpoint) == model.pop(outpoint)
            else:
                with pytest.raises(CoinNotFoundError):
                    small.spend_coin(outpoint)
        elif action == "flush_small":
            small.flush_into(big)
        elif action == "flush_big":
            small.flush_into(big)
            base.apply(big.dirty_entries())
            big.reset_dirty()
        else:
            small.uncache(outpoint)
            big.uncache(outpoint)
        for o in {o for o, _, _ in steps} | set(initial):
            assert small.get_coin(o) == model.get(o)
        for cache in (small, big):
            exact = sum(_coin_usage(e.coin) for e in cache._entries.values())
            assert cache.memory_usage() == exact
    small.flush_into(big)
    base.apply(big.dirty_entries())
    big.clear()
    assert base.coins == model
