"""CHECKSIG and CHECKMULTISIG for legacy and witness-v0 scripts.

Kept apart from the evaluation loop (:mod:`wattchain.script.engine`) because this is where the
subtle consensus rules live: which bytes a signature commits to (OP_CODESEPARATOR and
FindAndDelete), the order in which encodings are checked, and the NULLFAIL/NULLDUMMY
malleability rules. The handlers follow the engine's ``(machine, opcode)`` convention.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wattchain.script.checker import SigVersion
from wattchain.script.errors import ScriptError, ScriptErrorCode
from wattchain.script.flags import ScriptFlags
from wattchain.script.opcodes import MAX_OPS_PER_SCRIPT, MAX_PUBKEYS_PER_MULTISIG, Op
from wattchain.script.script import find_and_delete
from wattchain.script.signature_encoding import check_pubkey_encoding, check_signature_encoding

if TYPE_CHECKING:
    from wattchain.script.engine import ScriptMachine

E = ScriptErrorCode
TRUE = b"\x01"
FALSE = b""
_PUSHDATA1, _PUSHDATA2 = int(Op.OP_PUSHDATA1), int(Op.OP_PUSHDATA2)
_PUSHDATA4 = int(Op.OP_PUSHDATA4)
_CONST_SCRIPTCODE = int(ScriptFlags.CONST_SCRIPTCODE)
_NULLFAIL = int(ScriptFlags.NULLFAIL)
_NULLDUMMY = int(ScriptFlags.NULLDUMMY)


def need(stack: list[bytes], n: int) -> None:
    """Fail with INVALID_STACK_OPERATION unless ``stack`` holds at least ``n`` items."""
    if len(stack) < n:
        raise ScriptError(E.INVALID_STACK_OPERATION, f"needs {n} stack items")


def data_push(data: bytes) -> bytes:
    """Serialize a push of ``data`` the way Core's ``CScript() << bytes`` does.

    Unlike :func:`wattchain.script.script.push_data` this never uses OP_1..OP_16 for 1-byte
    data. Consensus depends on this exact form: it is the pattern FindAndDelete removes, and the
    only scriptSig allowed for P2SH-wrapped witness programs.
    """
    n = len(data)
    if n < _PUSHDATA1:
        return bytes((n,)) + data
    if n <= 0xFF:
        return bytes((_PUSHDATA1, n)) + data
    if n <= 0xFFFF:
        return bytes((_PUSHDATA2,)) + n.to_bytes(2, "little") + data
    return bytes((_PUSHDATA4,)) + n.to_bytes(4, "little") + data


def script_code_for(m: ScriptMachine, signatures: list[bytes]) -> bytes:
    """The scriptCode signatures commit to: from the last executed OP_CODESEPARATOR.

    In legacy scripts the signatures themselves are deleted from it (FindAndDelete), since a
    signature cannot sign itself; under CONST_SCRIPTCODE a deletion that changes anything is
    an error, as that behaviour is slated for removal.
    """
    code = m.script[m.codesep_start:] if m.codesep_start else m.script
    if m.sigversion is SigVersion.BASE:
        for sig in signatures:
            pattern = data_push(sig)
            if pattern not in code:
                continue  # cheap exact pre-check: the usual case, and the op-walk is slow
            code, found = find_and_delete(code, pattern)
            if found and m.flags & _CONST_SCRIPTCODE:
                raise ScriptError(E.SIG_FINDANDDELETE, "signature found in scriptCode")
    return code


def op_checksig(m: ScriptMachine, opcode: int) -> None:
    """OP_CHECKSIG/OP_CHECKSIGVERIFY: (sig pubkey -- bool).

    A failed check pushes false rather than aborting (so ``NOT CHECKSIG`` is expressible);
    NULLFAIL demands that such a failing signature be empty, so failure cannot be malleated.
    """
    stack = m.stack
    need(stack, 2)
    sig = stack[-2]
    pubkey = stack[-1]
    code = script_code_for(m, [sig])
    check_signature_encoding(sig, m.flags)
    check_pubkey_encoding(pubkey, m.flags, m.sigversion is SigVersion.WITNESS_V0)
    ok = m.checker.check_ecdsa_signature(sig, pubkey, code, m.sigversion)
    if not ok and sig and m.flags & _NULLFAIL:
        raise ScriptError(E.NULLFAIL, "failing signature is not empty")
    del stack[-2:]
    if opcode == Op.OP_CHECKSIGVERIFY:
        if not ok:
            raise ScriptError(E.CHECKSIGVERIFY, "signature check failed")
    else:
        stack.append(TRUE if ok else FALSE)


def op_checkmultisig(m: ScriptMachine, opcode: int) -> None:
    """OP_CHECKMULTISIG[VERIFY]: (dummy sig1..sigM M key1..keyN N -- bool).

    Signatures must match keys in order; keys are tried one by one and the check gives up as
    soon as the remaining keys cannot satisfy the remaining signatures. The extra ``dummy``
    item is a historical off-by-one; NULLDUMMY requires it empty to remove malleability.
    """
    stack = m.stack
    flags = m.flags
    need(stack, 1)
    n_keys = m.num(stack[-1])
    if n_keys < 0 or n_keys > MAX_PUBKEYS_PER_MULTISIG:
        raise ScriptError(E.PUBKEY_COUNT, f"{n_keys} public keys")
    m.op_count += n_keys
    if m.op_count > MAX_OPS_PER_SCRIPT:
        raise ScriptError(E.OP_COUNT, "more than 201 opcodes")
    # Depths (1 = top of stack) of the first key and of the signature count.
    key_at = 2
    need(stack, n_keys + 2)
    n_sigs = m.num(stack[-(n_keys + 2)])
    if n_sigs < 0 or n_sigs > n_keys:
        raise ScriptError(E.SIG_COUNT, f"{n_sigs} signatures for {n_keys} keys")
    sig_at = n_keys + 3
    items = n_keys + n_sigs + 2  # counts, keys and signatures; the dummy comes after
    need(stack, items + 1)

    sigs = [stack[-(sig_at + k)] for k in range(n_sigs)]
    code = script_code_for(m, sigs)
    is_witness = m.sigversion is SigVersion.WITNESS_V0
    success = True
    keys_left, sigs_left = n_keys, n_sigs
    while success and sigs_left > 0:
        sig = stack[-sig_at]
        pubkey = stack[-key_at]
        # Encoding errors abort even for keys that would not have matched: the evaluation
        # order is observable, and must be Core's.
        check_signature_encoding(sig, flags)
        check_pubkey_encoding(pubkey, flags, is_witness)
        if m.checker.check_ecdsa_signature(sig, pubkey, code, m.sigversion):
            sig_at += 1
            sigs_left -= 1
        key_at += 1
        keys_left -= 1
        if sigs_left > keys_left:
            success = False

    if not success and flags & _NULLFAIL:
        # Every signature item (depth n_keys+3 .. items) must be empty after a failure.
        for depth in range(n_keys + 3, items + 1):
            if stack[-depth]:
                raise ScriptError(E.NULLFAIL, "failing signature is not empty")
    del stack[-items:]
    if flags & _NULLDUMMY and stack[-1]:
        raise ScriptError(E.SIG_NULLDUMMY, "CHECKMULTISIG dummy is not empty")
    stack.pop()
    if opcode == Op.OP_CHECKMULTISIGVERIFY:
        if not success:
            raise ScriptError(E.CHECKMULTISIGVERIFY, "multisig check failed")
    else:
        stack.append(TRUE if success else FALSE)
