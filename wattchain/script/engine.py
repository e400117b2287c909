"""The script evaluation loop (Bitcoin's EvalScript) for legacy and witness-v0 scripts.

Design
------
* The loop decodes pushes inline (no per-op objects) because pushes are most of every script,
  then dispatches every other opcode through ``_HANDLERS``, a 256-entry table of small
  functions. A table keeps each opcode's rule next to its docstring and costs one indexed call.
* Machine state lives in one ``ScriptMachine`` object with ``__slots__`` so handlers share it
  without closures or dict lookups.
* Errors are :class:`ScriptError` with Bitcoin Core's codes; the order of checks inside the
  loop (parse, push size, op count, disabled opcode, CONST_SCRIPTCODE, execute, stack size)
  is the order Core uses, because the vectors observe which error wins.

Taproot/tapscript is not implemented; see :mod:`wattchain.script.interpreter`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from wattchain.core.hashes import hash160, ripemd160, sha256, sha256d
from wattchain.script.checker import SEQUENCE_LOCKTIME_DISABLE_FLAG, SignatureChecker, SigVersion
from wattchain.script.checksig_ops import FALSE, TRUE, need, op_checkmultisig, op_checksig
from wattchain.script.errors import ScriptError, ScriptErrorCode
from wattchain.script.flags import ScriptFlags
from wattchain.script.number import decode_num, encode_num
from wattchain.script.opcodes import (DISABLED_OPCODES, MAX_OPS_PER_SCRIPT,
                                      MAX_SCRIPT_ELEMENT_SIZE, MAX_SCRIPT_SIZE, MAX_STACK_SIZE, Op)
from wattchain.script.signature_encoding import is_minimal_push

E = ScriptErrorCode

_PUSHDATA1, _PUSHDATA2 = int(Op.OP_PUSHDATA1), int(Op.OP_PUSHDATA2)
_PUSHDATA4 = int(Op.OP_PUSHDATA4)
_OP_16 = int(Op.OP_16)
_OP_IF, _OP_ENDIF = int(Op.OP_IF), int(Op.OP_ENDIF)
_OP_CODESEPARATOR = int(Op.OP_CODESEPARATOR)
_DISABLED = bytes(1 if op in DISABLED_OPCODES else 0 for op in range(256))
# Plain-int copies of flag bits: ``int & IntFlag`` builds an enum object on every test,
# which profiled as the largest non-ECDSA cost of a P2WPKH verification.
_MINIMALDATA = int(ScriptFlags.MINIMALDATA)
_CONST_SCRIPTCODE = int(ScriptFlags.CONST_SCRIPTCODE)
_DISCOURAGE_UPGRADABLE_NOPS = int(ScriptFlags.DISCOURAGE_UPGRADABLE_NOPS)
_CHECKLOCKTIMEVERIFY = int(ScriptFlags.CHECKLOCKTIMEVERIFY)
_CHECKSEQUENCEVERIFY = int(ScriptFlags.CHECKSEQUENCEVERIFY)
_MINIMALIF = int(ScriptFlags.MINIMALIF)


def cast_to_bool(value: bytes) -> bool:
    """Script truthiness: false for any run of zero bytes, optionally ending in 0x80 (-0)."""
    if not value:
        return False
    last = value[-1]
    if last != 0 and last != 0x80:
        return True
    n = len(value) - 1
    return value.count(0, 0, n) != n


class ScriptMachine:
    """Everything one EvalScript run needs; handlers receive it as their only state."""

    __slots__ = ("stack", "altstack", "flags", "checker", "sigversion", "script", "pc",
                 "codesep_start", "require_minimal", "exec_stack", "false_count", "op_count")

    def __init__(self, stack: list[bytes], script: bytes, flags: int,
                 checker: SignatureChecker, sigversion: SigVersion) -> None:
        self.stack = stack
        self.altstack: list[bytes] = []
        self.flags = flags
        self.checker = checker
        self.sigversion = sigversion
        self.script = script
        self.pc = 0
        #: scriptCode for signatures starts after the last executed OP_CODESEPARATOR.
        self.codesep_start = 0
        self.require_minimal = bool(flags & _MINIMALDATA)
        #: One bool per open IF; ``false_count`` counts the False ones so "executing?" is O(1).
        self.exec_stack: list[bool] = []
        self.false_count = 0
        self.op_count = 0

    def num(self, value: bytes, max_size: int = 4) -> int:
        return decode_num(value, self.require_minimal, max_size)


def eval_script(stack: list[bytes], script: bytes, flags: ScriptFlags,
                checker: SignatureChecker, sigversion: SigVersion) -> None:
    """Run ``script`` on ``stack`` (mutated in place); raise :class:`ScriptError` on failure.

    Success only means the script did not abort; whether the final stack is "true" is the
    caller's decision (see ``verify_script``).
    """
    if not script:
        return  # common (empty scriptSig of native segwit spends); nothing can fail
    if len(script) > MAX_SCRIPT_SIZE:
        raise ScriptError(E.SCRIPT_SIZE, f"script is {len(script)} bytes")
    m = ScriptMachine(stack, script, int(flags), checker, sigversion)
    altstack = m.altstack
    handlers = _HANDLERS
    require_minimal = m.require_minimal
    forbid_codesep = bool(m.flags & _CONST_SCRIPTCODE) and sigversion is SigVersion.BASE
    pos = 0
    end = len(script)
    while pos < end:
        opcode = script[pos]
        pos += 1
        if opcode <= _PUSHDATA4:
            if opcode < _PUSHDATA1:
                size = opcode
            else:
                width = 1 if opcode == _PUSHDATA1 else 2 if opcode == _PUSHDATA2 else 4
                if pos + width > end:
                    raise ScriptError(E.BAD_OPCODE, "truncated push length")
                size = int.from_bytes(script[pos:pos + width], "little")
                pos += width
            if pos + size > end:
                raise ScriptError(E.BAD_OPCODE, "push past the end of the script")
            if size > MAX_SCRIPT_ELEMENT_SIZE:
                raise ScriptError(E.PUSH_SIZE, f"push of {size} bytes")
            if m.false_count == 0:
                data = script[pos:pos + size]
                if require_minimal and not is_minimal_push(data, opcode):
                    raise ScriptError(E.MINIMALDATA, "non-minimal push")
                stack.append(data)
            pos += size
        else:
            if opcode > _OP_16:
                # OP_RESERVED and the small-integer pushes are free; everything else counts,
                # executed or not, so a script's cost is bounded by its length.
                m.op_count += 1
                if m.op_count > MAX_OPS_PER_SCRIPT:
                    raise ScriptError(E.OP_COUNT, "more than 201 opcodes")
                if _DISABLED[opcode]:
                    raise ScriptError(E.DISABLED_OPCODE, Op(opcode).name)
                if opcode == _OP_CODESEPARATOR and forbid_codesep:
                    raise ScriptError(E.OP_CODESEPARATOR, "OP_CODESEPARATOR with "
                                                          "CONST_SCRIPTCODE")
            if m.false_count == 0 or _OP_IF <= opcode <= _OP_ENDIF:
                m.pc = pos
                handlers[opcode](m, opcode)
        if len(stack) + len(altstack) > MAX_STACK_SIZE:
            raise ScriptError(E.STACK_SIZE, "stack holds more than 1000 items")
    if m.exec_stack:
        raise ScriptError(E.UNBALANCED_CONDITIONAL, "IF without ENDIF")


# ============================================================================ helpers


# ============================================================================ handlers
Handler = Callable[[ScriptMachine, int], None]


def _op_bad(m: ScriptMachine, opcode: int) -> None:
    """Undefined, reserved or tapscript-only opcodes fail when executed (OP_VERIF/VERNOTIF
    fail even unexecuted, because the loop runs every IF..ENDIF-range opcode)."""
    raise ScriptError(E.BAD_OPCODE, f"opcode {opcode:#04x}")


def _op_small_int(m: ScriptMachine, opcode: int) -> None:
    """OP_1NEGATE and OP_1..OP_16 push their number."""
    m.stack.append(encode_num(opcode - (Op.OP_1 - 1)))


def _op_nop(m: ScriptMachine, opcode: int) -> None:
    """OP_NOP does nothing, by definition."""


def _op_upgradable_nop(m: ScriptMachine, opcode: int) -> None:
    """OP_NOP1, OP_NOP4..10 are reserved for soft forks; policy refuses them so that a future
    meaning cannot make today's relayed transactions invalid."""
    if m.flags & _DISCOURAGE_UPGRADABLE_NOPS:
        raise ScriptError(E.DISCOURAGE_UPGRADABLE_NOPS, Op(opcode).name)


