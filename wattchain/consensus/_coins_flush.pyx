# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled ``CoinsViewCache._batch_write`` (Core's BatchWrite): a child cache's dirty entries
moved into its parent, with the same entries, flags, usage and error as the Python reference
``CoinsViewCache._batch_write_py``.

Why: the node flushes every connected block's view into the chain-state cache, tens of
thousands of entries per full block. With a Python frame per entry that flush cost about as
much as the rest of the block's non-signature work. Slots are read and written by offset (see
``_fast_slots.pxd``) after an exact type check.
"""

from cpython.bytes cimport PyBytes_GET_SIZE

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
