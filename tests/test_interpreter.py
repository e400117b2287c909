"""Focused interpreter tests for behaviour the Core vectors cover thinly.

Timelocks run against a real TransactionSignatureChecker; signature tests use real keys and
real sighashes, so a wrong scriptCode (OP_CODESEPARATOR, FindAndDelete) makes them fail.
"""

from __future__ import annotations

import pytest

from wattchain.core.hashes import hash160, sha256
from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.asm import parse_asm
from wattchain.script.checker import SignatureChecker, SigVersion, TransactionSignatureChecker
from wattchain.script.errors import ScriptError, ScriptErrorCode
from wattchain.script.flags import STANDARD_FLAGS, ScriptFlags
from wattchain.script.interpreter import (InvalidFlagCombination, data_push, eval_script,
                                          verify_input, verify_script)
from wattchain.script.opcodes import DISABLED_OPCODES, Op
from wattchain.script.script import push_int
from wattchain.script.sighash import legacy_signature_hash, segwit_v0_signature_hash
from wattchain.script.signature_encoding import is_low_s, is_strict_der

E = ScriptErrorCode
F = ScriptFlags
PRIVKEY = bytes.fromhex("11" * 31 + "07")
PUBKEY = public_key(PRIVKEY)
AMOUNT = 50_000


def _tx(version: int = 1, locktime: int = 0, sequence: int = 0xFFFFFFFF,
        script_sig: bytes = b"", witness: tuple[bytes, ...] = ()) -> Transaction:
    txin = TxIn(OutPoint(b"\x11" * 32, 0), script_sig, sequence, witness)
    return Transaction(version, (txin,), (TxOut(AMOUNT - 1000, b"\x51"),), locktime)


def _run(script: bytes, stack: list[bytes] | None = None, flags: ScriptFlags = F.NONE,
         checker: SignatureChecker | None = None,
         sigversion: SigVersion = SigVersion.BASE) -> list[bytes]:
    stack = [] if stack is None else stack
    eval_script(stack, script, flags, checker or SignatureChecker(), sigversion)
    return stack


def _error(func, *args, **kwargs) -> ScriptErrorCode:
    with pytest.raises(ScriptError) as info:
        func(*args, **kwargs)
    return info.value.code


# ---------------------------------------------------------------------------- timelocks
def _cltv(operand: int, locktime: int, sequence: int = 0xFFFFFFFE,
          flags: ScriptFlags = F.CHECKLOCKTIMEVERIFY) -> None:
    tx = _tx(locktime=locktime, sequence=sequence)
    script = push_int(operand) + bytes((Op.OP_CHECKLOCKTIMEVERIFY,))
    _run(script, flags=flags, checker=TransactionSignatureChecker(tx, 0, AMOUNT))


def test_cltv_satisfied_by_height_and_time() -> None:
    _cltv(400, 500)
    _cltv(500, 500)
    _cltv(500_000_000, 600_000_000)


@pytest.mark.parametrize("operand,locktime,sequence,code", [
    (501, 500, 0xFFFFFFFE, E.UNSATISFIED_LOCKTIME),          # not yet reached
    (400, 500, 0xFFFFFFFF, E.UNSATISFIED_LOCKTIME),          # final input disables nLockTime
    (500_000_000, 500, 0xFFFFFFFE, E.UNSATISFIED_LOCKTIME),  # time operand, height locktime
    (400, 500_000_001, 0xFFFFFFFE, E.UNSATISFIED_LOCKTIME),  # height operand, time locktime
    (-1, 500, 0xFFFFFFFE, E.NEGATIVE_LOCKTIME),
])
def test_cltv_failures(operand: int, locktime: int, sequence: int, code: ScriptErrorCode) -> None:
    assert _error(_cltv, operand, locktime, sequence) == code


def test_cltv_is_a_nop_without_its_flag() -> None:
    _cltv(501, 500, flags=F.NONE)
    _cltv(-1, 500, flags=F.DISCOURAGE_UPGRADABLE_NOPS)


def _csv(operand: int, sequence: int, version: int = 2) -> None:
    tx = _tx(version=version, sequence=sequence)
    script = push_int(operand) + bytes((Op.OP_CHECKSEQUENCEVERIFY,))
    _run(script, flags=F.CHECKSEQUENCEVERIFY, checker=TransactionSignatureChecker(tx, 0, AMOUNT))


def test_csv_satisfied() -> None:
    _csv(10, 10)
    _csv(5, 10)
    _csv((1 << 22) | 3, (1 << 22) | 4)         # time-based
    _csv(1 << 31, 0, version=1)                # disable bit on the operand: NOP


