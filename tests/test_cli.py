"""The ``wattchain`` command line: the README's first command and its failure modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vector_files import vector_path
from wattchain.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "multisig_spend.json"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_example_spend_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "verify-tx", "--file", str(EXAMPLE), "--decode")
    report = json.loads(out)
    assert status == 0 and report["valid"]
    assert [r["valid"] for r in report["inputs"]] == [True, True]
    decoded = report["decoded"]
    assert decoded["txid"] == report["txid"] and decoded["hash"] != decoded["txid"]
    assert len(decoded["vin"][0]["txinwitness"]) == 4          # dummy, 2 sigs, witness script
    assert decoded["vout"][0]["scriptPubKey"]["type"] == "witness_v0_keyhash"
    assert decoded["vout"][0]["scriptPubKey"]["address"].startswith("wc1")  # wattchain main HRP


def test_tampered_amount_fails_with_core_error_name(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    spec = json.loads(EXAMPLE.read_text())
    spec["prevouts"][1]["amount"] += 1          # BIP143 commits to the spent amount
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    status, out, _ = run(capsys, "verify-tx", "--file", str(bad))
    report = json.loads(out)
    assert status == 1 and not report["valid"]
    assert report["inputs"][0]["valid"] is True
    assert report["inputs"][1]["error"] == "NULLFAIL"      # standard policy: failed sig not empty


def test_prevout_count_mismatch_and_bad_hex_are_user_errors(
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = json.loads(EXAMPLE.read_text())
    status, _, err = run(capsys, "verify-tx", spec["tx"], "--prevout",
                         f"{spec['prevouts'][0]['script_pubkey']}:1")
    assert status == 2 and "2 inputs" in err
    status, _, err = run(capsys, "decode-tx", "zz")
    assert status == 2 and "not hex" in err
    status, _, err = run(capsys, "decode-tx", spec["tx"][:-2])
    assert status == 2 and "cannot decode" in err


def test_decode_block_checks_real_mainnet_block(capsys: pytest.CaptureFixture[str]) -> None:
    path = vector_path("blocks", "mainnet_702861.raw")
    status, out, _ = run(capsys, "decode-block", "--bitcoin", str(path))
    summary = json.loads(out)
    assert status == 0
    assert summary["hash"] == "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae"
    assert summary["merkleroot_valid"] and summary["witness_commitment_valid"]
    assert (summary["nTx"], summary["inputs"], summary["size"]) == (2500, 6518, 1_381_836)
