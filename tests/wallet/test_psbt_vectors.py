"""BIP174 parsing: published valid vectors round-trip byte for byte, invalid ones raise typed
errors with the reason; plus synthetic cases (duplicate keys, magic, truncation).

Vectors: BIP174 "Test Vectors" section (github.com/bitcoin/bips, bip-0174.mediawiki), copied as
the base64 strings the BIP gives.
"""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.address import BITCOIN_TESTNET
from wattchain.wallet.errors import PsbtError
from wattchain.wallet.psbt import Psbt
from wattchain.wallet.psbt_json import decode_psbt
from wattchain.wallet.psbt_roles import combine_psbts, extract_transaction, finalize_psbt

VALID = {
    "unknown types in the inputs":
        "cHNidP8BAD8CAAAAAf//////////////////////////////////////////AAAAAAD/////AQAAAAAAAAAAA2oB"
        "AAAAAAAACvABAgMEBQYHCAkPAQIDBAUGBwgJCgsMDQ4PAAA=",
    "global unsigned tx with 0 inputs and 0 outputs": "cHNidP8BAAoAAAAAAAAAAAAAAA==",
    "0 inputs":
        "cHNidP8BAEwCAAAAAALT3/UFAAAAABl2qRTQxZkDxbrChodg6Q/VIaRmWqdlIIisAOH1BQAAAAAXqRQ1RebjO4Ms"
        "RwUPJNPuuTycA5SLx4ezLhMAAAAA",
    "P2SH-P2WSH 2-of-2 multisig with one signature":
        "cHNidP8BAFUCAAAAASeaIyOl37UfxF8iD6WLD8E+HjNCeSqF1+Ns1jM7XLw5AAAAAAD/////AaBa6gsAAAAAGXap"
        "FP/pwAYQl8w7Y28ssEYPpPxCfStFiKwAAAAAAAEBIJVe6gsAAAAAF6kUY0UgD2jRieGtwN8cTRbqjxTA2+uHIgID"
        "sTQcy6doO2r08SOM1ul+cWfVafrEfx5I1HVBhENVvUZGMEMCIAQktY7/qqaU4VWepck7v9SokGQiQFXN8HC2dxRp"
        "RC0HAh9cjrD+plFtYLisszrWTt5g6Hhb+zqpS5m9+GFR25qaAQEEIgAgdx/RitRZZm3Unz1WTj28QvTIR3TjYK2h"
        "aBao7UiNVoEBBUdSIQOxNBzLp2g7avTxI4zW6X5xZ9Vp+sR/HkjUdUGEQ1W9RiED3lXR4drIBeP4pYwfv5uUwC89"
        "uq/hJ/78pJlfJvggg71SriIGA7E0HMunaDtq9PEjjNbpfnFn1Wn6xH8eSNR1QYRDVb1GELSmumcAAACAAAAAgAQA"
        "AIAiBgPeVdHh2sgF4/iljB+/m5TALz26r+En/vykmV8m+CCDvRC0prpnAAAAgAAAAIAFAACAAAA=",
    "P2WSH 2-of-2 multisig with global xpubs":
        "cHNidP8BAFICAAAAAZ38ZijCbFiZ/hvT3DOGZb/VXXraEPYiCXPfLTht7BJ2AQAAAAD/////AfA9zR0AAAAAFgAU"
        "ezoAv9wU0neVwrdJAdCdpu8TNXkAAAAATwEENYfPAto/0AiAAAAAlwSLGtBEWx7IJ1UXcnyHtOTrwYogP/oPlMAV"
        "Zr046QADUbdDiH7h1A3DKmBDck8tZFmztaTXPa7I+64EcvO8Q+IM2QxqT64AAIAAAACATwEENYfPAto/0AiAAAAB"
        "uQRSQnE5zXjCz/JES+NTzVhgXj5RMoXlKLQH+uP2FzUD0wpel8itvFV9rCrZp+OcFyLrrGnmaLbyZnzB1nHIPKsM"
        "2QxqT64AAIABAACAAAEBKwBlzR0AAAAAIgAgLFSGEmxJeAeagU4TcV1l82RZ5NbMre0mbQUIZFuvpjIBBUdSIQKd"
        "oSzbWyNWkrkVNq/v5ckcOrlHPY5DtTODarRWKZyIcSEDNys0I07Xz5wf6l0F1EFVeSe+lUKxYusC4ass6AIkwAtS"
        "riIGAp2hLNtbI1aSuRU2r+/lyRw6uUc9jkO1M4NqtFYpnIhxENkMak+uAACAAAAAgAAAAAAiBgM3KzQjTtfPnB/q"
        "XQXUQVV5J76VQrFi6wLhqyzoAiTACxDZDGpPrgAAgAEAAIAAAAAAACICA57/H1R6HV+S36K6evaslxpL0DukpzSw"
        "MVaiVritOh75EO3kXMUAAACAAAAAgAEAAIAA",
}

