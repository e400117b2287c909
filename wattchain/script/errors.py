"""Script errors, named exactly like Bitcoin Core's ``ScriptError`` values.

Keeping Core's names lets the test suite compare our failures with the expected error column of
Core's JSON vectors one for one.
"""

from __future__ import annotations

from enum import Enum


class ScriptErrorCode(Enum):
    OK = "OK"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"
    EVAL_FALSE = "EVAL_FALSE"
    OP_RETURN = "OP_RETURN"
    # max sizes
    SCRIPT_SIZE = "SCRIPT_SIZE"
    PUSH_SIZE = "PUSH_SIZE"
    OP_COUNT = "OP_COUNT"
    STACK_SIZE = "STACK_SIZE"
    SIG_COUNT = "SIG_COUNT"
    PUBKEY_COUNT = "PUBKEY_COUNT"
    # failed verify operations
    VERIFY = "VERIFY"
    EQUALVERIFY = "EQUALVERIFY"
    CHECKMULTISIGVERIFY = "CHECKMULTISIGVERIFY"
    CHECKSIGVERIFY = "CHECKSIGVERIFY"
    NUMEQUALVERIFY = "NUMEQUALVERIFY"
    # logical/format/canonical errors
    BAD_OPCODE = "BAD_OPCODE"
    DISABLED_OPCODE = "DISABLED_OPCODE"
    INVALID_STACK_OPERATION = "INVALID_STACK_OPERATION"
    INVALID_ALTSTACK_OPERATION = "INVALID_ALTSTACK_OPERATION"
    UNBALANCED_CONDITIONAL = "UNBALANCED_CONDITIONAL"
    # CHECKLOCKTIMEVERIFY and CHECKSEQUENCEVERIFY
    NEGATIVE_LOCKTIME = "NEGATIVE_LOCKTIME"
    UNSATISFIED_LOCKTIME = "UNSATISFIED_LOCKTIME"
    # malleability
    SIG_HASHTYPE = "SIG_HASHTYPE"
    SIG_DER = "SIG_DER"
    MINIMALDATA = "MINIMALDATA"
    SIG_PUSHONLY = "SIG_PUSHONLY"
    SIG_HIGH_S = "SIG_HIGH_S"
    SIG_NULLDUMMY = "SIG_NULLDUMMY"
    PUBKEYTYPE = "PUBKEYTYPE"
    CLEANSTACK = "CLEANSTACK"
    MINIMALIF = "MINIMALIF"
    NULLFAIL = "NULLFAIL"
    # softfork safeness
    DISCOURAGE_UPGRADABLE_NOPS = "DISCOURAGE_UPGRADABLE_NOPS"
    DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM = "DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM"
    # segregated witness
    WITNESS_PROGRAM_WRONG_LENGTH = "WITNESS_PROGRAM_WRONG_LENGTH"
    WITNESS_PROGRAM_WITNESS_EMPTY = "WITNESS_PROGRAM_WITNESS_EMPTY"
    WITNESS_PROGRAM_MISMATCH = "WITNESS_PROGRAM_MISMATCH"
    WITNESS_MALLEATED = "WITNESS_MALLEATED"
    WITNESS_MALLEATED_P2SH = "WITNESS_MALLEATED_P2SH"
    WITNESS_UNEXPECTED = "WITNESS_UNEXPECTED"
    WITNESS_PUBKEYTYPE = "WITNESS_PUBKEYTYPE"
    # constant scriptCode
    OP_CODESEPARATOR = "OP_CODESEPARATOR"
    SIG_FINDANDDELETE = "SIG_FINDANDDELETE"
    # arithmetic on over-long or non-minimal numbers
    SCRIPTNUM = "SCRIPTNUM"


class ScriptError(Exception):
    """A script failed; ``code`` says why in Bitcoin Core's vocabulary."""

    def __init__(self, code: ScriptErrorCode, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
