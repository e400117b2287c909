"""Standard output templates: recognising them (``solve``) and building them.

Classification mirrors Bitcoin Core's ``Solver``: the same template names, the same order of
checks and the same "solutions" (the data a signer needs), so that wallets, address encoding
and later the mempool's standardness policy all agree with Bitcoin on what an output *is*.

Only classification lives here. Standardness *policy* (dust, datacarrier size, bare multisig
relay) belongs to the mempool; :func:`is_standard_script_pubkey` is a thin convenience with
Core's default numbers so callers need not re-derive them.

Witness v1+ outputs (including 32-byte v1, Taproot on Bitcoin) classify as
``WITNESS_UNKNOWN``: wattchain does not implement Taproot, so they are future soft-fork space.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from wattchain.core.hashes import hash160, sha256
from wattchain.script.number import decode_num
from wattchain.script.opcodes import (LOCKTIME_THRESHOLD, MAX_PUBKEYS_PER_MULTISIG,
                                      MAX_SCRIPT_ELEMENT_SIZE, Op, decode_small_int)
from wattchain.script.script import (ScriptParseError, build_script, is_p2sh, iter_script,
                                     push_data, push_int, witness_program)
from wattchain.script.errors import ScriptError


class TxOutType(Enum):
    """Output template kinds, named as in Bitcoin Core (``TxoutType``)."""

    NONSTANDARD = "nonstandard"
    PUBKEY = "pubkey"
    PUBKEYHASH = "pubkeyhash"
    SCRIPTHASH = "scripthash"
    MULTISIG = "multisig"
    NULL_DATA = "nulldata"
    WITNESS_V0_KEYHASH = "witness_v0_keyhash"
    WITNESS_V0_SCRIPTHASH = "witness_v0_scripthash"
    WITNESS_UNKNOWN = "witness_unknown"


class TemplateError(ValueError):
    """A builder was given arguments that cannot form the requested template."""


#: Core's default -datacarriersize (bytes of the whole OP_RETURN script) before v30.
DEFAULT_MAX_DATACARRIER_BYTES = 83
#: Core relays bare (non-P2SH) multisig only up to this many keys.
MAX_STANDARD_BARE_MULTISIG_KEYS = 3
#: Sequence bits of BIP68 relative locks that CSV compares (see checker.py for the rule).
SEQUENCE_LOCKTIME_DISABLE_FLAG = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG = 1 << 22
SEQUENCE_LOCKTIME_MASK = 0x0000FFFF
SEQUENCE_LOCKTIME_GRANULARITY = 9  # time-based relative locks count units of 512 seconds


# ---------------------------------------------------------------------------- pubkey shapes
def pubkey_valid_size(data: bytes) -> bool:
    """Core's ``CPubKey::ValidSize``: the header byte implies the length.

    Only the *shape* is checked (02/03 + 32 bytes, 04/06/07 + 64 bytes), not that the point is
    on the curve: classification must be cheap and match Core, which also stops here.
    """
    if not data:
        return False
    header = data[0]
    if header in (2, 3):
        return len(data) == 33
    if header in (4, 6, 7):
        return len(data) == 65
    return False


def is_compressed_pubkey(data: bytes) -> bool:
    return len(data) == 33 and data[0] in (2, 3)


# ---------------------------------------------------------------------------- classification
def solve(script_pubkey: bytes) -> tuple[TxOutType, list[bytes]]:
    """Classify ``script_pubkey`` and return what is needed to spend it (Core's ``Solver``).

    Solutions per type:

    * PUBKEY: ``[pubkey]``; PUBKEYHASH / WITNESS_V0_KEYHASH: ``[hash160(pubkey)]``
    * SCRIPTHASH: ``[hash160(redeem_script)]``; WITNESS_V0_SCRIPTHASH: ``[sha256(script)]``
    * MULTISIG: ``[bytes([m]), key_1, ..., key_n, bytes([n])]``
    * WITNESS_UNKNOWN: ``[bytes([version]), program]``
    * NULL_DATA and NONSTANDARD: ``[]``
    """
    if is_p2sh(script_pubkey):
        return TxOutType.SCRIPTHASH, [script_pubkey[2:22]]
    program = witness_program(script_pubkey)
    if program is not None:
        version, data = program
        if version == 0 and len(data) == 20:
            return TxOutType.WITNESS_V0_KEYHASH, [data]
        if version == 0 and len(data) == 32:
            return TxOutType.WITNESS_V0_SCRIPTHASH, [data]
        if version != 0:
            return TxOutType.WITNESS_UNKNOWN, [bytes((version,)), data]
        return TxOutType.NONSTANDARD, []
    if script_pubkey[:1] == bytes((Op.OP_RETURN,)) and _push_only_from(script_pubkey, 1):
        return TxOutType.NULL_DATA, []
    pubkey = _match_p2pk(script_pubkey)
    if pubkey is not None:
        return TxOutType.PUBKEY, [pubkey]
    if _is_p2pkh(script_pubkey):
        return TxOutType.PUBKEYHASH, [script_pubkey[3:23]]
    match = _match_multisig(script_pubkey)
    if match is not None:
        m, keys = match
        return TxOutType.MULTISIG, [bytes((m,)), *keys, bytes((len(keys),))]
    return TxOutType.NONSTANDARD, []


def _push_only_from(script: bytes, start: int) -> bool:
    """Core's IsPushOnly from ``start``: every op <= OP_16 (OP_RESERVED included), parses."""
    try:
        return all(op.opcode <= Op.OP_16 for op in iter_script(script, start))
    except ScriptParseError:
        return False


def _match_p2pk(script: bytes) -> bytes | None:
    n = len(script)
    if n in (35, 67) and script[0] == n - 2 and script[-1] == Op.OP_CHECKSIG:
        pubkey = script[1:-1]
        if pubkey_valid_size(pubkey):
            return pubkey
    return None


def _is_p2pkh(script: bytes) -> bool:
    return (len(script) == 25 and script[0] == Op.OP_DUP and script[1] == Op.OP_HASH160
            and script[2] == 20 and script[23] == Op.OP_EQUALVERIFY
            and script[24] == Op.OP_CHECKSIG)


def _script_number(opcode: int, data: bytes | None, low: int, high: int) -> int | None:
    """A small number written either as OP_1..OP_16 or as a *minimal* push (Core's
    GetScriptNumber); lets 17..20-key multisig be recognised as Core does."""
    if Op.OP_1 <= opcode <= Op.OP_16:
        value = decode_small_int(opcode)
    elif data is not None:
        if push_data(data)[0] != opcode:  # not the minimal push of this data
            return None
        try:
            value = decode_num(data, require_minimal=True)
        except ScriptError:
            return None
    else:
        return None
    return value if low <= value <= high else None


def _match_multisig(script: bytes) -> tuple[int, list[bytes]] | None:
    if not script or script[-1] != Op.OP_CHECKMULTISIG:
        return None
    ops = iter_script(script)
    try:
        first = next(ops)
        m = _script_number(first.opcode, first.data, 1, MAX_PUBKEYS_PER_MULTISIG)
        if m is None:
            return None
        keys: list[bytes] = []
        op = next(ops)
        while op.data is not None and pubkey_valid_size(op.data):
            keys.append(op.data)
            op = next(ops)
        n = _script_number(op.opcode, op.data, m, MAX_PUBKEYS_PER_MULTISIG)
        if n is None or n != len(keys):
            return None
        # The count must be followed by exactly the final OP_CHECKMULTISIG byte.
        return (m, keys) if op.end + 1 == len(script) else None
    except (StopIteration, ScriptParseError):
        return None


def is_standard_script_pubkey(script_pubkey: bytes, *,
                              max_datacarrier_bytes: int | None = DEFAULT_MAX_DATACARRIER_BYTES,
                              permit_bare_multisig: bool = True) -> bool:
    """Core's ``IsStandard`` for an output script, with its defaults as keyword knobs.

    ``max_datacarrier_bytes=None`` disables the OP_RETURN size limit (Core v30's default).
    Dust and other value-dependent rules are the mempool's, not this function's.
    """
    kind, solutions = solve(script_pubkey)
    if kind is TxOutType.NONSTANDARD:
        return False
    if kind is TxOutType.MULTISIG:
        m, n = solutions[0][0], solutions[-1][0]
        return permit_bare_multisig and 1 <= m <= n <= MAX_STANDARD_BARE_MULTISIG_KEYS
    if kind is TxOutType.NULL_DATA:
        return max_datacarrier_bytes is None or len(script_pubkey) <= max_datacarrier_bytes
    return True


# ---------------------------------------------------------------------------- builders
def _need(condition: bool, message: str) -> None:
    if not condition:
        raise TemplateError(message)


def _check_pubkey(pubkey: bytes) -> None:
    _need(pubkey_valid_size(pubkey), f"not a well-formed public key ({len(pubkey)} bytes)")


def p2pk(pubkey: bytes) -> bytes:
    """``<pubkey> OP_CHECKSIG``."""
    _check_pubkey(pubkey)
    return build_script(pubkey, Op.OP_CHECKSIG)


def p2pkh(pubkey_hash: bytes) -> bytes:
    """``OP_DUP OP_HASH160 <hash160(pubkey)> OP_EQUALVERIFY OP_CHECKSIG``."""
    _need(len(pubkey_hash) == 20, "a P2PKH hash is 20 bytes (pass hash160(pubkey))")
    return build_script(Op.OP_DUP, Op.OP_HASH160, pubkey_hash, Op.OP_EQUALVERIFY,
                        Op.OP_CHECKSIG)


def p2sh(script_hash: bytes) -> bytes:
    """``OP_HASH160 <hash160(redeem_script)> OP_EQUAL``; see :func:`p2sh_of` to pass a script."""
    _need(len(script_hash) == 20, "a P2SH hash is 20 bytes (pass hash160(redeem_script))")
    return build_script(Op.OP_HASH160, script_hash, Op.OP_EQUAL)


def p2sh_of(redeem_script: bytes) -> bytes:
    """P2SH output for ``redeem_script``; refuses scripts too large to ever be redeemed,
    since the redeem script is a single push limited to 520 bytes."""
    _need(len(redeem_script) <= MAX_SCRIPT_ELEMENT_SIZE,
          f"redeem script is {len(redeem_script)} bytes; P2SH allows at most 520")
    return p2sh(hash160(redeem_script))


def p2wpkh(pubkey_hash: bytes) -> bytes:
    """``OP_0 <hash160(pubkey)>``. Spendable only with a *compressed* key (BIP143 policy)."""
    _need(len(pubkey_hash) == 20, "a P2WPKH program is 20 bytes (pass hash160(pubkey))")
    return bytes((Op.OP_0, 20)) + pubkey_hash


def p2wsh(witness_script: bytes) -> bytes:
    """``OP_0 <sha256(witness_script)>``: takes the script itself (not a hash) so callers cannot
    accidentally pass a hash160 or a double-SHA256."""
    return bytes((Op.OP_0, 32)) + sha256(witness_script)


def multisig(m: int, pubkeys: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Bare ``m <key_1> ... <key_n> n OP_CHECKMULTISIG`` with 1 <= m <= n <= 20.

    Counts above 16 are minimal number pushes (as Core's solver expects). Consensus allows 20
    keys, but wrapped in P2SH the whole script must fit one 520-byte push, so 15 compressed
    keys is the practical maximum there; P2WSH has no such limit (3,600-byte policy limit).
    """
    n = len(pubkeys)
    _need(1 <= n <= MAX_PUBKEYS_PER_MULTISIG, f"multisig needs 1..20 keys, got {n}")
    _need(1 <= m <= n, f"multisig needs 1 <= m <= n, got m={m}, n={n}")
    for key in pubkeys:
        _check_pubkey(key)
    return (push_int(m) + b"".join(push_data(key) for key in pubkeys) + push_int(n)
            + bytes((Op.OP_CHECKMULTISIG,)))


def null_data(*pushes: bytes) -> bytes:
    """``OP_RETURN <push>...``: provably unspendable data carrier (size policy is the mempool's)."""
    return bytes((Op.OP_RETURN,)) + b"".join(push_data(bytes(p)) for p in pushes)


# ---------------------------------------------------------------------------- timelocks
@dataclass(frozen=True, slots=True)
class TimelockTemplate:
    """A recognised ``<n> OP_CLTV|OP_CSV OP_DROP <pubkey> OP_CHECKSIG`` script."""

    opcode: int  # Op.OP_CHECKLOCKTIMEVERIFY or Op.OP_CHECKSEQUENCEVERIFY
    value: int
    pubkey: bytes


def cltv_locked(locktime: int, pubkey: bytes) -> bytes:
    """``<locktime> OP_CHECKLOCKTIMEVERIFY OP_DROP <pubkey> OP_CHECKSIG`` (BIP65).

    Spendable by ``pubkey`` once the spending transaction's nLockTime is >= ``locktime`` and of
    the same kind (block height below 500,000,000, UNIX time at or above), with that input's
    nSequence below 0xFFFFFFFF so nLockTime is enforced. Nonstandard as a bare output: wrap it
    in P2WSH or P2SH.
    """
    _need(0 <= locktime <= 0xFFFFFFFF, "locktime must fit nLockTime (0..2^32-1)")
    _check_pubkey(pubkey)
    return push_int(locktime) + bytes((Op.OP_CHECKLOCKTIMEVERIFY, Op.OP_DROP)) + p2pk(pubkey)


def csv_locked(relative: int, pubkey: bytes) -> bytes:
    """``<relative> OP_CHECKSEQUENCEVERIFY OP_DROP <pubkey> OP_CHECKSIG`` (BIP112).

    ``relative`` is in BIP68 nSequence form (see :func:`relative_blocks` and
    :func:`relative_seconds`). The spending transaction must have version >= 2 and the input an
    nSequence lock of the same kind at least as long. The disable bit (1<<31) is refused because
    it would turn the CSV into a no-op, leaving the output locked by the key alone.
    """
    _need(0 <= relative < SEQUENCE_LOCKTIME_DISABLE_FLAG,
          "relative lock must be below 2^31 (the disable flag would make CSV a no-op)")
    _check_pubkey(pubkey)
    return push_int(relative) + bytes((Op.OP_CHECKSEQUENCEVERIFY, Op.OP_DROP)) + p2pk(pubkey)


def relative_blocks(blocks: int) -> int:
    """BIP68 nSequence / CSV value for a relative lock of ``blocks`` blocks (0..65535)."""
    _need(0 <= blocks <= SEQUENCE_LOCKTIME_MASK, "relative block locks are 0..65535")
    return blocks


def relative_seconds(seconds: int) -> int:
    """BIP68 value for a time lock of at least ``seconds`` (rounded up to 512-second units)."""
    units = -(-seconds // (1 << SEQUENCE_LOCKTIME_GRANULARITY))
    _need(0 <= units <= SEQUENCE_LOCKTIME_MASK, "relative time locks are 0..33553920 seconds")
    return SEQUENCE_LOCKTIME_TYPE_FLAG | units


def match_timelock(script: bytes) -> TimelockTemplate | None:
    """Recognise the :func:`cltv_locked` / :func:`csv_locked` shapes (exact, minimal encoding)."""
    try:
        ops = list(iter_script(script))
    except ScriptParseError:
        return None
    if len(ops) != 5:
        return None
    lock, verify, drop, key, checksig = ops
    if (verify.opcode not in (Op.OP_CHECKLOCKTIMEVERIFY, Op.OP_CHECKSEQUENCEVERIFY)
            or drop.opcode != Op.OP_DROP or checksig.opcode != Op.OP_CHECKSIG
            or key.data is None or not pubkey_valid_size(key.data)
            or script[key.start:key.end] != push_data(key.data)):
        return None
    if Op.OP_1 <= lock.opcode <= Op.OP_16 or lock.opcode == Op.OP_0:
        value = decode_small_int(lock.opcode)
    elif lock.data is not None and push_data(lock.data)[0] == lock.opcode:
        try:
            value = decode_num(lock.data, require_minimal=True, max_size=5)
        except ScriptError:
            return None
    else:
        return None
    if value < 0:
        return None
    return TimelockTemplate(verify.opcode, value, key.data)


def locktime_is_height(locktime: int) -> bool:
    """True if an absolute ``locktime`` is a block height rather than a UNIX time."""
    return locktime < LOCKTIME_THRESHOLD
