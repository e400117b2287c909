"""Input verification (Bitcoin's VerifyScript): scriptSig, scriptPubKey, P2SH and SegWit v0.

The stages, in consensus order:

1. scriptSig runs on an empty stack; scriptPubKey runs on what it leaves (separately, never
   concatenated, so a scriptSig cannot jump into or skip parts of the scriptPubKey).
2. A bare witness program scriptPubKey is then executed from the witness.
3. For P2SH the scriptSig's last push is run as the redeem script (and may itself be a witness
   program, "nested SegWit").
4. Policy checks on what remains: CLEANSTACK and "no witness where none is expected".

Witness versions 1..16 are treated as not-yet-defined (Taproot is not implemented).
"""

from __future__ import annotations

from collections.abc import Sequence

from wattchain.core.hashes import sha256
from wattchain.core.keys import verify_ecdsa
from wattchain.core.tx import Transaction, TxOut
from wattchain.script.checker import (EcdsaVerifier, SignatureChecker, SigVersion,
                                      TransactionSignatureChecker)
from wattchain.script.checksig_ops import data_push
from wattchain.script.engine import cast_to_bool, eval_script
from wattchain.script.errors import ScriptError, ScriptErrorCode
from wattchain.script.flags import ScriptFlags
from wattchain.script.opcodes import MAX_SCRIPT_ELEMENT_SIZE, Op
from wattchain.script.script import is_p2sh, is_push_only, witness_program
from wattchain.script.sighash import PrecomputedTransactionData

E = ScriptErrorCode
_P2WPKH_PREFIX = bytes((Op.OP_DUP, Op.OP_HASH160, 20))
_P2WPKH_SUFFIX = bytes((Op.OP_EQUALVERIFY, Op.OP_CHECKSIG))
# Plain-int copies of flag bits: ``int & IntFlag`` builds an enum object on every test,
# which profiled as the largest non-ECDSA cost of a P2WPKH verification.
_P2SH = int(ScriptFlags.P2SH)
_WITNESS = int(ScriptFlags.WITNESS)
_CLEANSTACK = int(ScriptFlags.CLEANSTACK)
_SIGPUSHONLY = int(ScriptFlags.SIGPUSHONLY)
_DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM = int(
    ScriptFlags.DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM)


class InvalidFlagCombination(ValueError):
    """Flags that would make a rule a hard fork rather than a soft fork (a programming error).

    CLEANSTACK without P2SH+WITNESS, or WITNESS without P2SH, would let a later, stricter flag
    set accept something an earlier one rejected; Core asserts on these, we raise.
    """


def verify_script(script_sig: bytes, script_pubkey: bytes, witness: Sequence[bytes],
                  flags: ScriptFlags, checker: SignatureChecker) -> None:
    """Check that ``script_sig`` + ``witness`` satisfy ``script_pubkey`` under ``flags``.

    Returns None on success, raises :class:`ScriptError` (Core's error code) on failure, and
    :class:`InvalidFlagCombination` for inconsistent flags.
    """
    bits = int(flags)
    if bits & _CLEANSTACK and not (bits & _P2SH and bits & _WITNESS):
        raise InvalidFlagCombination("CLEANSTACK requires P2SH and WITNESS")
    if bits & _WITNESS and not bits & _P2SH:
        raise InvalidFlagCombination("WITNESS requires P2SH")
    if bits & _SIGPUSHONLY and not is_push_only(script_sig):
        raise ScriptError(E.SIG_PUSHONLY, "scriptSig is not push-only")

    stack: list[bytes] = []
    eval_script(stack, script_sig, flags, checker, SigVersion.BASE)
    p2sh_stack = stack.copy() if bits & _P2SH else stack
    eval_script(stack, script_pubkey, flags, checker, SigVersion.BASE)
    if not stack or not cast_to_bool(stack[-1]):
        raise ScriptError(E.EVAL_FALSE, "scriptPubKey left false on the stack")

    had_witness = False
    if bits & _WITNESS:
        program = witness_program(script_pubkey)
        if program is not None:
            had_witness = True
            if script_sig:
                # Anything in scriptSig would be unsigned (not covered by the wtxid) data.
                raise ScriptError(E.WITNESS_MALLEATED, "native witness spend has a scriptSig")
            _verify_witness_program(witness, program[0], program[1], flags, checker, False)
            del stack[1:]  # the witness stack is separate; keep CLEANSTACK meaningful

    if bits & _P2SH and is_p2sh(script_pubkey):
        if not is_push_only(script_sig):
            raise ScriptError(E.SIG_PUSHONLY, "P2SH scriptSig is not push-only")
        stack = p2sh_stack
        # Not empty: HASH160 <h> EQUAL succeeded on it above.
        redeem_script = stack.pop()
        eval_script(stack, redeem_script, flags, checker, SigVersion.BASE)
        if not stack or not cast_to_bool(stack[-1]):
            raise ScriptError(E.EVAL_FALSE, "redeemScript left false on the stack")
        if bits & _WITNESS:
            program = witness_program(redeem_script)
            if program is not None:
                had_witness = True
                if script_sig != data_push(redeem_script):
                    raise ScriptError(E.WITNESS_MALLEATED_P2SH,
                                      "P2SH witness scriptSig must be exactly one push")
                _verify_witness_program(witness, program[0], program[1], flags, checker, True)
                del stack[1:]

    # After P2SH and witness evaluation, since before those the stack is naturally not clean.
    if bits & _CLEANSTACK and len(stack) != 1:
        raise ScriptError(E.CLEANSTACK, f"{len(stack)} items left on the stack")
    if bits & _WITNESS and not had_witness and witness:
        raise ScriptError(E.WITNESS_UNEXPECTED, "witness supplied for a non-witness output")