def _op_checklocktimeverify(m: ScriptMachine, opcode: int) -> None:
    """BIP65. Without the flag it is the old OP_NOP2. The operand may be 5 bytes because
    locktimes are unsigned 32-bit; it is left on the stack (NOP semantics)."""
    if not m.flags & _CHECKLOCKTIMEVERIFY:
        return
    need(m.stack, 1)
    locktime = m.num(m.stack[-1], 5)
    if locktime < 0:
        raise ScriptError(E.NEGATIVE_LOCKTIME, "negative locktime")
    if not m.checker.check_locktime(locktime):
        raise ScriptError(E.UNSATISFIED_LOCKTIME, "locktime requirement not satisfied")


def _op_checksequenceverify(m: ScriptMachine, opcode: int) -> None:
    """BIP112. An operand with the disable bit set is a NOP, leaving room for new kinds of
    relative lock in future soft forks."""
    if not m.flags & _CHECKSEQUENCEVERIFY:
        return
    need(m.stack, 1)
    sequence = m.num(m.stack[-1], 5)
    if sequence < 0:
        raise ScriptError(E.NEGATIVE_LOCKTIME, "negative sequence")
    if sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG:
        return
    if not m.checker.check_sequence(sequence):
        raise ScriptError(E.UNSATISFIED_LOCKTIME, "relative locktime not satisfied")


