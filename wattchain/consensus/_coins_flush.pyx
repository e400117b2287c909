# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled ``CoinsViewCache._batch_write`` (Core's BatchWrite): a child cache's dirty entries
moved into its parent, with the same entries, flags, usage and error as the Python reference
``CoinsViewCache._batch_write_py``; and ``BlockUndo.serialize``, byte for byte.

Why: the node flushes every connected block's view into the chain-state cache, tens of
thousands of entries per full block. With a Python frame per entry that flush cost about as
much as the rest of the block's non-signature work. The undo record of a full block is ~14,000
coin records, two Python VARINTs each: ~0.05 s per block. Slots are read and written by offset
(see ``_fast_slots.pxd``) after an exact type check.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

from wattchain.consensus._fast_bytes cimport compact_size_len, put_compact
from wattchain.core._fast_slots cimport (CoinSlots, TxSlots, get_slot, load_coin_slots,
                                         load_tx_slots, new_acyclic, set_slot)

from wattchain.consensus.coins import _ENTRY_OVERHEAD, CacheInconsistencyError, Coin, _Entry
from wattchain.core.tx import OutPoint, TxIn, TxOut

cdef long OVERHEAD = _ENTRY_OVERHEAD
cdef object EntryType = _Entry, CoinType = Coin, TxOutType = TxOut
cdef TxSlots TX
load_tx_slots(&TX, TxIn, TxOut, OutPoint)
cdef CoinSlots CS
load_coin_slots(&CS, Coin, _Entry)


cdef inline object entry_of(object entry):
    if type(entry) is not EntryType:
        raise TypeError(f"coins cache entry of type {type(entry).__name__}")
    return entry


cdef inline long coin_usage(object coin) except? -1:
    """``coins._coin_usage``."""
    if coin is None:
        return OVERHEAD
    if type(coin) is CoinType:
        out = get_slot(coin, CS.coin_output)
        if type(out) is TxOutType:
            return OVERHEAD + PyBytes_GET_SIZE(get_slot(out, TX.out_script))
    return OVERHEAD + len(coin.output.script_pubkey)


def batch_write(parent, dict child_entries):
    """``CoinsViewCache._batch_write`` of ``child_entries`` into ``parent``."""
    cdef dict entries = parent._entries
    cdef long long usage = parent._usage
    for key, child in child_entries.items():
        entry_of(child)
        if not get_slot(child, CS.entry_dirty):
            continue
        mine = entries.get(key)
        coin = get_slot(child, CS.entry_coin)
        fresh = get_slot(child, CS.entry_fresh)
        if mine is None:
            if fresh and coin is None:
                continue  # created and spent below us: nothing to record
            # Only FRESH if the child says no layer below holds it unspent.
            mine = new_acyclic(_Entry)
            set_slot(mine, CS.entry_coin, coin)
            set_slot(mine, CS.entry_dirty, True)
            set_slot(mine, CS.entry_fresh, True if fresh else False)
            entries[key] = mine
            usage += coin_usage(coin)
            continue
        mine_coin = get_slot(entry_of(mine), CS.entry_coin)
        if fresh and mine_coin is not None:
            parent._usage = usage
            raise CacheInconsistencyError(
                f"FRESH coin {OutPoint(*key)} flushed over an unspent parent coin")
        if get_slot(mine, CS.entry_fresh) and coin is None:
            del entries[key]  # the grandparent never saw it
            usage -= coin_usage(mine_coin)
            continue
        usage += coin_usage(coin) - coin_usage(mine_coin)
        set_slot(mine, CS.entry_coin, coin)
        set_slot(mine, CS.entry_dirty, True)
    parent._usage = usage


# ------------------------------------------------------------------------------ undo records
cdef inline int varint_size(uint64_t n) noexcept:
    """Bytes of ``coins.write_varint(n)``."""
    cdef int size = 1
    while n > 0x7F:
        n = (n >> 7) - 1
        size += 1
    return size


cdef inline Py_ssize_t put_varint(uint8_t *out, uint64_t n) noexcept:
    """``coins.write_varint(n)`` into ``out`` (Core's VARINT); its length."""
    cdef int size = varint_size(n), i = size - 1
    out[i] = n & 0x7F
    while n > 0x7F:
        n = (n >> 7) - 1
        i -= 1
        out[i] = (n & 0x7F) | 0x80
    return size


cdef bint plain_coin(object coin, uint64_t *code, uint64_t *value) except -1:
    """Whether ``coin`` is a ``Coin`` of a ``TxOut`` with in-range int fields (else the Python
    ``Coin.serialize`` decides, errors included); its VARINT fields."""
    if type(coin) is not CoinType:
        return False
    out = get_slot(coin, CS.coin_output)
    height = get_slot(coin, CS.coin_height)
    if type(out) is not TxOutType or type(height) is not int:
        return False
    amount = get_slot(out, TX.out_value)
    if type(amount) is not int or type(get_slot(out, TX.out_script)) is not bytes:
        return False
    if not 0 <= height < (1 << 61) or not 0 <= amount < (1 << 63):
        return False
    code[0] = (<uint64_t>height) * 4 + (2 if get_slot(coin, CS.coin_coinstake) else 0) + (
        1 if get_slot(coin, CS.coin_coinbase) else 0)
    value[0] = <uint64_t>amount
    return True


def serialize_undo(object tx_undo):
    """``BlockUndo(tx_undo).serialize()``: CompactSize(#txs), then per transaction
    CompactSize(#coins) and each coin record. A coin this function does not model is written
    by ``Coin.serialize``; None unless ``tx_undo`` is a tuple of tuples (the caller then
    serializes it in Python)."""
    cdef Py_ssize_t size, n, pos
    cdef uint64_t code, value, script_len
    cdef uint8_t *out
    if type(tx_undo) is not tuple:
        return None
    for spent in <tuple>tx_undo:
        if type(spent) is not tuple:
            return None
    size = compact_size_len(len(tx_undo))
    for spent in <tuple>tx_undo:
        size += compact_size_len(len(spent))
        for coin in <tuple>spent:
            if plain_coin(coin, &code, &value):
                script_len = PyBytes_GET_SIZE(get_slot(get_slot(coin, CS.coin_output),
                                                       TX.out_script))
                size += (varint_size(code) + varint_size(value) + compact_size_len(script_len)
                         + script_len)
            else:
                size += len(coin.serialize())
    record = PyBytes_FromStringAndSize(NULL, size)
    out = <uint8_t *>PyBytes_AS_STRING(record)
    pos = put_compact(out, len(tx_undo))
    for spent in <tuple>tx_undo:
        pos += put_compact(out + pos, len(spent))
        for coin in <tuple>spent:
            if plain_coin(coin, &code, &value):
                script = get_slot(get_slot(coin, CS.coin_output), TX.out_script)
                n = PyBytes_GET_SIZE(script)
                pos += put_varint(out + pos, code)
                pos += put_varint(out + pos, value)
                pos += put_compact(out + pos, n)
                memcpy(out + pos, PyBytes_AS_STRING(script), n)
                pos += n
            else:
                other = coin.serialize()
                memcpy(out + pos, PyBytes_AS_STRING(other), PyBytes_GET_SIZE(other))
                pos += PyBytes_GET_SIZE(other)
    assert pos == size
    return record