@pytest.mark.parametrize("operand,sequence,version,code", [
    (11, 10, 2, E.UNSATISFIED_LOCKTIME),
    (5, 10, 1, E.UNSATISFIED_LOCKTIME),               # BIP68 needs version 2
    (5, (1 << 31) | 10, 2, E.UNSATISFIED_LOCKTIME),   # input opted out of relative locks
    (5, (1 << 22) | 10, 2, E.UNSATISFIED_LOCKTIME),   # height operand, time sequence
    (-5, 10, 2, E.NEGATIVE_LOCKTIME),
])
def test_csv_failures(operand: int, sequence: int, version: int, code: ScriptErrorCode) -> None:
    assert _error(_csv, operand, sequence, version) == code


# ---------------------------------------------------------------------------- limits
def test_stack_limit_counts_both_stacks() -> None:
    assert len(_run(bytes([Op.OP_1]) * 1000)) == 1000
    assert _error(_run, bytes([Op.OP_1]) * 1001) == E.STACK_SIZE
    script = bytes([Op.OP_1]) * 999 + bytes([Op.OP_TOALTSTACK, Op.OP_1])
    assert len(_run(script)) == 999
    assert _error(_run, script + bytes([Op.OP_1])) == E.STACK_SIZE


def test_push_script_and_opcount_limits() -> None:
    _run(data_push(b"\x00" * 520))
    assert _error(_run, data_push(b"\x00" * 521)) == E.PUSH_SIZE
    _run(bytes([Op.OP_NOP]) * 201)
    assert _error(_run, bytes([Op.OP_NOP]) * 202) == E.OP_COUNT
    # Unexecuted opcodes count too.
    assert _error(_run, bytes([Op.OP_0, Op.OP_IF]) + bytes([Op.OP_NOP]) * 200
                  + bytes([Op.OP_ENDIF])) == E.OP_COUNT
    assert _error(_run, bytes([Op.OP_NOP]) * 10_001) == E.SCRIPT_SIZE


def test_unparsable_push_is_bad_opcode_even_unexecuted() -> None:
    assert _error(_run, bytes([Op.OP_PUSHDATA1])) == E.BAD_OPCODE
    assert _error(_run, bytes([0x05, 0x01, 0x02])) == E.BAD_OPCODE
    assert _error(_run, bytes([Op.OP_0, Op.OP_IF, Op.OP_PUSHDATA2, 0x01])) == E.BAD_OPCODE


@pytest.mark.parametrize("opcode", sorted(DISABLED_OPCODES), ids=lambda op: Op(op).name)
def test_disabled_opcodes_fail_in_unexecuted_branches(opcode: int) -> None:
    script = bytes([Op.OP_0, Op.OP_IF, opcode, Op.OP_ENDIF, Op.OP_1])
    assert _error(_run, script) == E.DISABLED_OPCODE


def test_reserved_and_verif_in_unexecuted_branches() -> None:
    _run(bytes([Op.OP_0, Op.OP_IF, Op.OP_RESERVED, Op.OP_VER, 0xBA, Op.OP_ENDIF]))
    assert _error(_run, bytes([Op.OP_0, Op.OP_IF, Op.OP_VERIF, Op.OP_ENDIF])) == E.BAD_OPCODE


# ---------------------------------------------------------------------------- MINIMALIF
_IF_SCRIPT = bytes([Op.OP_IF, Op.OP_1, Op.OP_ELSE, Op.OP_1, Op.OP_ENDIF])
_P2WSH_IF = bytes([Op.OP_0, 32]) + sha256(_IF_SCRIPT)
_WITNESS_FLAGS = F.P2SH | F.WITNESS


@pytest.mark.parametrize("arg,ok", [(b"", True), (b"\x01", True), (b"\x02", False),
                                    (b"\x01\x00", False), (b"\x00", False)])
def test_minimalif_applies_in_witness_v0(arg: bytes, ok: bool) -> None:
    witness = (arg, _IF_SCRIPT)
    verify_script(b"", _P2WSH_IF, witness, _WITNESS_FLAGS, SignatureChecker())
    if ok:
        verify_script(b"", _P2WSH_IF, witness, _WITNESS_FLAGS | F.MINIMALIF, SignatureChecker())
    else:
        assert _error(verify_script, b"", _P2WSH_IF, witness, _WITNESS_FLAGS | F.MINIMALIF,
                      SignatureChecker()) == E.MINIMALIF


def test_minimalif_is_not_applied_to_legacy_scripts() -> None:
    _run(data_push(b"\x02") + _IF_SCRIPT, flags=F.MINIMALIF)


# ---------------------------------------------------------------------------- signatures
def _sign_legacy(tx: Transaction, script_code: bytes, hash_type: int = 1) -> bytes:
    digest = legacy_signature_hash(script_code, tx, 0, hash_type)
    return sign_ecdsa(PRIVKEY, digest) + bytes([hash_type])


def _verify_legacy(script_pubkey: bytes, script_sig: bytes, flags: ScriptFlags) -> None:
    tx = _tx(script_sig=script_sig)
    verify_input(tx, 0, TxOut(AMOUNT, script_pubkey), flags)