def _op_if(m: ScriptMachine, opcode: int) -> None:
    """OP_IF/OP_NOTIF. Inside an unexecuted branch only the nesting is recorded. MINIMALIF
    (witness v0 only) requires the condition to be exactly empty or 0x01, closing a
    malleability vector where a third party could swap one true value for another."""
    value = False
    if m.false_count == 0:
        stack = m.stack
        if not stack:
            raise ScriptError(E.INVALID_STACK_OPERATION, "IF with an empty stack")
        top = stack[-1]
        if (m.sigversion is SigVersion.WITNESS_V0 and m.flags & _MINIMALIF
                and (len(top) > 1 or (len(top) == 1 and top[0] != 1))):
            raise ScriptError(E.MINIMALIF, "IF argument is not minimal")
        value = cast_to_bool(top)
        if opcode == Op.OP_NOTIF:
            value = not value
        stack.pop()
    m.exec_stack.append(value)
    if not value:
        m.false_count += 1


def _op_else(m: ScriptMachine, opcode: int) -> None:
    """OP_ELSE flips the innermost branch (several ELSEs keep flipping, as in Core)."""
    if not m.exec_stack:
        raise ScriptError(E.UNBALANCED_CONDITIONAL, "ELSE without IF")
    flipped = not m.exec_stack[-1]
    m.exec_stack[-1] = flipped
    m.false_count += -1 if flipped else 1


def _op_endif(m: ScriptMachine, opcode: int) -> None:
    if not m.exec_stack:
        raise ScriptError(E.UNBALANCED_CONDITIONAL, "ENDIF without IF")
    if not m.exec_stack.pop():
        m.false_count -= 1


def _op_verify(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 1)
    if not cast_to_bool(m.stack[-1]):
        raise ScriptError(E.VERIFY, "OP_VERIFY on false")
    m.stack.pop()


def _op_return(m: ScriptMachine, opcode: int) -> None:
    raise ScriptError(E.OP_RETURN, "OP_RETURN executed")


# ---------------------------------------------------------------------------- stack
def _op_toaltstack(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 1)
    m.altstack.append(m.stack.pop())


def _op_fromaltstack(m: ScriptMachine, opcode: int) -> None:
    if not m.altstack:
        raise ScriptError(E.INVALID_ALTSTACK_OPERATION, "altstack is empty")
    m.stack.append(m.altstack.pop())


def _op_2drop(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 2)
    del m.stack[-2:]


def _op_2dup(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 2)
    m.stack.extend(m.stack[-2:])


def _op_3dup(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 3)
    m.stack.extend(m.stack[-3:])


def _op_2over(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 4)
    m.stack.extend(m.stack[-4:-2])


def _op_2rot(m: ScriptMachine, opcode: int) -> None:
    """(x1 x2 x3 x4 x5 x6 -- x3 x4 x5 x6 x1 x2)"""
    stack = m.stack
    need(stack, 6)
    moved = stack[-6:-4]
    del stack[-6:-4]
    stack.extend(moved)


def _op_2swap(m: ScriptMachine, opcode: int) -> None:
    """(x1 x2 x3 x4 -- x3 x4 x1 x2)"""
    stack = m.stack
    need(stack, 4)
    stack[-4:] = stack[-2:] + stack[-4:-2]


