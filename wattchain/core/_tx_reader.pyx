# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled ``Transaction.read``: the same objects, and the same DecodeError messages, from a
C cursor.

Why: a full block is ~14,000 transactions. Decoding them through ``ByteReader`` took 0.34 s.
Computing their txids then took 0.22 s more, because each transaction was serialized again.
Together that was more than connecting the block. This reader builds the same
``Transaction``/``TxIn``/``TxOut``/``OutPoint`` objects. It fills the slots of the slotted
classes directly (``wattchain/core/_fast_slots.pxd`` explains why). It also stores the
wire bytes it has just read as the transaction's cached serializations. The bytes read are
the serialization: the reader rejects every non-canonical length. So ``txid`` and ``wtxid``
only hash them.

Every check of ``Transaction.read`` / ``ByteReader`` is made here in the same order, with the
same message (offsets count from the start of the reader's buffer). The differential tests in
``tests/test_tx_reader.py`` hold it to that.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from wattchain.core._fast_slots cimport TxSlots, load_tx_slots, new_acyclic, set_slot

from wattchain.core.errors import DecodeError
from wattchain.core.serialization import MAX_COMPACT_SIZE
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut

cdef extern from "Python.h":
    object PyType_GenericNew(PyTypeObject *t, PyObject *args, PyObject *kwds)
    int PyGC_Disable()
    int PyGC_Enable()

DEF MIN_TXIN_SIZE = 41
DEF MIN_TXOUT_SIZE = 9

cdef uint64_t LIMIT = MAX_COMPACT_SIZE
cdef TxSlots TX
load_tx_slots(&TX, TxIn, TxOut, OutPoint)
cdef tuple NO_WITNESS = ()


ctypedef struct Cursor:
    const unsigned char *data
    Py_ssize_t pos
    Py_ssize_t end


cdef int need(Cursor *c, Py_ssize_t n) except -1:
    """``ByteReader.read``'s length check."""
    if n < 0 or n > c.end - c.pos:
        raise DecodeError(f"truncated input: wanted {n} bytes at offset {c.pos}, "
                          f"{c.end - c.pos} left")
    return 0


cdef int read_u8(Cursor *c) except -1:
    if c.pos >= c.end:
        raise DecodeError(f"truncated input at offset {c.pos}")
    c.pos += 1
    return c.data[c.pos - 1]


cdef uint64_t little(Cursor *c, int size) except? 0:
    """A little-endian unsigned integer of ``size`` bytes (checked like ``read(size)``)."""
    cdef uint64_t value = 0
    cdef int i
    need(c, size)
    for i in range(size - 1, -1, -1):
        value = (value << 8) | c.data[c.pos + i]
    c.pos += size
    return value


cdef uint64_t compact_size(Cursor *c) except? 0:
    cdef int first = read_u8(c)
    cdef uint64_t n
    if first < 0xFD:
        n = first
    elif first == 0xFD:
        n = little(c, 2)
        if n < 0xFD:
            raise DecodeError("non-canonical CompactSize")
    elif first == 0xFE:
        n = little(c, 4)
        if n <= 0xFFFF:
            raise DecodeError("non-canonical CompactSize")
    else:
        n = little(c, 8)
        if n <= 0xFFFFFFFF:
            raise DecodeError("non-canonical CompactSize")
    if n > LIMIT:
        raise DecodeError(f"size {n} exceeds limit {LIMIT}")
    return n


cdef Py_ssize_t count(Cursor *c, Py_ssize_t min_item_size) except -1:
    cdef Py_ssize_t n = <Py_ssize_t>compact_size(c)
    cdef Py_ssize_t remaining = c.end - c.pos
    if n > remaining // min_item_size:
        raise DecodeError(f"count {n} cannot fit in the {remaining} bytes left")
    return n


cdef bytes take(Cursor *c, Py_ssize_t n):
    need(c, n)
    c.pos += n
    return PyBytes_FromStringAndSize(<const char *>c.data + c.pos - n, n)


cdef bytes var_bytes(Cursor *c):
    return take(c, <Py_ssize_t>compact_size(c))


cdef list read_inputs(Cursor *c):
    """``tx._read_inputs``: TxIn objects without witness."""
    cdef Py_ssize_t n = count(c, MIN_TXIN_SIZE), i
    cdef list inputs = []
    for i in range(n):
        outpoint = new_acyclic(OutPoint)
        set_slot(outpoint, TX.outpoint_txid, take(c, 32))
        set_slot(outpoint, TX.outpoint_index, little(c, 4))
        txin = new_acyclic(TxIn)
        set_slot(txin, TX.in_prevout, outpoint)
        set_slot(txin, TX.in_script_sig, var_bytes(c))
        set_slot(txin, TX.in_sequence, little(c, 4))
        set_slot(txin, TX.in_witness, NO_WITNESS)
        inputs.append(txin)
    return inputs


cdef list read_outputs(Cursor *c):
    cdef Py_ssize_t n = count(c, MIN_TXOUT_SIZE), i
    cdef list outputs = []
    cdef int64_t value
    for i in range(n):
        value = <int64_t>little(c, 8)
        txout = new_acyclic(TxOut)
        set_slot(txout, TX.out_value, value)
        set_slot(txout, TX.out_script, var_bytes(c))
        outputs.append(txout)
    return outputs


def read_transaction(bytes data not None, Py_ssize_t pos, Py_ssize_t end,
                     bint allow_witness=True):
    """``Transaction.read`` on ``data[pos:end]``: ``(transaction, position after it)``."""
    cdef Cursor c
    if not (0 <= pos <= end <= PyBytes_GET_SIZE(data)):
        raise ValueError("position outside the data")
    c.data = <const unsigned char *>PyBytes_AS_STRING(data)
    c.pos = pos
    c.end = end
    tx = read_one(&c, allow_witness)
    return tx, c.pos


def read_transactions(bytes data not None, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t n):
    """``n`` transactions in a row (a block's): ``(tuple of transactions, position after)``.

    The garbage collector is paused meanwhile, as in ``connect_block``: a full block is ~10^5
    new objects, none in a reference cycle, and each collection they would trigger walks the
    node's whole heap."""
    cdef Cursor c
    cdef Py_ssize_t i
    cdef int collecting
    if not (0 <= pos <= end <= PyBytes_GET_SIZE(data)) or n < 0:
        raise ValueError("position outside the data")
    c.data = <const unsigned char *>PyBytes_AS_STRING(data)
    c.pos = pos
    c.end = end
    cdef list txs = []
    collecting = PyGC_Disable()
    try:
        for i in range(n):
            txs.append(read_one(&c, True))
    finally:
        if collecting:
            PyGC_Enable()
    return tuple(txs), c.pos


cdef object read_one(Cursor *cursor, bint allow_witness):
    """``Transaction.read`` at the cursor."""
    cdef Cursor c = cursor[0]
    cdef Py_ssize_t start = c.pos, body_start, body_end, i, n_items
    cdef int flags = 0
    cdef bint any_witness = False
    cdef list inputs, outputs
    version = little(&c, 4)
    body_start = c.pos
    inputs = read_inputs(&c)
    if not inputs and allow_witness:
        flags = read_u8(&c)
        if flags != 0:
            body_start = c.pos
            inputs = read_inputs(&c)
            outputs = read_outputs(&c)
        else:
            outputs = []
    else:
        outputs = read_outputs(&c)
    body_end = c.pos
    if flags & 1 and allow_witness:
        flags ^= 1
        for i in range(len(inputs)):
            n_items = count(&c, 1)
            stack = tuple([var_bytes(&c) for _ in range(n_items)])
            any_witness = any_witness or n_items > 0
            set_slot(inputs[i], TX.in_witness, stack)
        if not any_witness:
            raise DecodeError("superfluous witness record")
    if flags:
        raise DecodeError("unknown transaction optional data")
    locktime = little(&c, 4)
    tx = PyType_GenericNew(<PyTypeObject *>Transaction, NULL, NULL)
    fields = tx.__dict__
    fields["version"] = version
    fields["inputs"] = tuple(inputs)
    fields["outputs"] = tuple(outputs)
    fields["locktime"] = locktime
    # The cached serializations (see the module docstring).
    if any_witness:
        base = PyBytes_FromStringAndSize(NULL, 8 + body_end - body_start)
        memcpy(PyBytes_AS_STRING(base), c.data + start, 4)
        memcpy(PyBytes_AS_STRING(base) + 4, c.data + body_start, body_end - body_start)
        memcpy(PyBytes_AS_STRING(base) + 4 + body_end - body_start, c.data + c.pos - 4, 4)
        fields["_serialized_with_witness"] = PyBytes_FromStringAndSize(
            <const char *>c.data + start, c.pos - start)
    else:
        base = PyBytes_FromStringAndSize(<const char *>c.data + start, c.pos - start)
    fields["_serialized_without_witness"] = base
    fields["has_witness"] = any_witness
    cursor.pos = c.pos
    return tx