def test_p2pkh_real_signature_and_tamper() -> None:
    spk = parse_asm(f"DUP HASH160 0x14 0x{hash160(PUBKEY).hex()} EQUALVERIFY CHECKSIG")
    sig = _sign_legacy(_tx(), spk)
    assert is_strict_der(sig) and is_low_s(sig[:-1])
    _verify_legacy(spk, data_push(sig) + data_push(PUBKEY), STANDARD_FLAGS)
    bad = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
    assert _error(_verify_legacy, spk, data_push(bad) + data_push(PUBKEY),
                  F.P2SH) == E.EVAL_FALSE


def test_p2wpkh_real_signature() -> None:
    program = bytes([Op.OP_0, 20]) + hash160(PUBKEY)
    script_code = parse_asm(f"DUP HASH160 0x14 0x{hash160(PUBKEY).hex()} EQUALVERIFY CHECKSIG")
    digest = segwit_v0_signature_hash(script_code, _tx(), 0, 1, AMOUNT)
    sig = sign_ecdsa(PRIVKEY, digest) + b"\x01"
    tx = _tx(witness=(sig, PUBKEY))
    verify_input(tx, 0, TxOut(AMOUNT, program), STANDARD_FLAGS)
    # The amount is committed to: a different spent value breaks the signature.
    assert _error(verify_input, tx, 0, TxOut(AMOUNT + 1, program),
                  F.P2SH | F.WITNESS) == E.EVAL_FALSE
    assert _error(verify_input, tx, 0, TxOut(AMOUNT + 1, program),
                  STANDARD_FLAGS) == E.NULLFAIL


def test_nullfail() -> None:
    garbage = bytes.fromhex("3006020101020101") + b"\x01"
    checksig_not = data_push(PUBKEY) + bytes([Op.OP_CHECKSIG, Op.OP_NOT])
    _run(data_push(garbage) + checksig_not)
    assert _error(_run, data_push(garbage) + checksig_not, flags=F.NULLFAIL) == E.NULLFAIL
    _run(bytes([Op.OP_0]) + checksig_not, flags=F.NULLFAIL)  # empty signature is fine
    multisig_not = (bytes([Op.OP_0]) + data_push(garbage) + bytes([Op.OP_1]) + data_push(PUBKEY)
                    + bytes([Op.OP_1, Op.OP_CHECKMULTISIG, Op.OP_NOT]))
    _run(multisig_not)
    assert _error(_run, multisig_not, flags=F.NULLFAIL) == E.NULLFAIL


def test_codeseparator_moves_script_code() -> None:
    spk = bytes([Op.OP_1, Op.OP_DROP, Op.OP_CODESEPARATOR]) + data_push(PUBKEY) + bytes(
        [Op.OP_CHECKSIG])
    after = data_push(PUBKEY) + bytes([Op.OP_CHECKSIG])
    _verify_legacy(spk, data_push(_sign_legacy(_tx(), after)), F.P2SH)
    assert _error(_verify_legacy, spk, data_push(_sign_legacy(_tx(), spk)),
                  F.P2SH) == E.EVAL_FALSE
    assert _error(_verify_legacy, spk, data_push(_sign_legacy(_tx(), after)),
                  F.P2SH | F.CONST_SCRIPTCODE) == E.OP_CODESEPARATOR


def test_unexecuted_codeseparator_does_not_move_script_code() -> None:
    spk = (bytes([Op.OP_0, Op.OP_IF, Op.OP_CODESEPARATOR, Op.OP_ENDIF]) + data_push(PUBKEY)
           + bytes([Op.OP_CHECKSIG]))
    _verify_legacy(spk, data_push(_sign_legacy(_tx(), spk)), F.P2SH)
    # CONST_SCRIPTCODE refuses it even unexecuted, but only in legacy scripts.
    assert _error(_verify_legacy, spk, data_push(_sign_legacy(_tx(), spk)),
                  F.CONST_SCRIPTCODE) == E.OP_CODESEPARATOR
    _run(bytes([Op.OP_0, Op.OP_IF, Op.OP_CODESEPARATOR, Op.OP_ENDIF]),
         flags=F.CONST_SCRIPTCODE, sigversion=SigVersion.WITNESS_V0)


def test_find_and_delete_removes_signature_from_script_code() -> None:
    tail = bytes([Op.OP_DROP]) + data_push(PUBKEY) + bytes([Op.OP_CHECKSIG])
    sig = _sign_legacy(_tx(), tail)  # signed over the scriptCode *without* the signature
    spk = data_push(sig) + tail
    _verify_legacy(spk, data_push(sig), F.P2SH)
    assert _error(_verify_legacy, spk, data_push(sig),
                  F.P2SH | F.CONST_SCRIPTCODE) == E.SIG_FINDANDDELETE


def test_invalid_flag_combinations_are_refused() -> None:
    with pytest.raises(InvalidFlagCombination):
        verify_script(b"", b"\x51", (), F.WITNESS, SignatureChecker())
    with pytest.raises(InvalidFlagCombination):
        verify_script(b"", b"\x51", (), F.CLEANSTACK | F.P2SH, SignatureChecker())