def _verify_witness_program(witness: Sequence[bytes], version: int, program: bytes,
                            flags: ScriptFlags, checker: SignatureChecker,
                            is_p2sh: bool) -> None:
    """BIP141: run a witness program. v0 with 20 bytes is P2WPKH, with 32 bytes P2WSH."""
    if version == 0:
        if len(program) == 32:
            if not witness:
                raise ScriptError(E.WITNESS_PROGRAM_WITNESS_EMPTY, "P2WSH with empty witness")
            witness_script = witness[-1]
            if sha256(witness_script) != program:
                raise ScriptError(E.WITNESS_PROGRAM_MISMATCH, "witnessScript hash mismatch")
            _execute_witness_script(list(witness[:-1]), witness_script, flags, checker)
        elif len(program) == 20:
            if len(witness) != 2:
                raise ScriptError(E.WITNESS_PROGRAM_MISMATCH, "P2WPKH needs exactly 2 items")
            script = _P2WPKH_PREFIX + program + _P2WPKH_SUFFIX
            _execute_witness_script(list(witness), script, flags, checker)
        else:
            raise ScriptError(E.WITNESS_PROGRAM_WRONG_LENGTH,
                              f"v0 program of {len(program)} bytes")
        return
    # Versions 1..16 (including Taproot's v1, which this engine does not implement) are left
    # for future soft forks: valid by consensus, refused by policy when asked to.
    if int(flags) & _DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM:
        raise ScriptError(E.DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM,
                          f"witness version {version}{' (P2SH)' if is_p2sh else ''}")


def _execute_witness_script(stack: list[bytes], script: bytes, flags: ScriptFlags,
                            checker: SignatureChecker) -> None:
    """Run a v0 witness script; it must leave exactly one true item (implicit CLEANSTACK)."""
    for item in stack:
        if len(item) > MAX_SCRIPT_ELEMENT_SIZE:
            raise ScriptError(E.PUSH_SIZE, "witness item larger than 520 bytes")
    eval_script(stack, script, flags, checker, SigVersion.WITNESS_V0)
    if len(stack) != 1:
        raise ScriptError(E.CLEANSTACK, f"witness script left {len(stack)} items")
    if not cast_to_bool(stack[-1]):
        raise ScriptError(E.EVAL_FALSE, "witness script left false on the stack")


def verify_input(tx: Transaction, input_index: int, spent_output: TxOut, flags: ScriptFlags,
                 precomputed: PrecomputedTransactionData | None = None,
                 verifier: EcdsaVerifier = verify_ecdsa) -> None:
    """Verify input ``input_index`` of ``tx`` against the output it spends.

    Pass one ``precomputed`` per transaction when checking several inputs, so the BIP143
    midstates are hashed once rather than once per input.
    """
    txin = tx.inputs[input_index]
    checker = TransactionSignatureChecker(tx, input_index, spent_output.value, precomputed,
                                          verifier)
    verify_script(txin.script_sig, spent_output.script_pubkey, txin.witness, flags, checker)