def _op_ifdup(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 1)
    if cast_to_bool(m.stack[-1]):
        m.stack.append(m.stack[-1])


def _op_depth(m: ScriptMachine, opcode: int) -> None:
    m.stack.append(encode_num(len(m.stack)))


def _op_drop(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 1)
    m.stack.pop()


def _op_dup(m: ScriptMachine, opcode: int) -> None:
    stack = m.stack
    if not stack:
        raise ScriptError(E.INVALID_STACK_OPERATION, "OP_DUP on an empty stack")
    stack.append(stack[-1])


def _op_nip(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 2)
    del m.stack[-2]


def _op_over(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 2)
    m.stack.append(m.stack[-2])


def _op_pick_roll(m: ScriptMachine, opcode: int) -> None:
    """OP_PICK copies, OP_ROLL moves, the item ``n`` deep (n popped first) to the top."""
    stack = m.stack
    need(stack, 2)
    n = m.num(stack[-1])
    stack.pop()
    if n < 0 or n >= len(stack):
        raise ScriptError(E.INVALID_STACK_OPERATION, f"PICK/ROLL depth {n} out of range")
    if opcode == Op.OP_ROLL:
        stack.append(stack.pop(-n - 1))
    else:
        stack.append(stack[-n - 1])


def _op_rot(m: ScriptMachine, opcode: int) -> None:
    """(x1 x2 x3 -- x2 x3 x1)"""
    need(m.stack, 3)
    m.stack.append(m.stack.pop(-3))


def _op_swap(m: ScriptMachine, opcode: int) -> None:
    stack = m.stack
    need(stack, 2)
    stack[-1], stack[-2] = stack[-2], stack[-1]


def _op_tuck(m: ScriptMachine, opcode: int) -> None:
    """(x1 x2 -- x2 x1 x2)"""
    need(m.stack, 2)
    m.stack.insert(-2, m.stack[-1])


def _op_size(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 1)
    m.stack.append(encode_num(len(m.stack[-1])))


def _op_equal(m: ScriptMachine, opcode: int) -> None:
    """OP_EQUAL/OP_EQUALVERIFY compare bytes exactly (not numerically)."""
    stack = m.stack
    need(stack, 2)
    equal = stack.pop() == stack.pop()
    if opcode == Op.OP_EQUALVERIFY:
        if not equal:
            raise ScriptError(E.EQUALVERIFY, "OP_EQUALVERIFY on unequal items")
    else:
        stack.append(TRUE if equal else FALSE)


# ---------------------------------------------------------------------------- arithmetic
_UNARY: dict[int, Callable[[int], int]] = {
    Op.OP_1ADD: lambda a: a + 1,
    Op.OP_1SUB: lambda a: a - 1,
    Op.OP_NEGATE: lambda a: -a,
    Op.OP_ABS: abs,
    Op.OP_NOT: lambda a: int(a == 0),
    Op.OP_0NOTEQUAL: lambda a: int(a != 0),
}

_BINARY: dict[int, Callable[[int, int], int]] = {
    Op.OP_ADD: lambda a, b: a + b,
    Op.OP_SUB: lambda a, b: a - b,
    Op.OP_BOOLAND: lambda a, b: int(a != 0 and b != 0),
    Op.OP_BOOLOR: lambda a, b: int(a != 0 or b != 0),
    Op.OP_NUMEQUAL: lambda a, b: int(a == b),
    Op.OP_NUMEQUALVERIFY: lambda a, b: int(a == b),
    Op.OP_NUMNOTEQUAL: lambda a, b: int(a != b),
    Op.OP_LESSTHAN: lambda a, b: int(a < b),
    Op.OP_GREATERTHAN: lambda a, b: int(a > b),
    Op.OP_LESSTHANOREQUAL: lambda a, b: int(a <= b),
    Op.OP_GREATERTHANOREQUAL: lambda a, b: int(a >= b),
    Op.OP_MIN: min,
    Op.OP_MAX: max,
}


def _op_unary(m: ScriptMachine, opcode: int) -> None:
    """Numeric ops take 4-byte operands but may produce 5-byte results, which then can only
    be compared or hashed, never fed back into arithmetic."""
    stack = m.stack
    need(stack, 1)
    stack[-1] = encode_num(_UNARY[opcode](m.num(stack[-1])))


