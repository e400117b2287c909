"""Script text: the vectors' assembly language (parse_asm) and Core-style ASM (to_asm)."""

from __future__ import annotations

import pytest

from wattchain.script.asm import AsmParseError, parse_asm, to_asm


@pytest.mark.parametrize("text,hex_", [
    ("0", "00"), ("-1", "4f"), ("1", "51"), ("16", "60"), ("17", "0111"), ("-2", "0182"),
    ("128", "028000"), ("-128", "028080"), ("4294967295", "05ffffffff00"),
    ("-4294967295", "05ffffffff80"),
    ("0x02 0x0100", "020100"),             # raw bytes, not pushes
    ("0x4c 0x01 0x07", "4c0107"),
    ("'abc'", "03616263"), ("''", "00"),
    ("'\x01'", "0101"),                    # 1-byte text is a plain push, never OP_1
    ("DUP", "76"), ("OP_DUP", "76"), ("RESERVED", "50"), ("NOP2", "b1"),
    ("CHECKLOCKTIMEVERIFY", "b1"), ("OP_CHECKSEQUENCEVERIFY", "b2"), ("NOP10", "b9"),
    ("  1\t2\n ADD  ", "515293"),
])
def test_parse_asm(text: str, hex_: str) -> None:
    assert parse_asm(text).hex() == hex_


@pytest.mark.parametrize("text", ["4294967296", "-4294967296", "0x", "0x0", "0xzz", "FOO",
                                  "PUSHDATA1", "OP_1NEGATE", "INVALIDOPCODE", "'open", "1.5"])
def test_parse_asm_rejects(text: str) -> None:
    with pytest.raises(AsmParseError):
        parse_asm(text)


P2PKH = "76a91489abcdefabbaabbaabbaabbaabbaabbaabbaabba88ac"


@pytest.mark.parametrize("hex_,asm", [
    (P2PKH, "OP_DUP OP_HASH160 89abcdefabbaabbaabbaabbaabbaabbaabbaabba OP_EQUALVERIFY "
            "OP_CHECKSIG"),
    ("004f5160", "0 -1 1 16"),
    ("020100", "1"),                       # non-minimal push still shown as its value
    ("0481000000", "129"), ("0180", "0"), ("0482000080", "-130"),
    ("b1b2ba", "OP_CHECKLOCKTIMEVERIFY OP_CHECKSEQUENCEVERIFY OP_CHECKSIGADD"),
    ("bbff", "OP_UNKNOWN OP_INVALIDOPCODE"),
    ("6a4c", "OP_RETURN [error]"),
    ("", ""),
])
def test_to_asm(hex_: str, asm: str) -> None:
    assert to_asm(bytes.fromhex(hex_)) == asm


SIG = ("3044022057292e2d4dfe775becdd0a9e6547997c728cdf35390f6a017da56d654d374e49"
       "02206b643be2fc53763b4e284845bfea2c597d2dc7759941dce937636c9d341b71ed01")


def test_to_asm_sighash_decode() -> None:
    script = bytes.fromhex("47" + SIG)
    assert to_asm(script) == SIG
    assert to_asm(script, attempt_sighash_decode=True) == SIG[:-2] + "[ALL]"
    # Not applied to provably unspendable scripts.
    assert to_asm(b"\x6a" + script, attempt_sighash_decode=True) == "OP_RETURN " + SIG


def test_parse_then_display_roundtrip() -> None:
    text = "DUP HASH160 0x14 0x89abcdefabbaabbaabbaabbaabbaabbaabbaabba EQUALVERIFY CHECKSIG"
    assert parse_asm(text).hex() == P2PKH
    assert to_asm(parse_asm("2 0 ADD 1000 NUMEQUAL")) == "2 0 OP_ADD 1000 OP_NUMEQUAL"
