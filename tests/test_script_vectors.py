"""Bitcoin Core's script_tests.json (+ the 00afc8ec supplement) against our interpreter.

Each row is run the way Core's harness runs it: a crediting transaction pays the row's
scriptPubKey, a spending transaction carries the row's scriptSig and witness, and
``verify_script`` must give exactly the expected error name. Like Core we also check that the
result is stable when flags are removed from a passing row or added to a failing one.

Rows that need Taproot (not implemented) are skipped and counted; the count is pinned so it
cannot silently grow.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from vector_files import vector_path, vectors_dir

from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.script.asm import parse_asm
from wattchain.script.checker import TransactionSignatureChecker
from wattchain.script.errors import ScriptError, ScriptErrorCode
from wattchain.script.flags import ScriptFlags, parse_flags
from wattchain.script.interpreter import verify_script

SCRIPT_FILES = ("script_tests.json", "script_tests_supplement_00afc8ec.json")
EXPECTED_TAPROOT_SKIPS = 5
#: Core draws 16 random extra flag sets per row from the low 16 flag bits.
RANDOM_FLAG_ROUNDS = 16
RANDOM_FLAG_BITS = 16


class ScriptRow(NamedTuple):
    file: str
    index: int
    witness: tuple[bytes, ...]
    amount: int
    script_sig: str
    script_pubkey: str
    flags: str
    expected: str
    comment: str


def _load_rows(name: str) -> list[Any]:
    path = vectors_dir() / "bitcoin" / name
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return json.load(handle, parse_float=Decimal)


def _classify() -> tuple[list[ScriptRow], list[ScriptRow]]:
    """Split the test rows into runnable rows and Taproot rows (comments dropped)."""
    runnable: list[ScriptRow] = []
    taproot: list[ScriptRow] = []
    for name in SCRIPT_FILES:
        for index, raw in enumerate(_load_rows(name)):
            if len(raw) == 1:
                continue  # comment row
            witness: tuple[bytes, ...] = ()
            amount = 0
            if isinstance(raw[0], list):
                witness_part = raw[0]
                amount = int(Decimal(witness_part[-1]) * COIN)
                raw = raw[1:]
                if not any("#" in item for item in witness_part[:-1]):
                    witness = tuple(bytes.fromhex(item) for item in witness_part[:-1])
            comment = raw[4] if len(raw) > 4 else ""
            row = ScriptRow(name, index, witness, amount, raw[0], raw[1], raw[2], raw[3],
                            comment)
            if "TAPROOT" in row.flags.split(",") or "#" in row.script_pubkey:
                taproot.append(row)
            else:
                runnable.append(row)
    return runnable, taproot


RUNNABLE, TAPROOT_ROWS = _classify()


def _row_id(row: ScriptRow) -> str:
    prefix = "supp" if "supplement" in row.file else "core"
    label = row.comment or f"{row.script_sig} | {row.script_pubkey}"
    label = " ".join(label.split())[:60]
    return f"{prefix}{row.index:04d}-{row.expected}-{label}"


def crediting_tx(script_pubkey: bytes, amount: int) -> Transaction:
    """Core's harness: v1, one null-prevout input with scriptSig OP_0 OP_0, one output."""
    txin = TxIn(OutPoint.null(), b"\x00\x00", 0xFFFFFFFF)
    return Transaction(1, (txin,), (TxOut(amount, script_pubkey),), 0)


def spending_tx(script_sig: bytes, witness: tuple[bytes, ...],
                credit: Transaction) -> Transaction:
    """Core's harness: v1, spends credit:0 with final sequence, one empty-script output."""
    txin = TxIn(OutPoint(credit.txid, 0), script_sig, 0xFFFFFFFF, witness)
    return Transaction(1, (txin,), (TxOut(credit.outputs[0].value, b""),), 0)


def run_script_row(script_sig: bytes, script_pubkey: bytes, witness: tuple[bytes, ...],
                   amount: int, flags: ScriptFlags) -> ScriptErrorCode:
    """Verify and return the resulting code (OK on success)."""
    credit = crediting_tx(script_pubkey, amount)
    spend = spending_tx(script_sig, witness, credit)
    checker = TransactionSignatureChecker(spend, 0, amount)
    try:
        verify_script(script_sig, script_pubkey, witness, flags, checker)
    except ScriptError as exc:
        return exc.code
    return ScriptErrorCode.OK


def _valid_combination(flags: int) -> bool:
    if flags & ScriptFlags.CLEANSTACK and (~flags & (ScriptFlags.P2SH | ScriptFlags.WITNESS)):
        return False
    if flags & ScriptFlags.WITNESS and not flags & ScriptFlags.P2SH:
        return False
    return True


@pytest.mark.parametrize("row", RUNNABLE, ids=[_row_id(r) for r in RUNNABLE])
def test_script_row(row: ScriptRow) -> None:
    script_sig = parse_asm(row.script_sig)
    script_pubkey = parse_asm(row.script_pubkey)
    flags = parse_flags(row.flags)
    if flags & ScriptFlags.CLEANSTACK:
        flags |= ScriptFlags.P2SH | ScriptFlags.WITNESS
    expected = ScriptErrorCode[row.expected]

    got = run_script_row(script_sig, script_pubkey, row.witness, row.amount, flags)
    assert got == expected, f"got {got.name}, expected {expected.name}: {row}"

    # Removing flags from a passing row, or adding them to a failing one, must not change
    # whether it passes (soft-fork monotonicity), exactly as Core's harness checks.
    passing = expected is ScriptErrorCode.OK
    rng = random.Random(f"{row.file}:{row.index}")
    for _ in range(RANDOM_FLAG_ROUNDS):
        extra = rng.getrandbits(RANDOM_FLAG_BITS)
        combined = ScriptFlags(flags & ~extra if passing else flags | extra)
        if not _valid_combination(combined):
            continue
        result = run_script_row(script_sig, script_pubkey, row.witness, row.amount, combined)
        assert (result is ScriptErrorCode.OK) == passing, (
            f"flags {combined!r} gave {result.name}: {row}")


def test_script_vector_counts() -> None:
    """Pin what runs and what is skipped, so a parsing change cannot silently drop rows."""
    vector_path("bitcoin", "script_tests.json")
    core = [r for r in RUNNABLE if r.file == SCRIPT_FILES[0]]
    print(f"\nscript_tests.json: {len(core)} rows run, {len(TAPROOT_ROWS)} Taproot rows "
          f"skipped; supplement: {len(RUNNABLE) - len(core)} rows run")
    assert len(TAPROOT_ROWS) == EXPECTED_TAPROOT_SKIPS
    assert len(core) == 1217
    if (vectors_dir() / "bitcoin" / SCRIPT_FILES[1]).exists():
        assert len(RUNNABLE) - len(core) == 11


def test_taproot_rows_are_the_placeholder_rows() -> None:
    """Every skipped row really needs Taproot (flag set and placeholders present)."""
    vector_path("bitcoin", "script_tests.json")
    for row in TAPROOT_ROWS:
        assert "TAPROOT" in row.flags.split(","), row
        assert "#" in row.script_pubkey, row
