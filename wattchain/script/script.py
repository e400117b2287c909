"""Script bytes: tokenizing, building, and the structural predicates consensus needs.

Scripts are plain ``bytes`` everywhere; these helpers read and write them. Tokenizing is
allocation-light (one small object per op) because the interpreter and sigop counting use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from wattchain.script.number import encode_num
from wattchain.script.opcodes import MAX_PUBKEYS_PER_MULTISIG, Op, decode_small_int

_PUSHDATA1, _PUSHDATA2, _PUSHDATA4 = Op.OP_PUSHDATA1, Op.OP_PUSHDATA2, Op.OP_PUSHDATA4


class ScriptParseError(ValueError):
    """A push runs past the end of the script (Core's GetOp returning false)."""


@dataclass(frozen=True, slots=True)
class ScriptOp:
    """One tokenized operation: ``data`` is the pushed bytes for push opcodes, else None."""

    opcode: int
    data: bytes | None
    start: int
    end: int


def iter_script(script: bytes, start: int = 0) -> Iterator[ScriptOp]:
    """Yield the operations of ``script`` from offset ``start``.

    Raises ScriptParseError on a truncated push, after yielding every op before it.
    """
    pos = start
    n = len(script)
    while pos < n:
        start = pos
        opcode = script[pos]
        pos += 1
        data = None
        if opcode <= _PUSHDATA4:
            if opcode < _PUSHDATA1:
                size = opcode
            elif opcode == _PUSHDATA1:
                if pos + 1 > n:
                    raise ScriptParseError("truncated OP_PUSHDATA1 length")
                size = script[pos]
                pos += 1
            elif opcode == _PUSHDATA2:
                if pos + 2 > n:
                    raise ScriptParseError("truncated OP_PUSHDATA2 length")
                size = int.from_bytes(script[pos:pos + 2], "little")
                pos += 2
            else:
                if pos + 4 > n:
                    raise ScriptParseError("truncated OP_PUSHDATA4 length")
                size = int.from_bytes(script[pos:pos + 4], "little")
                pos += 4
            if pos + size > n:
                raise ScriptParseError("push past the end of the script")
            data = script[pos:pos + size]
            pos += size
        yield ScriptOp(opcode, data, start, pos)


def parse_ops(script: bytes) -> list[ScriptOp] | None:
    """All operations, or None if the script does not tokenize."""
    try:
        return list(iter_script(script))
    except ScriptParseError:
        return None


# ---------------------------------------------------------------------------- building
def push_data(data: bytes) -> bytes:
    """The minimal push of ``data`` (small-integer opcodes for 1-byte 1..16 and 0x81)."""
    n = len(data)
    if n == 0:
        return bytes((Op.OP_0,))
    if n == 1 and 1 <= data[0] <= 16:
        return bytes((Op.OP_1 + data[0] - 1,))
    if n == 1 and data[0] == 0x81:
        return bytes((Op.OP_1NEGATE,))
    if n < _PUSHDATA1:
        return bytes((n,)) + data
    if n <= 0xFF:
        return bytes((_PUSHDATA1, n)) + data
    if n <= 0xFFFF:
        return bytes((_PUSHDATA2,)) + n.to_bytes(2, "little") + data
    return bytes((_PUSHDATA4,)) + n.to_bytes(4, "little") + data


def push_int(n: int) -> bytes:
    """Push a number: OP_0, OP_1NEGATE, OP_1..OP_16 or a minimal CScriptNum push."""
    if n == 0:
        return bytes((Op.OP_0,))
    if n == -1:
        return bytes((Op.OP_1NEGATE,))
    if 1 <= n <= 16:
        return bytes((Op.OP_1 + n - 1,))
    return push_data(encode_num(n))


def build_script(*items: int | bytes) -> bytes:
    """Concatenate opcodes (ints, including :class:`Op`) and data pushes (bytes)."""
    out = bytearray()
    for item in items:
        if isinstance(item, (bytes, bytearray)):
            out += push_data(bytes(item))
        else:
            out.append(int(item))
    return bytes(out)


# ---------------------------------------------------------------------------- predicates
def is_push_only(script: bytes) -> bool:
    """True if every op is a push (OP_RESERVED counts as a push here, as in Core)."""
    try:
        return all(op.opcode <= Op.OP_16 for op in iter_script(script))
    except ScriptParseError:
        return False


def is_p2sh(script: bytes) -> bool:
    return (len(script) == 23 and script[0] == Op.OP_HASH160 and script[1] == 0x14
            and script[22] == Op.OP_EQUAL)


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """(version, program) if ``script`` is a witness program (BIP141), else None."""
    n = len(script)
    if n < 4 or n > 42:
        return None
    first = script[0]
    if first != Op.OP_0 and not Op.OP_1 <= first <= Op.OP_16:
        return None
    if script[1] + 2 != n:
        return None
    return decode_small_int(first), script[2:]


def is_unspendable(script: bytes) -> bool:
    """Provably unspendable: starts with OP_RETURN or is larger than the script size limit."""
    return (len(script) > 0 and script[0] == Op.OP_RETURN) or len(script) > 10_000


def count_sigops(script: bytes, accurate: bool) -> int:
    """Legacy sigop count (Core's GetSigOpCount).

    With ``accurate`` a CHECKMULTISIG preceded by OP_1..OP_16 counts that many keys, else 20.
    Counting stops at the first unparsable byte, as in Core.

    Why it does not use :func:`iter_script`: every input and output of every block transaction
    is counted, so this walks the bytes directly (no op objects), and the standard output
    templates, which contain no sigop opcode outside their pushes, are answered by shape.
    """
    n = len(script)
    if n == 0:
        return 0
    first = script[0]
    if first == 0 and (n == 22 and script[1] == 20 or n == 34 and script[1] == 32):
        return 0  # P2WPKH / P2WSH
    if n == 23 and first == 0xA9 and script[1] == 20 and script[22] == 0x87:
        return 0  # P2SH
    if n == 25 and first == 0x76 and script[1] == 0xA9 and script[2] == 20 and (
            script[23] == 0x88 and script[24] == 0xAC):
        return 1  # P2PKH
    return _count_sigops_walk(script, accurate)


def _count_sigops_walk(script: bytes, accurate: bool) -> int:
    """The general case of :func:`count_sigops`: Core's GetOp loop over the raw bytes."""
    count = 0
    last = 0xFF  # OP_INVALIDOPCODE
    pos = 0
    n = len(script)
    while pos < n:
        code = script[pos]
        pos += 1
        if code <= 0x4E:  # pushes: skip the data (a truncated push ends the count)
            if code < 0x4C:
                size = code
            elif code == 0x4C:
                if pos + 1 > n:
                    break
                size = script[pos]
                pos += 1
            elif code == 0x4D:
                if pos + 2 > n:
                    break
                size = script[pos] | script[pos + 1] << 8
                pos += 2
            else:
                if pos + 4 > n:
                    break
                size = int.from_bytes(script[pos:pos + 4], "little")
                pos += 4
            if pos + size > n:
                break
            pos += size
        elif code == 0xAC or code == 0xAD:  # OP_CHECKSIG(VERIFY)
            count += 1
        elif code == 0xAE or code == 0xAF:  # OP_CHECKMULTISIG(VERIFY)
            if accurate and 0x51 <= last <= 0x60:
                count += last - 0x50
            else:
                count += MAX_PUBKEYS_PER_MULTISIG
        last = code
    return count


def count_sigops_reference(script: bytes, accurate: bool) -> int:
    """:func:`count_sigops` written over :func:`iter_script`: the reference the fast walk is
    tested against."""
    count = 0
    last = Op.OP_INVALIDOPCODE
    try:
        for op in iter_script(script):
            code = op.opcode
            if code in (Op.OP_CHECKSIG, Op.OP_CHECKSIGVERIFY):
                count += 1
            elif code in (Op.OP_CHECKMULTISIG, Op.OP_CHECKMULTISIGVERIFY):
                if accurate and Op.OP_1 <= last <= Op.OP_16:
                    count += decode_small_int(last)
                else:
                    count += MAX_PUBKEYS_PER_MULTISIG
            last = code
    except ScriptParseError:
        pass
    return count


def find_and_delete(script: bytes, pattern: bytes) -> tuple[bytes, int]:
    """Remove every occurrence of ``pattern`` that starts on an op boundary (Core's FindAndDelete).

    Returns the new script and the number of removals. Legacy sighash applies it to signatures
    inside the scriptCode; matching is on op boundaries, including right after a removed match.
    """
    if not pattern:
        return script, 0
    out = bytearray()
    found = 0
    pos = 0
    n = len(script)
    copy_from = 0
    while True:
        # Skip consecutive matches at this op boundary.
        while script.startswith(pattern, pos):
            out += script[copy_from:pos]
            pos += len(pattern)
            copy_from = pos
            found += 1
        if pos >= n:
            break
        next_pos = _next_op_end(script, pos)
        if next_pos is None:
            break
        pos = next_pos
    if not found:
        return script, 0
    out += script[copy_from:]
    return bytes(out), found


def _next_op_end(script: bytes, pos: int) -> int | None:
    """End offset of the op starting at ``pos``, or None if it does not parse."""
    try:
        for op in iter_script(script, pos):
            return op.end
    except ScriptParseError:
        return None
    return None


def remove_codeseparators(script: bytes) -> bytes:
    """scriptCode as legacy sighash serializes it: OP_CODESEPARATORs dropped.

    Bytes after an unparsable push are copied verbatim. (Core's sighash serializer instead stops
    copying where its tokenizer failed; :mod:`wattchain.script.sighash` reproduces that itself.)
    """
    if Op.OP_CODESEPARATOR not in script:
        return script
    out = bytearray()
    copy_from = 0
    pos = 0
    try:
        for op in iter_script(script):
            pos = op.end
            if op.opcode == Op.OP_CODESEPARATOR:
                out += script[copy_from:op.start]
                copy_from = op.end
    except ScriptParseError:
        pass
    out += script[copy_from:]
    return bytes(out)
