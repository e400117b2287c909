"""Transaction rules that need chain context or the spent coins (Core's tx_verify.cpp).

- finality: absolute locktime by height or median-time-past (BIP113);
- BIP68 relative locktimes, measured from the coin's height or the MTP before it;
- input checks: existence, maturity, value ranges, no value created, fee range;
- signature-operation cost (legacy x4, P2SH x4, witness x1 per BIP141).

The mempool reuses these with its own flags and views, which is why they are separate from
``connect_block``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntFlag

from wattchain.consensus.coins import Coin, CoinsView
from wattchain.consensus.context import ChainContext
from wattchain.consensus.errors import TxValidationError
from wattchain.consensus.params import ChainParams
from wattchain.core.tx import SEQUENCE_FINAL, WITNESS_SCALE_FACTOR, Transaction, TxIn
from wattchain.script.flags import ScriptFlags
from wattchain.script.opcodes import LOCKTIME_THRESHOLD, Op
from wattchain.script.script import (ScriptParseError, count_sigops, is_p2sh, iter_script,
                                     witness_program)

SEQUENCE_LOCKTIME_DISABLE_FLAG = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG = 1 << 22
SEQUENCE_LOCKTIME_MASK = 0x0000FFFF
#: Time-based relative locks count in units of 2**9 = 512 seconds.
SEQUENCE_LOCKTIME_GRANULARITY = 9


class LockTimeFlags(IntFlag):
    """Core's LOCKTIME_* flags; consensus always uses both (:data:`CONSENSUS_LOCKTIME_FLAGS`)."""

    NONE = 0
    VERIFY_SEQUENCE = 1 << 0   # enforce BIP68
    MEDIAN_TIME_PAST = 1 << 1  # BIP113: judge time locks against median-time-past


CONSENSUS_LOCKTIME_FLAGS = LockTimeFlags.VERIFY_SEQUENCE | LockTimeFlags.MEDIAN_TIME_PAST

_P2SH, _WITNESS = int(ScriptFlags.P2SH), int(ScriptFlags.WITNESS)


# ------------------------------------------------------------------------------ finality
def is_final_tx(tx: Transaction, block_height: int, block_time: int) -> bool:
    """Core's IsFinalTx: locktime 0, or already passed (by height or time, per its kind),
    or every input's sequence is final (which disables nLockTime)."""
    locktime = tx.locktime
    if locktime == 0:
        return True
    limit = block_height if locktime < LOCKTIME_THRESHOLD else block_time
    if locktime < limit:
        return True
    return all(txin.sequence == SEQUENCE_FINAL for txin in tx.inputs)


# ------------------------------------------------------------------------------ BIP68
@dataclass(frozen=True, slots=True)
class SequenceLocks:
    """The last height and last MTP at which ``tx`` is still locked; -1 means no lock."""

    min_height: int = -1
    min_time: int = -1


def calculate_sequence_locks(tx: Transaction, flags: LockTimeFlags, prev_heights: Sequence[int],
                             block_ctx: ChainContext) -> SequenceLocks:
    """Core's CalculateSequenceLocks for ``tx`` spending coins created at ``prev_heights``.

    ``block_ctx`` is the parent of the block ``tx`` would be in; a coin created in that block
    itself has height ``block_ctx.height + 1``. Disabled inputs and version-1 transactions
    impose no lock.
    """
    if len(prev_heights) != len(tx.inputs):
        raise ValueError("one previous height per input")
    min_height = -1
    min_time = -1
    if tx.version < 2 or not flags & LockTimeFlags.VERIFY_SEQUENCE:
        return SequenceLocks()
    for txin, coin_height in zip(tx.inputs, prev_heights):
        sequence = txin.sequence
        if sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG:
            continue
        value = sequence & SEQUENCE_LOCKTIME_MASK
        if sequence & SEQUENCE_LOCKTIME_TYPE_FLAG:
            coin_time = block_ctx.median_time_past_at(max(coin_height - 1, 0))
            min_time = max(min_time, coin_time + (value << SEQUENCE_LOCKTIME_GRANULARITY) - 1)
        else:
            min_height = max(min_height, coin_height + value - 1)
    return SequenceLocks(min_height, min_time)


