"""Script verification flags, one per rule, with Bitcoin Core's names.

Consensus flags make a block invalid when broken; the rest are policy (standardness) that a
mempool applies to keep relay safe for future soft forks. Taproot is not implemented: witness
v1 outputs are treated as unknown witness versions (anyone-can-spend, discouraged by policy).
"""

from __future__ import annotations

from enum import IntFlag


class ScriptFlags(IntFlag):
    NONE = 0
    P2SH = 1 << 0
    STRICTENC = 1 << 1
    DERSIG = 1 << 2
    LOW_S = 1 << 3
    NULLDUMMY = 1 << 4
    SIGPUSHONLY = 1 << 5
    MINIMALDATA = 1 << 6
    DISCOURAGE_UPGRADABLE_NOPS = 1 << 7
    CLEANSTACK = 1 << 8
    CHECKLOCKTIMEVERIFY = 1 << 9
    CHECKSEQUENCEVERIFY = 1 << 10
    WITNESS = 1 << 11
    DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM = 1 << 12
    MINIMALIF = 1 << 13
    NULLFAIL = 1 << 14
    WITNESS_PUBKEYTYPE = 1 << 15
    CONST_SCRIPTCODE = 1 << 16


#: Rules every block must follow (the soft forks through SegWit).
CONSENSUS_FLAGS = (ScriptFlags.P2SH | ScriptFlags.DERSIG | ScriptFlags.NULLDUMMY
                   | ScriptFlags.CHECKLOCKTIMEVERIFY | ScriptFlags.CHECKSEQUENCEVERIFY
                   | ScriptFlags.WITNESS)

#: What a mempool enforces on relayed transactions (Bitcoin Core's STANDARD_SCRIPT_VERIFY_FLAGS
#: without Taproot).
STANDARD_FLAGS = (CONSENSUS_FLAGS | ScriptFlags.STRICTENC | ScriptFlags.MINIMALDATA
                  | ScriptFlags.DISCOURAGE_UPGRADABLE_NOPS | ScriptFlags.CLEANSTACK
                  | ScriptFlags.MINIMALIF | ScriptFlags.NULLFAIL | ScriptFlags.LOW_S
                  | ScriptFlags.DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM
                  | ScriptFlags.WITNESS_PUBKEYTYPE | ScriptFlags.CONST_SCRIPTCODE)

ALL_FLAGS = STANDARD_FLAGS | ScriptFlags.SIGPUSHONLY


def parse_flags(text: str) -> ScriptFlags:
    """Parse Core's comma-separated flag list (``"P2SH,STRICTENC"``; ``""``/``NONE`` = none).

    Raises KeyError for an unknown name (e.g. ``TAPROOT``), which callers use to skip rows.
    """
    flags = ScriptFlags.NONE
    for name in filter(None, (part.strip() for part in text.split(","))):
        if name == "NONE":
            continue
        flags |= ScriptFlags[name]
    return flags
