"""Bitcoin Core's tx_valid.json / tx_invalid.json against the interpreter and CheckTransaction.

The two files use flags in opposite senses (see the vectors' SOURCES.md):

* tx_valid: flags are EXCLUDED. The tx must pass with every flag except those, keep passing
  when more flags are removed, and fail if any one excluded flag is put back ("maximal").
* tx_invalid: flags are APPLIED. The tx must fail with them, keep failing when flags are added,
  and pass if any one of them is removed ("minimal"). ``BADTX`` rows must instead fail the
  context-free transaction checks.

Flag sets are kept valid the way Core's harness does it: when removing flags, WITNESS goes
without P2SH and CLEANSTACK without WITNESS (``trim_flags``); when adding, CLEANSTACK brings
WITNESS and WITNESS brings P2SH (``fill_flags``).
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

import pytest
from vector_files import vectors_dir

from wattchain.consensus.errors import TxValidationError
from wattchain.consensus.tx_check import check_transaction
from wattchain.core.tx import OutPoint, Transaction, TxOut, hex_to_txid
from wattchain.script.asm import parse_asm
from wattchain.script.errors import ScriptError
from wattchain.script.flags import ALL_FLAGS, ScriptFlags, parse_flags
from wattchain.script.interpreter import verify_input
from wattchain.script.sighash import PrecomputedTransactionData

MAX_MONEY = 21_000_000 * 10**8
MAX_BLOCK_WEIGHT = 4_000_000
#: Every flag the interpreter knows, one by one (Core iterates its flag-name table).
SINGLE_FLAGS: tuple[ScriptFlags, ...] = tuple(f for f in ScriptFlags if f and f & ALL_FLAGS)


class TxRow(NamedTuple):
    index: int
    prevouts: dict[OutPoint, TxOut]
    tx_hex: str
    flags: str


def _load(name: str) -> list[TxRow]:
    import json
    path = vectors_dir() / "bitcoin" / name
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        raw_rows: list[Any] = json.load(handle)
    rows = []
    for index, raw in enumerate(raw_rows):
        if not isinstance(raw[0], list):
            continue  # comment row
        prevouts: dict[OutPoint, TxOut] = {}
        for prev in raw[0]:
            vout = prev[1] & 0xFFFFFFFF  # -1 means 0xffffffff
            amount = prev[3] if len(prev) > 3 else 0
            prevouts[OutPoint(hex_to_txid(prev[0]), vout)] = TxOut(amount, parse_asm(prev[2]))
        rows.append(TxRow(index, prevouts, raw[1], raw[2]))
    return rows


VALID = _load("tx_valid.json")
INVALID = _load("tx_invalid.json")


def _row_id(row: TxRow) -> str:
    return f"row{row.index:03d}-{row.flags.replace(',', '+')[:50]}"


def trim_flags(flags: int) -> ScriptFlags:
    """Drop flags whose prerequisite is missing (used when flags are being removed)."""
    if not flags & ScriptFlags.P2SH:
        flags &= ~ScriptFlags.WITNESS
    if not flags & ScriptFlags.WITNESS:
        flags &= ~ScriptFlags.CLEANSTACK
    return ScriptFlags(flags & ALL_FLAGS)


def fill_flags(flags: int) -> ScriptFlags:
    """Add the prerequisites of the flags present (used when flags are being added)."""
    if flags & ScriptFlags.CLEANSTACK:
        flags |= ScriptFlags.WITNESS
    if flags & ScriptFlags.WITNESS:
        flags |= ScriptFlags.P2SH
    return ScriptFlags(flags & ALL_FLAGS)


def exclude_individual_flags(flags: int) -> set[ScriptFlags]:
    """Each valid combination obtained by removing one flag from ``flags`` (Core's helper)."""
    combos = set()
    for flag in SINGLE_FLAGS:
        without = trim_flags(flags & ~flag)
        if without != flags:
            combos.add(without)
    return combos


def scripts_pass(tx: Transaction, prevouts: dict[OutPoint, TxOut], flags: ScriptFlags,
                 precomputed: PrecomputedTransactionData) -> bool:
    """True if every input verifies; a prevout missing from the row is a broken test."""
    for index, txin in enumerate(tx.inputs):
        spent = prevouts[txin.prevout]
        try:
            verify_input(tx, index, spent, flags, precomputed)
        except ScriptError:
            return False
    return True


@pytest.mark.parametrize("row", VALID, ids=[_row_id(r) for r in VALID])
def test_tx_valid(row: TxRow) -> None:
    tx = Transaction.from_hex(row.tx_hex)
    check_transaction(tx, MAX_MONEY, MAX_BLOCK_WEIGHT)
    precomputed = PrecomputedTransactionData(tx)
    excluded = parse_flags(row.flags)
    applied = ScriptFlags(ALL_FLAGS & ~excluded)
    assert applied == fill_flags(applied), "the remaining flags must be a valid combination"
    assert scripts_pass(tx, row.prevouts, applied, precomputed), f"failed with {applied!r}"

    rng = random.Random(f"valid:{row.index}")
    for flag in SINGLE_FLAGS:
        fewer = trim_flags(applied & ~flag)
        assert scripts_pass(tx, row.prevouts, fewer, precomputed), f"failed with {fewer!r}"
        random_fewer = trim_flags(applied & ~rng.getrandbits(len(SINGLE_FLAGS)))
        assert scripts_pass(tx, row.prevouts, random_fewer, precomputed), (
            f"failed with {random_fewer!r}")
    # Maximal: turning any excluded flag back on must break it.
    for still_excluded in exclude_individual_flags(excluded):
        more = ScriptFlags(ALL_FLAGS & ~still_excluded)
        assert not scripts_pass(tx, row.prevouts, more, precomputed), (
            f"also passes with {more!r}: the excluded list is not maximal")


@pytest.mark.parametrize("row", INVALID, ids=[_row_id(r) for r in INVALID])
def test_tx_invalid(row: TxRow) -> None:
    tx = Transaction.from_hex(row.tx_hex)
    if row.flags == "BADTX":
        with pytest.raises(TxValidationError):
            check_transaction(tx, MAX_MONEY, MAX_BLOCK_WEIGHT)
        return
    check_transaction(tx, MAX_MONEY, MAX_BLOCK_WEIGHT)
    precomputed = PrecomputedTransactionData(tx)
    applied = parse_flags(row.flags)
    assert applied == fill_flags(applied), "applied flags must be a valid combination"
    assert not scripts_pass(tx, row.prevouts, applied, precomputed), f"passed with {applied!r}"

    rng = random.Random(f"invalid:{row.index}")
    for flag in SINGLE_FLAGS:
        more = fill_flags(applied | flag)
        assert not scripts_pass(tx, row.prevouts, more, precomputed), f"passed with {more!r}"
        random_more = fill_flags(applied | rng.getrandbits(len(SINGLE_FLAGS)))
        assert not scripts_pass(tx, row.prevouts, random_more, precomputed), (
            f"passed with {random_more!r}")
    # Minimal: dropping any one applied flag must let it through.
    for fewer in exclude_individual_flags(applied):
        assert scripts_pass(tx, row.prevouts, fewer, precomputed), (
            f"still fails with {fewer!r}: the applied list is not minimal")


def test_tx_vector_counts() -> None:
    """Pin the number of test rows so a loader change cannot silently drop any."""
    if not VALID and not INVALID:
        pytest.skip(f"tx vectors not found under {vectors_dir()}")
    badtx = sum(1 for row in INVALID if row.flags == "BADTX")
    print(f"\ntx_valid: {len(VALID)} rows; tx_invalid: {len(INVALID)} rows ({badtx} BADTX)")
    assert (len(VALID), len(INVALID), badtx) == (121, 93, 9)
    assert len(SINGLE_FLAGS) == 17  # every implemented flag takes part in the flag sweeps