def evaluate_sequence_locks(block_height: int, parent_median_time_past: int,
                            locks: SequenceLocks) -> bool:
    """True when a block at ``block_height`` (whose parent has the given MTP) may include the
    transaction: both locks lie strictly in the past."""
    return locks.min_height < block_height and locks.min_time < parent_median_time_past


def check_sequence_locks(tx: Transaction, flags: LockTimeFlags, prev_heights: Sequence[int],
                         block_ctx: ChainContext) -> bool:
    """Core's SequenceLocks: calculate and evaluate for the child of ``block_ctx``."""
    locks = calculate_sequence_locks(tx, flags, prev_heights, block_ctx)
    return evaluate_sequence_locks(block_ctx.height + 1, block_ctx.median_time_past, locks)


# ------------------------------------------------------------------------------ inputs
def is_coinstake(tx: Transaction) -> bool:
    """Qtum's IsCoinStake: spends a real outpoint first, has >= 2 outputs, and output 0 is the
    empty marker (value 0, empty script)."""
    return (bool(tx.inputs) and not tx.inputs[0].prevout.is_null() and len(tx.outputs) >= 2
            and tx.outputs[0].value == 0 and not tx.outputs[0].script_pubkey)


def check_tx_inputs(tx: Transaction, view: CoinsView, spend_height: int,
                    params: ChainParams, *, coinstake: bool = False) -> int:
    """Core's Consensus::CheckTxInputs; returns the fee (inputs minus outputs).

    ``coinstake=True`` (only for a block's coinstake, decided by the caller, never by the tx's
    shape alone) skips the value-created check: a coinstake mints the stake reward, which the
    block-level reward check bounds, and the returned "fee" is then minus the reward.
    Coinstake outputs mature like coinbase outputs (Qtum).
    """
    coins: list[Coin] = []
    for txin in tx.inputs:
        coin = view.get_coin(txin.prevout)
        if coin is None:
            raise TxValidationError("bad-txns-inputs-missingorspent",
                                    f"input {txin.prevout} missing or spent")
        coins.append(coin)
    return check_tx_input_coins(tx, coins, spend_height, params, coinstake=coinstake)


def check_tx_input_coins(tx: Transaction, coins: Sequence[Coin], spend_height: int,
                         params: ChainParams, *, coinstake: bool = False) -> int:
    """:func:`check_tx_inputs` once the spent coins are in hand (``coins[i]`` for input i):
    ``connect_block`` fetches each coin once and passes the list on instead of asking the
    view again for every rule."""
    if len(coins) != len(tx.inputs):
        raise ValueError("one spent coin per input")
    value_in = 0
    max_money = params.max_money
    for txin, coin in zip(tx.inputs, coins):
        if ((coin.is_coinbase or coin.is_coinstake)
                and not params.generated_coin_mature(coin.height, spend_height)):
            reason = ("bad-txns-premature-spend-of-coinbase" if coin.is_coinbase
                      else "bad-txns-premature-spend-of-coinstake")
            raise TxValidationError(reason, f"tried to spend immature {txin.prevout} "
                                            f"at depth {spend_height - coin.height}")
        value = coin.output.value
        value_in += value
        if not (0 <= value <= max_money and value_in <= max_money):
            raise TxValidationError("bad-txns-inputvalues-outofrange")
    value_out = tx.total_output_value()
    if coinstake:
        return value_in - value_out
    if value_in < value_out:
        raise TxValidationError("bad-txns-in-belowout",
                                f"value in ({value_in}) < value out ({value_out})")
    fee = value_in - value_out
    if not 0 <= fee <= max_money:
        raise TxValidationError("bad-txns-fee-outofrange")
    return fee


