# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled context-free block checks: one C pass over a block's transactions for
``check_block``, and merkle roots over 32-byte hashes.

Why: ``check_block`` on a just-decoded full block took 0.13-0.2 s. Most of it went on
Python calls per transaction: hashing the txid and wtxid, ``check_transaction``, the
legacy sigop count and the contract-output scan. On top came a Python-level SHA-256d per
merkle node, for the txid root here and for the wtxid root in ``contextual``.

This module decides nothing. ``scan_transactions`` says which transactions certainly pass
``check_transaction``, with their sigops, whether they are a coinbase or shaped like a
coinstake, and whether they can hold a contract output; it caches their txid and wtxid.
``block_check`` runs the Python checks on every other transaction, in block order, so each
failure is reported by the Python code with its reason.
``merkle_root`` is ``core.merkle.merkle_root`` for 32-byte items. The differential tests in
``tests/consensus/test_block_scan.py`` hold both to the Python reference.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy

from wattchain.consensus._fast_bytes cimport count_sigops, may_be_contract
from wattchain.core._fast_slots cimport TxSlots, get_slot, load_tx_slots
from wattchain.script._fastpaths cimport sha256d_into

from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut

DEF MAX_PAIRWISE = 64  # inputs checked for duplicates pairwise; more go to the Python set
DEF NULL_INDEX = 0xFFFFFFFF

#: ``status`` values of ``scan_transactions``.
DEF UNCHECKED = 0
DEF PASSES = 1
DEF PASSES_COINBASE = 2
DEF PASSES_COINSTAKE_SHAPE = 3  # and ``tx_verify.is_coinstake`` says True

cdef object TransactionType = Transaction, TxInType = TxIn, TxOutType = TxOut
cdef object OutPointType = OutPoint
cdef TxSlots TX
load_tx_slots(&TX, TxIn, TxOut, OutPoint)
cdef uint8_t ZERO[32]  # static storage: all zero, the null prevout's txid


cdef bytes hash_bytes(bytes data):
    cdef uint8_t digest[32]
    sha256d_into(<const uint8_t *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), digest)
    return PyBytes_FromStringAndSize(<const char *>digest, 32)


cdef int check_one(object tx, int64_t max_money, long max_weight, long *sigops,
                   bint *contract_free) except -1:
    """``check_transaction(tx)`` decided without raising: PASSES, PASSES_COINBASE, or
    UNCHECKED (it may fail, or is not a shape modelled here: the Python check decides).
    On a pass, ``sigops`` gets its legacy sigop count (``legacy_sigop_count``) and
    ``contract_free`` whether no output can be a contract output (``may_be_contract``), and
    the transaction's cached ``txid``, ``wtxid`` and ``has_witness`` are filled in."""
    cdef tuple inputs, outputs
    cdef Py_ssize_t n_in, n_out, i, j, n
    cdef int64_t total = 0
    cdef long count = 0
    cdef bint coinbase = False, free_of_contracts = True, witness = False
    cdef const uint8_t *p
    if type(tx) is not TransactionType:
        return UNCHECKED
    fields = getattr(tx, "__dict__", None)  # the cached properties live there
    if type(fields) is not dict:
        return UNCHECKED
    inputs_obj = (<dict>fields).get("inputs")
    outputs_obj = fields.get("outputs")
    if type(inputs_obj) is not tuple or type(outputs_obj) is not tuple:
        return UNCHECKED
    inputs = inputs_obj
    outputs = outputs_obj
    n_in = len(inputs)
    n_out = len(outputs)
    if n_in == 0 or n_out == 0 or n_in > MAX_PAIRWISE:
        return UNCHECKED
    base = fields.get("_serialized_without_witness")
    if base is None:
        base = tx.serialize(include_witness=False)  # what the Python check computes
    if type(base) is not bytes or PyBytes_GET_SIZE(base) * 4 > max_weight:
        return UNCHECKED
    for i in range(n_out):
        out = outputs[i]
        if type(out) is not TxOutType:
            return UNCHECKED
        value = get_slot(out, TX.out_value)
        spk = get_slot(out, TX.out_script)
        if type(value) is not int or type(spk) is not bytes:
            return UNCHECKED
        if not 0 <= value <= max_money:
            return UNCHECKED
        total += <int64_t>value
        if total > max_money:
            return UNCHECKED
        p = <const uint8_t *>PyBytes_AS_STRING(spk)
        n = PyBytes_GET_SIZE(spk)
        count += count_sigops(p, n, False)
        if free_of_contracts and may_be_contract(p, n):
            free_of_contracts = False
    for i in range(n_in):
        txin = inputs[i]
        if type(txin) is not TxInType:
            return UNCHECKED
        prevout = get_slot(txin, TX.in_prevout)
        script_sig = get_slot(txin, TX.in_script_sig)
        stack = get_slot(txin, TX.in_witness)
        if type(prevout) is not OutPointType or type(script_sig) is not bytes or (
                type(stack) is not tuple):
            return UNCHECKED
        txid = get_slot(prevout, TX.outpoint_txid)
        index = get_slot(prevout, TX.outpoint_index)
        if type(txid) is not bytes or PyBytes_GET_SIZE(txid) != 32 or type(index) is not int:
            return UNCHECKED
        for j in range(i):  # bad-txns-inputs-duplicate (OutPoint equality)
            other = get_slot(inputs[j], TX.in_prevout)
            if get_slot(other, TX.outpoint_index) == index and memcmp(
                    PyBytes_AS_STRING(get_slot(other, TX.outpoint_txid)),
                    PyBytes_AS_STRING(txid), 32) == 0:
                return UNCHECKED
        if index == NULL_INDEX and memcmp(PyBytes_AS_STRING(txid), ZERO, 32) == 0:
            if n_in != 1:
                return UNCHECKED  # bad-txns-prevout-null
            coinbase = True
            if not 2 <= PyBytes_GET_SIZE(script_sig) <= 100:
                return UNCHECKED  # bad-cb-length
        count += count_sigops(<const uint8_t *>PyBytes_AS_STRING(script_sig),
                              PyBytes_GET_SIZE(script_sig), False)
        if len(<tuple>stack):
            witness = True
    # Passed: cache the identities the merkle roots need (as the cached properties would).
    if fields.get("txid") is None:
        fields["txid"] = hash_bytes(base)
    if fields.get("wtxid") is None:
        if not witness:
            fields["wtxid"] = fields["txid"]
        else:
            full = fields.get("_serialized_with_witness")
            if full is None:
                full = tx.serialize(include_witness=True)
            if type(full) is not bytes:
                return UNCHECKED
            fields["wtxid"] = hash_bytes(full)
    if fields.get("has_witness") is None:
        fields["has_witness"] = witness
    sigops[0] = count
    contract_free[0] = free_of_contracts
    if coinbase:
        return PASSES_COINBASE
    out = outputs[0]  # is_coinstake: a real first prevout (not a coinbase), 2+ outputs, and
    if n_out >= 2 and get_slot(out, TX.out_value) == 0 and (  # an empty marker output first
            PyBytes_GET_SIZE(get_slot(out, TX.out_script)) == 0):
        return PASSES_COINSTAKE_SHAPE
    return PASSES