def _op_binary(m: ScriptMachine, opcode: int) -> None:
    stack = m.stack
    need(stack, 2)
    a = m.num(stack[-2])
    b = m.num(stack[-1])
    del stack[-2:]
    result = encode_num(_BINARY[opcode](a, b))
    if opcode == Op.OP_NUMEQUALVERIFY:
        if not result:
            raise ScriptError(E.NUMEQUALVERIFY, "OP_NUMEQUALVERIFY on unequal numbers")
    else:
        stack.append(result)


def _op_within(m: ScriptMachine, opcode: int) -> None:
    """(x min max -- min <= x < max)"""
    stack = m.stack
    need(stack, 3)
    x, low, high = m.num(stack[-3]), m.num(stack[-2]), m.num(stack[-1])
    del stack[-3:]
    stack.append(TRUE if low <= x < high else FALSE)


# ---------------------------------------------------------------------------- crypto
_HASHES: dict[int, Callable[[bytes], bytes]] = {
    Op.OP_RIPEMD160: ripemd160,
    Op.OP_SHA1: lambda data: hashlib.sha1(data).digest(),
    Op.OP_SHA256: sha256,
    Op.OP_HASH160: hash160,
    Op.OP_HASH256: sha256d,
}


def _op_hash(m: ScriptMachine, opcode: int) -> None:
    need(m.stack, 1)
    m.stack[-1] = _HASHES[opcode](m.stack[-1])


def _op_codeseparator(m: ScriptMachine, opcode: int) -> None:
    """Signatures after this point commit only to the script following it."""
    m.codesep_start = m.pc


# ============================================================================ dispatch table
def _build_table() -> list[Handler]:
    table: list[Handler] = [_op_bad] * 256
    table[Op.OP_1NEGATE] = _op_small_int
    for op in range(Op.OP_1, Op.OP_16 + 1):
        table[op] = _op_small_int
    table[Op.OP_NOP] = _op_nop
    for op in (Op.OP_NOP1, Op.OP_NOP4, Op.OP_NOP5, Op.OP_NOP6, Op.OP_NOP7, Op.OP_NOP8,
               Op.OP_NOP9, Op.OP_NOP10):
        table[op] = _op_upgradable_nop
    table[Op.OP_CHECKLOCKTIMEVERIFY] = _op_checklocktimeverify
    table[Op.OP_CHECKSEQUENCEVERIFY] = _op_checksequenceverify
    table[Op.OP_IF] = table[Op.OP_NOTIF] = _op_if
    table[Op.OP_ELSE] = _op_else
    table[Op.OP_ENDIF] = _op_endif
    table[Op.OP_VERIFY] = _op_verify
    table[Op.OP_RETURN] = _op_return
    simple = {
        Op.OP_TOALTSTACK: _op_toaltstack, Op.OP_FROMALTSTACK: _op_fromaltstack,
        Op.OP_2DROP: _op_2drop, Op.OP_2DUP: _op_2dup, Op.OP_3DUP: _op_3dup,
        Op.OP_2OVER: _op_2over, Op.OP_2ROT: _op_2rot, Op.OP_2SWAP: _op_2swap,
        Op.OP_IFDUP: _op_ifdup, Op.OP_DEPTH: _op_depth, Op.OP_DROP: _op_drop,
        Op.OP_DUP: _op_dup, Op.OP_NIP: _op_nip, Op.OP_OVER: _op_over,
        Op.OP_PICK: _op_pick_roll, Op.OP_ROLL: _op_pick_roll, Op.OP_ROT: _op_rot,
        Op.OP_SWAP: _op_swap, Op.OP_TUCK: _op_tuck, Op.OP_SIZE: _op_size,
        Op.OP_EQUAL: _op_equal, Op.OP_EQUALVERIFY: _op_equal, Op.OP_WITHIN: _op_within,
        Op.OP_CODESEPARATOR: _op_codeseparator,
        Op.OP_CHECKSIG: op_checksig, Op.OP_CHECKSIGVERIFY: op_checksig,
        Op.OP_CHECKMULTISIG: op_checkmultisig, Op.OP_CHECKMULTISIGVERIFY: op_checkmultisig,
    }
    for op, handler in simple.items():
        table[op] = handler
    for op in _UNARY:
        table[op] = _op_unary
    for op in _BINARY:
        table[op] = _op_binary
    for op in _HASHES:
        table[op] = _op_hash
    return table


_HANDLERS: list[Handler] = _build_table()
