# Direct access to ``__slots__`` fields of the consensus dataclasses (TxIn, TxOut, OutPoint,
# Coin) and of the coins cache's _Entry, for the compiled modules that build or read them by
# the thousand: the block fast path (wattchain/consensus/_connect_fast.pyx), the cache flush
# (wattchain/consensus/_coins_flush.pyx) and the transaction reader (wattchain/core/_tx_reader.pyx).
#
# Why: ``obj.field`` from C goes through the generic attribute lookup. That is a type-dict
# probe for the descriptor, then the member descriptor's getter, ~40 ns. A full block makes
# ~45 such reads and writes per transaction, about a fifth of the loop's own time. A slot is a
# fixed offset in the object, read once from the class's member descriptor at import, so the
# read becomes one load. Callers check the object's exact type first (a subclass could
# override a field with a property) and hand anything else to the Python path.
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

cdef extern from "Python.h":
    object PyType_GenericNew(PyTypeObject *t, PyObject *args, PyObject *kwds)
    void PyObject_GC_UnTrack(void *op)
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member

DEF T_OBJECT_EX = 16


cdef inline Py_ssize_t slot_offset(type cls, str name) except -1:
    """The offset of ``cls``'s slot ``name`` (raises unless it is a plain object slot)."""
    descr = cls.__dict__[name]
    if type(descr).__name__ != "member_descriptor":
        raise TypeError(f"{cls.__name__}.{name} is not a __slots__ field")
    if (<PyMemberDescrObject *>descr).d_member.type != T_OBJECT_EX:
        raise TypeError(f"{cls.__name__}.{name} is not an object slot")
    return (<PyMemberDescrObject *>descr).d_member.offset


cdef inline object new_acyclic(type cls):
    """A new ``cls`` with its slots unset (the caller fills them, as ``__init__`` would) that
    the cycle collector does not track.

    Only for the value classes named at the top of this file. Their slots hold bytes, ints,
    bools, None, tuples of bytes and other such value objects, never a container that could
    lead back to them, so they can never be part of a reference cycle. CPython untracks
    tuples and dicts of atomic values for the same reason. Why bother: a full block makes
    ~10^5 of them and most stay alive in the coins cache. Every collection that ran after a
    block walked them all, ~0.2 s per full block in the node (two collections of ~0.1 s)."""
    obj = PyType_GenericNew(<PyTypeObject *>cls, NULL, NULL)
    PyObject_GC_UnTrack(<void *>obj)
    return obj


cdef inline object untracked(object obj):
    """``obj`` (a container just built here, holding only values that cannot reach back to
    it) left out of the cycle collector, which would otherwise walk it in every collection
    until it dies; see ``new_acyclic``."""
    PyObject_GC_UnTrack(<void *>obj)
    return obj


cdef inline object get_slot(object obj, Py_ssize_t offset):
    """``obj.<slot at offset>`` (AttributeError if unset, as the attribute read would)."""
    cdef PyObject *value = (<PyObject **>((<char *><PyObject *>obj) + offset))[0]
    if value == NULL:
        raise AttributeError("slot is not set")
    return <object>value


cdef inline void set_slot(object obj, Py_ssize_t offset, object value) noexcept:
    """``obj.<slot at offset> = value`` (what the member descriptor's setter does; frozen
    dataclasses are only written here while being built, as their ``__init__`` does)."""
    cdef PyObject **where = <PyObject **>((<char *><PyObject *>obj) + offset)
    cdef PyObject *old = where[0]
    Py_INCREF(value)
    where[0] = <PyObject *>value
    Py_XDECREF(old)


#: The slots of the transaction classes (``core.tx``), loaded once per module at import.
ctypedef struct TxSlots:
    Py_ssize_t in_prevout, in_script_sig, in_sequence, in_witness
    Py_ssize_t out_value, out_script, outpoint_txid, outpoint_index


cdef inline int load_tx_slots(TxSlots *s, type txin, type txout, type outpoint) except -1:
    s.in_prevout = slot_offset(txin, "prevout")
    s.in_script_sig = slot_offset(txin, "script_sig")
    s.in_sequence = slot_offset(txin, "sequence")
    s.in_witness = slot_offset(txin, "witness")
    s.out_value = slot_offset(txout, "value")
    s.out_script = slot_offset(txout, "script_pubkey")
    s.outpoint_txid = slot_offset(outpoint, "txid")
    s.outpoint_index = slot_offset(outpoint, "index")
    return 0


#: The slots of ``consensus.coins.Coin`` and of the coins cache's ``_Entry`` (passed in: this
#: file is below the consensus layer).
ctypedef struct CoinSlots:
    Py_ssize_t coin_output, coin_height, coin_coinbase, coin_coinstake
    Py_ssize_t entry_coin, entry_dirty, entry_fresh


cdef inline int load_coin_slots(CoinSlots *s, type coin, type entry) except -1:
    s.coin_output = slot_offset(coin, "output")
    s.coin_height = slot_offset(coin, "height")
    s.coin_coinbase = slot_offset(coin, "is_coinbase")
    s.coin_coinstake = slot_offset(coin, "is_coinstake")
    s.entry_coin = slot_offset(entry, "coin")
    s.entry_dirty = slot_offset(entry, "dirty")
    s.entry_fresh = slot_offset(entry, "fresh")
    return 0