def scan_transactions(list txs, int64_t max_money, long max_weight):
    """One pass over ``txs``: (status, contract_free, legacy sigops of the passing ones).

    ``status[i]`` is 1 if ``txs[i]`` passes ``check_transaction`` and is not a coinbase, 2 if
    it passes and is a coinbase, 3 if it passes and has a coinstake's shape
    (``is_coinstake``), 0 if the Python check must decide (and count its sigops).
    ``contract_free[i]`` is 1 when a passing transaction has no output that may be a contract
    output (``find_contract_transactions`` skips it)."""
    cdef Py_ssize_t n = len(txs), k
    cdef bytearray status = bytearray(n), contract_free = bytearray(n)
    cdef char *status_flags = status
    cdef char *free_flags = contract_free
    cdef long total = 0, sigops = 0
    cdef bint free_of_contracts = False
    cdef int code
    for k in range(n):
        code = check_one(txs[k], max_money, max_weight, &sigops, &free_of_contracts)
        status_flags[k] = code
        if code != UNCHECKED:
            total += sigops
            free_flags[k] = free_of_contracts
    return status, contract_free, total


def merkle_root(list hashes):
    """``core.merkle.merkle_root(hashes)``, or None if some item is not 32 bytes (the caller
    then uses the Python function, which defines the result for any input)."""
    cdef Py_ssize_t n = len(hashes), i
    cdef uint8_t *level
    cdef uint8_t digest[32]
    cdef bint mutated = False
    if n == 0:
        return bytes(32), False
    for i in range(n):
        item = hashes[i]
        if type(item) is not bytes or PyBytes_GET_SIZE(item) != 32:
            return None
    level = <uint8_t *>malloc((n + 1) * 32)  # + 1: an odd level's duplicated last hash
    if level == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            memcpy(level + 32 * i, PyBytes_AS_STRING(hashes[i]), 32)
        while n > 1:
            for i in range(0, n - 1, 2):  # CVE-2012-2459: equal siblings anywhere
                if memcmp(level + 32 * i, level + 32 * (i + 1), 32) == 0:
                    mutated = True
            if n % 2:
                memcpy(level + 32 * n, level + 32 * (n - 1), 32)
                n += 1
            for i in range(n // 2):  # node i overwrites only pairs already hashed
                sha256d_into(level + 64 * i, 64, digest)
                memcpy(level + 32 * i, digest, 32)
            n //= 2
        return PyBytes_FromStringAndSize(<const char *>level, 32), mutated
    finally:
        free(level)
