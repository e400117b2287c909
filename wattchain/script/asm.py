"""Script text: Bitcoin Core's test-vector assembly (parse) and its ASM display format.

Two different languages, on purpose:

* :func:`parse_asm` reads the language of Core's JSON vectors (script_tests, tx_valid, ...):
  decimal numbers become number pushes, ``0x..`` tokens are *raw bytes spliced in unchanged*
  (so ``0x02 0x0100`` is one 2-byte push), ``'text'`` pushes ASCII, and opcodes are named with
  or without ``OP_``. Opcodes below OP_NOP (except OP_RESERVED) have no name; they are written
  as numbers.
* :func:`to_asm` renders scripts like Core's ``ScriptToAsmStr`` (decodescript's ``asm``):
  pushes of up to 4 bytes as decimal numbers, longer pushes as hex, opcodes by name.
"""

from __future__ import annotations

import re

from wattchain.script.checksig_ops import data_push
from wattchain.script.errors import ScriptError
from wattchain.script.flags import ScriptFlags
from wattchain.script.number import encode_num
from wattchain.script.opcodes import MAX_SCRIPT_SIZE, OPCODE_ALIASES, Op
from wattchain.script.script import ScriptParseError, iter_script
from wattchain.script.signature_encoding import check_signature_encoding


class AsmParseError(ValueError):
    """Script text that does not follow the vector language (unknown word, bad number)."""


_DECIMAL = re.compile(r"-?[0-9]+")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_MAX_DECIMAL = 0xFFFFFFFF


def _build_name_table() -> dict[str, int]:
    names: dict[str, int] = {}
    for op in Op:
        if (op < Op.OP_NOP and op != Op.OP_RESERVED) or op == Op.OP_INVALIDOPCODE:
            continue
        names[op.name] = int(op)
        names[op.name[3:]] = int(op)
    for alias, op in OPCODE_ALIASES.items():
        names.setdefault(alias, int(op))
        names.setdefault(alias[3:], int(op))
    return names


_NAMES = _build_name_table()


def _push_number(n: int) -> bytes:
    """Core's ``CScript << int64``: OP_0, OP_1NEGATE, OP_1..OP_16, else a CScriptNum push."""
    if n == 0:
        return bytes((Op.OP_0,))
    if n == -1 or 1 <= n <= 16:
        return bytes((n + (Op.OP_1 - 1),))
    return data_push(encode_num(n))


def parse_asm(text: str) -> bytes:
    """Assemble vector-style script text into script bytes.

    Tokens are separated by spaces, tabs or newlines (so quoted text cannot contain them, as
    in Core). Raises :class:`AsmParseError` on anything else.
    """
    out = bytearray()
    for word in re.split(r"[ \t\n]+", text):
        if not word:
            continue
        if _DECIMAL.fullmatch(word):
            n = int(word)
            if n > _MAX_DECIMAL or n < -_MAX_DECIMAL:
                raise AsmParseError(f"decimal {word} outside -0xFFFFFFFF..0xFFFFFFFF")
            out += _push_number(n)
        elif word.startswith("0x") and _HEX.fullmatch(word, 2):
            out += bytes.fromhex(word[2:])
        elif len(word) >= 2 and word[0] == "'" and word[-1] == "'":
            out += data_push(word[1:-1].encode("latin-1"))
        elif word in _NAMES:
            out.append(_NAMES[word])
        else:
            raise AsmParseError(f"unknown script word {word!r}")
    return bytes(out)


_SIGHASH_NAMES = {
    0x01: "ALL", 0x81: "ALL|ANYONECANPAY", 0x02: "NONE", 0x82: "NONE|ANYONECANPAY",
    0x03: "SINGLE", 0x83: "SINGLE|ANYONECANPAY",
}


def opcode_asm_name(opcode: int) -> str:
    """Name of a non-push opcode in ASM output: numbers for OP_1NEGATE/OP_1..OP_16."""
    if opcode == Op.OP_1NEGATE:
        return "-1"
    if Op.OP_1 <= opcode <= Op.OP_16:
        return str(opcode - (Op.OP_1 - 1))
    try:
        return Op(opcode).name
    except ValueError:
        return "OP_UNKNOWN"


def to_asm(script: bytes, attempt_sighash_decode: bool = False) -> str:
    """Human-readable script, in Core's ScriptToAsmStr format.

    Pushes of up to 4 bytes are shown as the number they encode (non-minimal encodings are
    shown as their value too, like Core); longer pushes as hex. An unparsable tail is shown as
    ``[error]``. With ``attempt_sighash_decode`` (used for scriptSigs), pushes that are strictly
    encoded signatures get their hash type shown as ``[ALL]`` etc. instead of the last byte.
    """
    parts: list[str] = []
    unspendable = (bool(script) and script[0] == Op.OP_RETURN) or len(script) > MAX_SCRIPT_SIZE
    try:
        for op in iter_script(script):
            data = op.data
            if data is None:
                parts.append(opcode_asm_name(op.opcode))
            elif len(data) <= 4:
                parts.append(str(_lenient_num(data)))
            elif attempt_sighash_decode and not unspendable:
                parts.append(_signature_asm(data))
            else:
                parts.append(data.hex())
    except ScriptParseError:
        parts.append("[error]")
    return " ".join(parts)


def _lenient_num(data: bytes) -> int:
    """Value of up to 4 bytes as a script number, without the minimality rule."""
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def _signature_asm(data: bytes) -> str:
    try:
        check_signature_encoding(data, ScriptFlags.STRICTENC)
    except ScriptError:
        return data.hex()
    name = _SIGHASH_NAMES.get(data[-1])
    if name is None:
        return data.hex()
    return f"{data[:-1].hex()}[{name}]"
