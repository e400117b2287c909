"""Signature hashes: legacy (pre-SegWit) and BIP143 (SegWit v0).

BIP143's three midstates (hashPrevouts, hashSequence, hashOutputs) depend only on the
transaction, so :class:`PrecomputedTransactionData` computes each once per transaction and all
inputs share them; this is what makes SegWit signature hashing linear rather than quadratic.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct, pack
from typing import Any

from wattchain.core.hashes import sha256d
from wattchain.core.serialization import compact_size, i64, u32, var_bytes
from wattchain.core.tx import Transaction
from wattchain.script.opcodes import Op

SIGHASH_ALL = 0x01
SIGHASH_NONE = 0x02
SIGHASH_SINGLE = 0x03
SIGHASH_ANYONECANPAY = 0x80

#: The value legacy sighash returns for SIGHASH_SINGLE without a matching output (and for an
#: input index out of range): uint256(1). Signatures over it are valid; Bitcoin keeps the bug.
SIGHASH_ONE = b"\x01" + bytes(31)

_EMPTY_OUTPUT = pack("<q", -1) + b"\x00"
_U32 = Struct("<I")
#: BIP143 preimage head: version, hashPrevouts, hashSequence, outpoint (txid, index).
_BIP143_HEAD = Struct("<I32s32s32sI")
#: BIP143 preimage tail: amount, sequence, hashOutputs, locktime, hash type.
_BIP143_TAIL = Struct("<qI32sII")

_PUSHDATA1, _PUSHDATA2, _PUSHDATA4 = int(Op.OP_PUSHDATA1), int(Op.OP_PUSHDATA2), int(Op.OP_PUSHDATA4)
_CODESEPARATOR = int(Op.OP_CODESEPARATOR)


class _Once:
    """A lazily computed attribute stored in the instance ``__dict__`` on first use (so later
    reads are plain attribute hits). Like ``functools.cached_property`` minus its per-access
    lock, which costs more than the hashing for the small transactions of a full block."""

    def __init__(self, compute: Callable[["PrecomputedTransactionData"], bytes]) -> None:
        self.compute = compute
        self.name = compute.__name__

    def __get__(self, obj: "PrecomputedTransactionData | None", owner: type) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


class PrecomputedTransactionData:
    """Per-transaction BIP143 midstates, each computed on first use and then shared."""

    __slots__ = ("tx", "__dict__")

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    @_Once
    def hash_prevouts(self) -> bytes:
        return sha256d(b"".join(txin.prevout.serialize() for txin in self.tx.inputs))

    @_Once
    def hash_sequence(self) -> bytes:
        return sha256d(b"".join(_U32.pack(txin.sequence) for txin in self.tx.inputs))

    @_Once
    def hash_outputs(self) -> bytes:
        return sha256d(b"".join(out.serialize() for out in self.tx.outputs))


def legacy_signature_hash(script_code: bytes, tx: Transaction, input_index: int,
                          hash_type: int) -> bytes:
    """Bitcoin's original signature hash.

    ``script_code`` must already have had the signature removed (FindAndDelete) by the caller;
    OP_CODESEPARATORs are removed here. ``hash_type`` is the signed 32-bit value; its full
    32 bits are committed to, while only the low 5 bits and the 0x80 bit select behaviour.
    """
    if input_index >= len(tx.inputs):
        return SIGHASH_ONE
    base_type = hash_type & 0x1F
    anyone_can_pay = bool(hash_type & SIGHASH_ANYONECANPAY)
    if base_type == SIGHASH_SINGLE and input_index >= len(tx.outputs):
        return SIGHASH_ONE
    zero_other_sequences = base_type in (SIGHASH_NONE, SIGHASH_SINGLE)
    serialized_script_code = _serialize_legacy_script_code(script_code)

    parts = [u32(tx.version)]
    chosen = [input_index] if anyone_can_pay else range(len(tx.inputs))
    parts.append(compact_size(len(chosen)))
    for i in chosen:
        txin = tx.inputs[i]
        parts.append(txin.prevout.serialize())
        if i == input_index:
            parts.append(serialized_script_code)
            parts.append(u32(txin.sequence))
        else:
            parts.append(b"\x00")
            parts.append(u32(0 if zero_other_sequences else txin.sequence))
    if base_type == SIGHASH_NONE:
        parts.append(b"\x00")
    elif base_type == SIGHASH_SINGLE:
        parts.append(compact_size(input_index + 1))
        parts.extend(_EMPTY_OUTPUT for _ in range(input_index))
        parts.append(tx.outputs[input_index].serialize())
    else:
        parts.append(compact_size(len(tx.outputs)))
        parts.extend(out.serialize() for out in tx.outputs)
    parts.append(u32(tx.locktime))
    parts.append(u32(hash_type & 0xFFFFFFFF))
    return sha256d(b"".join(parts))


def _serialize_legacy_script_code(script: bytes) -> bytes:
    """Length-prefixed scriptCode with OP_CODESEPARATORs dropped, byte for byte as Core writes it.

    Core's serializer (CTransactionSignatureSerializer::SerializeScriptCode) writes the length
    ``len(script) - separators`` but, if a push is truncated, copies bytes only up to where its
    tokenizer stopped: just past the opcode byte and any complete length field. The result then
    holds fewer bytes than its prefix announces. Such a script can never execute successfully,
    but the legacy sighash (and sighash.json-style conformance) still depends on these bytes.
    """
    n = len(script)
    pos = 0
    copy_from = 0
    separators = 0
    out = bytearray()
    stop = n
    while pos < n:
        opcode = script[pos]
        op_start = pos
        pos += 1
        if opcode <= _PUSHDATA4:
            if opcode < _PUSHDATA1:
                size = opcode
            else:
                width = 1 if opcode == _PUSHDATA1 else 2 if opcode == _PUSHDATA2 else 4
                if n - pos < width:
                    stop = pos
                    break
                size = int.from_bytes(script[pos:pos + width], "little")
                pos += width
            if n - pos < size:
                stop = pos
                break
            pos += size
        elif opcode == _CODESEPARATOR:
            out += script[copy_from:op_start]
            copy_from = pos
            separators += 1
    if copy_from != n:
        out += script[copy_from:stop]
    return compact_size(n - separators) + bytes(out)


def segwit_v0_signature_hash(script_code: bytes, tx: Transaction, input_index: int,
                             hash_type: int, amount: int,
                             precomputed: PrecomputedTransactionData | None = None) -> bytes:
    """BIP143 signature hash for SegWit v0 inputs (commits to the spent amount)."""
    if precomputed is None:
        precomputed = PrecomputedTransactionData(tx)
    base_type = hash_type & 0x1F
    anyone_can_pay = bool(hash_type & SIGHASH_ANYONECANPAY)
    zero = bytes(32)
    hash_prevouts = zero if anyone_can_pay else precomputed.hash_prevouts
    if anyone_can_pay or base_type in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_sequence = zero
    else:
        hash_sequence = precomputed.hash_sequence
    if base_type not in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_outputs = precomputed.hash_outputs
    elif base_type == SIGHASH_SINGLE and input_index < len(tx.outputs):
        hash_outputs = sha256d(tx.outputs[input_index].serialize())
    else:
        hash_outputs = zero
    txin = tx.inputs[input_index]
    prevout = txin.prevout
    if len(prevout.txid) != 32:  # only a hand-built object; serialize it as it is
        return sha256d(b"".join((
            u32(tx.version), hash_prevouts, hash_sequence, prevout.serialize(),
            var_bytes(script_code), i64(amount), u32(txin.sequence), hash_outputs,
            u32(tx.locktime), u32(hash_type & 0xFFFFFFFF))))
    preimage = (_BIP143_HEAD.pack(tx.version, hash_prevouts, hash_sequence, prevout.txid,
                                  prevout.index)
                + var_bytes(script_code)
                + _BIP143_TAIL.pack(amount, txin.sequence, hash_outputs, tx.locktime,
                                    hash_type & 0xFFFFFFFF))
    return sha256d(preimage)