INVALID = {
    "input sighash type key of the wrong length": (
        "cHNidP8BAHMCAAAAATAa6YblFqHsisW0vGVz0y+DtGXiOtdhZ9aLOOcwtNvbAAAAAAD/////AnR7AQAAAAAAF6kU"
        "A6oXrogrXQ1Usl1jEE5P/s57nqKHYEOZOwAAAAAXqRS5IbG6b3IuS/qDtlV6MTmYakLsg4cAAAAAAAEBHwDKmjsA"
        "AAAAFgAU0tlLZK4IWH7vyO6xh8YB6Tn5A3wCAwABAAAAAAEAFgAUYunpgv/zTdgjlhAxawkM0qO3R8sAAQAiACCH"
        "a62DLx0WgBXtQSMqnqZaGBXZ7xPA74dZ9ktbKyeKZQEBJVEhA7fOI6AcW0vwCmQlN836uzFbZoMyhnR471EwnSvV"
        "f4qHUa4A", "sighash type: key must be exactly one byte"),
    "output redeemScript key of the wrong length": (
        "cHNidP8BAHMCAAAAATAa6YblFqHsisW0vGVz0y+DtGXiOtdhZ9aLOOcwtNvbAAAAAAD/////AnR7AQAAAAAAF6kU"
        "A6oXrogrXQ1Usl1jEE5P/s57nqKHYEOZOwAAAAAXqRS5IbG6b3IuS/qDtlV6MTmYakLsg4cAAAAAAAEBHwDKmjsA"
        "AAAAFgAU0tlLZK4IWH7vyO6xh8YB6Tn5A3wAAgAAFgAUYunpgv/zTdgjlhAxawkM0qO3R8sAAQAiACCHa62DLx0W"
        "gBXtQSMqnqZaGBXZ7xPA74dZ9ktbKyeKZQEBJVEhA7fOI6AcW0vwCmQlN836uzFbZoMyhnR471EwnSvVf4qHUa4A",
        "output 0 redeemScript: key must be exactly one byte"),
    "output witnessScript key of the wrong length": (
        "cHNidP8BAHMCAAAAATAa6YblFqHsisW0vGVz0y+DtGXiOtdhZ9aLOOcwtNvbAAAAAAD/////AnR7AQAAAAAAF6kU"
        "A6oXrogrXQ1Usl1jEE5P/s57nqKHYEOZOwAAAAAXqRS5IbG6b3IuS/qDtlV6MTmYakLsg4cAAAAAAAEBHwDKmjsA"
        "AAAAFgAU0tlLZK4IWH7vyO6xh8YB6Tn5A3wAAQAWABRi6emC//NN2COWEDFrCQzSo7dHywABACIAIIdrrYMvHRaA"
        "Fe1BIyqeploYFdnvE8Dvh1n2S1srJ4plIQEAJVEhA7fOI6AcW0vwCmQlN836uzFbZoMyhnR471EwnQbVf4qHUa4A",
        "output 1 witnessScript: key must be exactly one byte"),
    "partial signature key with a bad public key length": (
        "cHNidP8BAFUCAAAAASeaIyOl37UfxF8iD6WLD8E+HjNCeSqF1+Ns1jM7XLw5AAAAAAD/////AaBa6gsAAAAAGXap"
        "FP/pwAYQl8w7Y28ssEYPpPxCfStFiKwAAAAAAAEBIJVe6gsAAAAAF6kUY0UgD2jRieGtwN8cTRbqjxTA2+uHIQID"
        "sTQcy6doO2r08SOM1ul+cWfVafrEfx5I1HVBhENVvUYwQwIgBCS1jv+qppThVZ6lyTu/1KiQZCJAVc3wcLZ3FGlE"
        "LQcCH1yOsP6mUW1guKyzOtZO3mDoeFv7OqlLmb34YVHbmpoBAQQiACB3H9GK1FlmbdSfPVZOPbxC9MhHdONgraFo"
        "FqjtSI1WgQEFR1IhA7E0HMunaDtq9PEjjNbpfnFn1Wn6xH8eSNR1QYRDVb1GIQPeVdHh2sgF4/iljB+/m5TALz26"
        "r+En/vykmV8m+CCDvVKuIgYDsTQcy6doO2r08SOM1ul+cWfVafrEfx5I1HVBhENVvUYQtKa6ZwAAAIAAAACABAAA"
        "gCIGA95V0eHayAXj+KWMH7+blMAvPbqv4Sf+/KSZXyb4IIO9ELSmumcAAACAAAAAgAUAAIAAAA==",
        "invalid public key"),
    "global unsigned tx key of the wrong length": (
        "cHNidP8CAAFVAgAAAAEnmiMjpd+1H8RfIg+liw/BPh4zQnkqhdfjbNYzO1y8OQAAAAAA/////wGgWuoLAAAAABl2"
        "qRT/6cAGEJfMO2NvLLBGD6T8Qn0rRYisAAAAAAABASCVXuoLAAAAABepFGNFIA9o0YnhrcDfHE0W6o8UwNvrhyIC"
        "A7E0HMunaDtq9PEjjNbpfnFn1Wn6xH8eSNR1QYRDVb1GRjBDAiAEJLWO/6qmlOFVnqXJO7/UqJBkIkBVzfBwtncU"
        "aUQtBwIfXI6w/qZRbWC4rLM61k7eYOh4W/s6qUuZvfhhUduamgEBBCIAIHcf0YrUWWZt1J89Vk49vEL0yEd042Ct"
        "oWgWqO1IjVaBAQVHUiEDsTQcy6doO2r08SOM1ul+cWfVafrEfx5I1HVBhENVvUYhA95V0eHayAXj+KWMH7+blMAv"
        "Pbqv4Sf+/KSZXyb4IIO9Uq4iBgOxNBzLp2g7avTxI4zW6X5xZ9Vp+sR/HkjUdUGEQ1W9RhC0prpnAAAAgAAAAIAE"
        "AACAIgYD3lXR4drIBeP4pYwfv5uUwC89uq/hJ/78pJlfJvggg70QtKa6ZwAAAIAAAACABQAAgAAA",
        "unsigned tx: key must be exactly one byte"),
    "unsigned tx with a filled scriptSig": (
        "cHNidP8BAP0KAQIAAAACqwlJoIxa98SbghL0F+LxWrP1wz3PFTghqBOfh3pbe+QAAAAAakcwRAIgR1lmF5fAGwNr"
        "JZKJSGhiGDR9iYZLcZ4ff89X0eURZYcCIFMJ6r9Wqk2Ikf/REf3xM286KdqGbX+EhtdVRs7tr5MZASEDXNxh/Hup"
        "ccC1AaZGoqg7ECy0OIEhfKaC3Ibi1z+ogpL+////qwlJoIxa98SbghL0F+LxWrP1wz3PFTghqBOfh3pbe+QBAAAA"
        "AP7///8CYDvqCwAAAAAZdqkUdopAu9dAy+gdmI5x3ipNXHE5ax2IrI4kAAAAAAAAGXapFG9GILVT+glechue4O/p"
        "+gOcykWXiKwAAAAAAAABASAA4fUFAAAAABepFDVF5uM7gyxHBQ8k0+65PJwDlIvHhwEEFgAUhdE1N/LiZUBaNNuv"
        "qePdoB+4IwgAAAA=",
        "Unsigned tx does not have empty scriptSigs and scriptWitnesses."),
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_vectors_round_trip(name: str) -> None:
    text = VALID[name]
    psbt = Psbt.from_base64(text)
    assert psbt.to_base64() == text
    assert Psbt.deserialize(psbt.serialize()).serialize() == base64.b64decode(text)


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_vectors_are_refused(name: str) -> None:
    text, reason = INVALID[name]
    with pytest.raises(PsbtError, match=_escape(reason)) as err:
        Psbt.from_base64(text)
    assert err.value.rpc_code == -22


def _escape(text: str) -> str:
    import re
    return re.escape(text)


def test_decode_multisig_vector() -> None:
    psbt = Psbt.from_base64(VALID["P2SH-P2WSH 2-of-2 multisig with one signature"])
    decoded = decode_psbt(psbt, BITCOIN_TESTNET)
    [entry] = decoded["inputs"]
    assert list(entry["partial_signatures"]) == [
        "03b1341ccba7683b6af4f1238cd6e97e7167d569fac47f1e48d47541844355bd46"]
    assert entry["witness_script"]["type"] == "multisig"
    assert entry["redeem_script"]["type"] == "witness_v0_scripthash"
    assert {d["path"] for d in entry["bip32_derivs"]} == {"m/0'/0'/4'", "m/0'/0'/5'"}
    assert decoded["fee"] == Decimal("0.00001013")  # 199909013 in, 199908000 out
    # One signature of two: the finalizer cannot complete it, the extractor refuses.
    assert not finalize_psbt(psbt)
    with pytest.raises(PsbtError, match="not finalized"):
        extract_transaction(psbt)
    xpubs = Psbt.from_base64(VALID["P2WSH 2-of-2 multisig with global xpubs"])
    assert len(decode_psbt(xpubs, BITCOIN_TESTNET)["global_xpubs"]) == 2


def _simple() -> Psbt:
    tx = Transaction(2, (TxIn(OutPoint(b"\x01" * 32, 0)),), (TxOut(1000, b"\x6a"),), 0)
    return Psbt.from_unsigned(tx)


def test_synthetic_invalid_psbts() -> None:
    raw = _simple().serialize()
    with pytest.raises(PsbtError, match="magic"):
        Psbt.deserialize(b"psbu\xff" + raw[5:])
    with pytest.raises(PsbtError):
        Psbt.deserialize(raw[:-1])  # the last output map lost its separator
    with pytest.raises(PsbtError, match="extra data"):
        Psbt.deserialize(raw + b"\x00")
    # Duplicate key in the global map: the unsigned tx record twice.
    tx_bytes = _simple().tx.serialize(False)
    record = b"\x01\x00" + bytes([len(tx_bytes)]) + tx_bytes
    with pytest.raises(PsbtError, match="duplicate key"):
        Psbt.deserialize(b"psbt\xff" + record + record + b"\x00" + b"\x00" + b"\x00")
    with pytest.raises(PsbtError, match="No unsigned transaction"):
        Psbt.deserialize(b"psbt\xff\x00")
    with pytest.raises(PsbtError, match="empty scriptSigs"):
        Psbt.from_unsigned(Transaction(2, (TxIn(OutPoint(b"\x01" * 32, 0), b"\x51"),), (), 0))
    with pytest.raises(PsbtError, match="base64"):
        Psbt.from_base64("cHNidP8!!!")
    # A non-witness UTXO that is not the spent transaction.
    psbt = _simple()
    psbt.inputs[0].non_witness_utxo = Transaction(1, (TxIn(OutPoint(b"\x02" * 32, 0)),),
                                                  (TxOut(5, b"\x51"),), 0)
    with pytest.raises(PsbtError, match="does not match the outpoint"):
        Psbt.deserialize(psbt.serialize())


def test_combine_keeps_unknowns_and_signatures() -> None:
    one = Psbt.from_base64(VALID["unknown types in the inputs"])
    two = Psbt.from_base64(VALID["unknown types in the inputs"])
    two.inputs[0].unknown[b"\xf1\x01"] = b"\x02"
    combined = combine_psbts([one, two])
    assert combined.inputs[0].unknown == {**one.inputs[0].unknown, b"\xf1\x01": b"\x02"}
