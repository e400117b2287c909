"""OP_CREATE / OP_CALL scripts: exact encodings, round trips and typed rejections."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattchain.contracts.errors import ContractScriptError
from wattchain.contracts.params import ContractParams
from wattchain.contracts.script import (OP_CALL, OP_CREATE, ContractOutput, call_script,
                                        contract_outputs, create_script, parse_contract_output)
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.script import push_data
from wattchain.script.standard import p2pkh, p2wpkh

P = ContractParams()
gas_limits = st.integers(P.min_gas_limit, P.max_gas_per_tx)
gas_prices = st.integers(P.min_gas_price, P.max_gas_price)


def test_create_script_bytes_are_qtum_shaped():
    script = create_script(0, 100_000, 40, b"abc")
    # OP_0, push 3 bytes 0x0186a0 LE, push 0x28, push "abc", OP_CREATE
    assert script.hex() == "0003a08601012803616263c1"
    assert script[-1] == OP_CREATE == 0xC1


@given(gas_limits, gas_prices, st.binary(min_size=1, max_size=600))
def test_create_round_trip(gas_limit, gas_price, payload):
    parsed = parse_contract_output(create_script(0, gas_limit, gas_price, payload))
    assert parsed == ContractOutput("create", 0, gas_limit, gas_price, payload)
    assert parsed.gas_fee == gas_limit * gas_price


@given(gas_limits, gas_prices, st.binary(max_size=600), st.binary(min_size=20, max_size=20))
def test_call_round_trip(gas_limit, gas_price, data, cid):
    script = call_script(0, gas_limit, gas_price, data, cid)
    assert script[-1] == OP_CALL
    assert parse_contract_output(script) == ContractOutput("call", 0, gas_limit, gas_price,
                                                           data, cid)


def test_non_contract_scripts_are_none():
    assert parse_contract_output(p2pkh(bytes(20))) is None
    assert parse_contract_output(b"") is None
    # 0xc1 / 0xc2 inside pushes are data, not opcodes
    assert parse_contract_output(p2wpkh(bytes(19) + b"\xc1")) is None
    assert parse_contract_output(p2pkh(bytes(19) + b"\xc2")) is None
    assert parse_contract_output(b"\x01\xc1") is None
    assert parse_contract_output(b"\x4c\x05\xc1") is None  # truncated before any opcode


CID = bytes(range(20))


@pytest.mark.parametrize("script, reason", [
    (b"\x00\xc1\x05ab\xc1", "contract-script-truncated"),
    (create_script(0, 100_000, 40, b"x")[1:], "contract-script-shape"),
    (create_script(0, 100_000, 40, b"x") + b"\x75", "contract-script-shape"),
    (b"\xc2\x00\x4c", "contract-script-shape"),
    (b"\x00" + create_script(0, 100_000, 40, b"x"), "contract-script-shape"),
    (call_script(0, 100_000, 40, b"x", CID)[:-1] + b"\xc1", "contract-script-shape"),
    (create_script(1, 100_000, 40, b"x"), "contract-bad-version"),
    (create_script(0, 9_999, 40, b"x"), "contract-gas-limit-out-of-range"),
    (create_script(0, P.max_gas_per_tx + 1, 40, b"x"), "contract-gas-limit-out-of-range"),
    (create_script(0, 100_000, 39, b"x"), "contract-gas-price-out-of-range"),
    (create_script(0, 100_000, 40, b""), "contract-empty-payload"),
    (create_script(0, 100_000, 40, bytes(P.max_data_size + 1)), "contract-data-too-large"),
    (b"\x00\x03\xa0\x86\x01\x01\x28\x01\x05\xc1", "contract-script-nonminimal-push"),
    (b"\x00\x03\xa0\x86\x01\x4c\x01\x28\x01\x20\xc1", "contract-script-nonminimal-push"),
    (b"\x00\x04\xa0\x86\x01\x00\x01\x28\x01\x20\xc1", "contract-number-nonminimal"),
    (b"\x00\x03\xa0\x86\x81\x01\x28\x01\x20\xc1", "contract-number-negative"),
    (b"\x00\x09" + bytes(8) + b"\x01\x01\x28\x01\x20\xc1", "contract-number-too-large"),
    (b"\x00\x03\xa0\x86\x01\x01\x28\x76\xc1", "contract-script-not-push"),
    (call_script(0, 100_000, 40, b"x", CID)[:-22] + push_data(bytes(19)) + b"\xc2",
     "contract-bad-id-size"),
])
def test_malformed_scripts_are_rejected_with_reason(script, reason):
    with pytest.raises(ContractScriptError) as info:
        parse_contract_output(script)
    assert info.value.reason == reason


def test_contract_outputs_of_a_transaction():
    tx = Transaction(2, (TxIn(OutPoint(bytes(32), 0)),), (
        TxOut(5, p2pkh(bytes(20))), TxOut(0, create_script(0, 50_000, 40, b"p")),
        TxOut(7, call_script(0, 60_000, 41, b"d", CID))))
    found = contract_outputs(tx)
    assert [index for index, _ in found] == [1, 2]
    assert found[1][1].contract_id == CID and found[1][1].gas_price == 41
    bad = Transaction(2, tx.inputs, (TxOut(0, b"\x51\xc2"),))
    with pytest.raises(ContractScriptError):
        contract_outputs(bad)