# ------------------------------------------------------------------------------ sigops
def _last_push(script_sig: bytes) -> bytes | None:
    """The data of the last push of a push-only script, as Core's sigop counters take the
    redeem script; None if some op is not a push or the script does not parse. OP_1..OP_16
    push no data here (Core's GetOp clears the buffer for them)."""
    data = b""
    try:
        for op in iter_script(script_sig):
            if op.opcode > Op.OP_16:
                return None
            data = op.data if op.data is not None else b""
    except ScriptParseError:
        return None
    return data


def _p2sh_input_sigops(txin: TxIn, script_pubkey: bytes) -> int:
    if is_p2sh(script_pubkey):
        redeem = _last_push(txin.script_sig)
        if redeem:
            return count_sigops(redeem, accurate=True)
    return 0


def p2sh_sigop_count(tx: Transaction, coins: Sequence[Coin]) -> int:
    """Core's GetP2SHSigOpCount: accurate sigops of each P2SH input's redeem script."""
    if tx.is_coinbase():
        return 0
    return sum(_p2sh_input_sigops(txin, coin.output.script_pubkey)
               for txin, coin in zip(tx.inputs, coins))


def _witness_sigops(version: int, program: bytes, witness: tuple[bytes, ...]) -> int:
    if version == 0:
        if len(program) == 20:
            return 1
        if len(program) == 32 and witness:
            return count_sigops(witness[-1], accurate=True)
    return 0


def _witness_input_sigops(txin: TxIn, script_pubkey: bytes, bits: int) -> int:
    """One input's share of CountWitnessSigOps (the WITNESS flag is the caller's check)."""
    program = witness_program(script_pubkey)
    if program is None and bits & _P2SH and is_p2sh(script_pubkey):
        redeem = _last_push(txin.script_sig)
        program = witness_program(redeem) if redeem else None
    if program is None:
        return 0
    return _witness_sigops(program[0], program[1], txin.witness)


def witness_sigop_count(tx: Transaction, coins: Sequence[Coin], flags: ScriptFlags) -> int:
    """Core's CountWitnessSigOps summed over the inputs (native and P2SH-wrapped programs)."""
    bits = int(flags)
    if not bits & _WITNESS:
        return 0
    return sum(_witness_input_sigops(txin, coin.output.script_pubkey, bits)
               for txin, coin in zip(tx.inputs, coins))


def transaction_sigop_cost(tx: Transaction, coins: Sequence[Coin], flags: ScriptFlags) -> int:
    """BIP141 sigop cost: legacy x4, plus P2SH x4 and witness x1 for non-coinbase txs.

    ``coins`` are the coins ``tx`` spends, in input order (ignored for a coinbase). One pass
    over the inputs does the P2SH and witness parts (what :func:`p2sh_sigop_count` and
    :func:`witness_sigop_count` add up), with native P2WPKH, a block's usual input, answered
    by its shape.
    """
    from_legacy = 0
    for txin in tx.inputs:
        if txin.script_sig:
            from_legacy += count_sigops(txin.script_sig, accurate=False)
    for out in tx.outputs:
        from_legacy += count_sigops(out.script_pubkey, accurate=False)
    cost = from_legacy * WITNESS_SCALE_FACTOR
    if tx.is_coinbase():
        return cost
    bits = int(flags)
    p2sh = bits & _P2SH
    witness = bits & _WITNESS
    for txin, coin in zip(tx.inputs, coins):
        spk = coin.output.script_pubkey
        if len(spk) == 22 and spk[0] == 0 and spk[1] == 20:
            if witness:  # native P2WPKH: no P2SH part, one witness sigop
                cost += 1
            continue
        if p2sh:
            cost += _p2sh_input_sigops(txin, spk) * WITNESS_SCALE_FACTOR
        if witness:
            cost += _witness_input_sigops(txin, spk, bits)
    return cost
