"""Qtum-style contract outputs: ``OP_CREATE`` and ``OP_CALL`` scripts.

Layout (Qtum's, byte for byte in shape)::

    create: <version> <gas_limit> <gas_price> <payload> OP_CREATE
    call:   <version> <gas_limit> <gas_price> <data> <contract_id:20> OP_CALL

0xc1 / 0xc2 are invalid opcodes to the Bitcoin script engine, so these outputs can never be
spent by a script (exactly Qtum's situation); their value is handed to the contract runtime.

Parsing is strict so that one output has exactly one encoding (no malleated twins with
different txids): every push must be minimal (what :func:`push_data` / :func:`push_int` emit),
numbers are non-negative CScriptNums of at most 8 bytes, and bounds come from
:class:`ContractParams`. Any violation raises :class:`ContractScriptError` with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattchain.contracts.errors import ContractScriptError
from wattchain.contracts.params import ContractParams
from wattchain.core.tx import Transaction
from wattchain.script.number import encode_num
from wattchain.script.opcodes import Op
from wattchain.script.script import ScriptParseError, iter_script, push_data, push_int

OP_CREATE = 0xC1
OP_CALL = 0xC2

CONTRACT_ID_SIZE = 20
_MAX_NUMBER_BYTES = 8


@dataclass(frozen=True, slots=True)
class ContractOutput:
    """A parsed contract output. ``contract_id`` is None for a creation."""

    kind: str  # "create" | "call"
    version: int
    gas_limit: int
    gas_price: int
    data: bytes
    contract_id: bytes | None = None

    @property
    def gas_fee(self) -> int:
        """The most this output can cost: what the transaction fee must cover for it."""
        return self.gas_limit * self.gas_price


def create_script(version: int, gas_limit: int, gas_price: int, payload: bytes) -> bytes:
    return (push_int(version) + push_int(gas_limit) + push_int(gas_price) + push_data(payload)
            + bytes((OP_CREATE,)))


def call_script(version: int, gas_limit: int, gas_price: int, data: bytes,
                contract_id: bytes) -> bytes:
    if len(contract_id) != CONTRACT_ID_SIZE:
        raise ValueError("a contract id is 20 bytes")
    return (push_int(version) + push_int(gas_limit) + push_int(gas_price) + push_data(data)
            + push_data(contract_id) + bytes((OP_CALL,)))


def is_contract_script(script: bytes) -> bool:
    """Does this output *claim* to be a contract output? (Qtum's HasOpCreate/HasOpCall.)

    True if any opcode of the script (not bytes inside a push) is OP_CREATE or OP_CALL, up
    to the point where the script stops tokenizing. Consensus must then parse the output
    strictly: a script that uses these opcodes but is malformed is invalid rather than "just
    another unspendable script". Bytes 0xc1/0xc2 inside pushes (a P2WPKH key hash ending in
    0xc1, say) do not count.
    """
    if OP_CREATE not in script and OP_CALL not in script:
        return False  # the fast path for ordinary outputs
    n = len(script)
    if (n == 22 or n == 34) and script[0] == 0 and script[1] == n - 2:
        return False  # P2WPKH / P2WSH: OP_0 and one push (whose bytes do not count)
    try:
        for op in iter_script(script):
            if op.opcode in (OP_CREATE, OP_CALL):
                return True
    except ScriptParseError:
        pass
    return False


def parse_contract_output(script: bytes,
                          params: ContractParams | None = None) -> ContractOutput | None:
    """The contract output encoded by ``script``; None if it is not a contract script at all.

    Raises :class:`ContractScriptError` if it ends with OP_CREATE/OP_CALL but is malformed.
    """
    if not is_contract_script(script):
        return None
    params = params or ContractParams()
    if script[-1] not in (OP_CREATE, OP_CALL):
        raise ContractScriptError("contract-script-shape", "OP_CREATE/OP_CALL must come last")
    kind = "create" if script[-1] == OP_CREATE else "call"
    try:
        ops = list(iter_script(script[:-1]))
    except ScriptParseError as exc:
        raise ContractScriptError("contract-script-truncated", str(exc)) from exc
    expected = 4 if kind == "create" else 5
    if len(ops) != expected:
        raise ContractScriptError("contract-script-shape",
                                  f"{kind} needs {expected} pushes, got {len(ops)}")
    pushes: list[bytes] = []
    for op in ops:
        raw = script[op.start:op.end]
        if op.data is not None:
            if push_data(op.data) != raw:
                raise ContractScriptError("contract-script-nonminimal-push")
            pushes.append(op.data)
        elif op.opcode == Op.OP_0 or Op.OP_1 <= op.opcode <= Op.OP_16:
            pushes.append(encode_num(0 if op.opcode == Op.OP_0 else op.opcode - Op.OP_1 + 1))
        elif op.opcode == Op.OP_1NEGATE:
            pushes.append(b"\x81")  # push_data's minimal form of the byte 0x81
        else:
            raise ContractScriptError("contract-script-not-push", f"opcode 0x{op.opcode:02x}")
    version = _number(pushes[0], "version")
    gas_limit = _number(pushes[1], "gas limit")
    gas_price = _number(pushes[2], "gas price")
    data = pushes[3]
    contract_id = pushes[4] if kind == "call" else None
    if version != params.contract_version:
        raise ContractScriptError("contract-bad-version", str(version))
    if not params.min_gas_limit <= gas_limit <= params.max_gas_per_tx:
        raise ContractScriptError("contract-gas-limit-out-of-range", str(gas_limit))
    if not params.min_gas_price <= gas_price <= params.max_gas_price:
        raise ContractScriptError("contract-gas-price-out-of-range", str(gas_price))
    if len(data) > params.max_data_size:
        raise ContractScriptError("contract-data-too-large", str(len(data)))
    if kind == "create" and not data:
        raise ContractScriptError("contract-empty-payload")
    if contract_id is not None and len(contract_id) != CONTRACT_ID_SIZE:
        raise ContractScriptError("contract-bad-id-size", str(len(contract_id)))
    return ContractOutput(kind, version, gas_limit, gas_price, data, contract_id)


def _number(data: bytes, what: str) -> int:
    """A non-negative, minimally encoded CScriptNum of at most 8 bytes."""
    if len(data) > _MAX_NUMBER_BYTES:
        raise ContractScriptError("contract-number-too-large", what)
    if data and data[-1] & 0x80:
        raise ContractScriptError("contract-number-negative", what)
    if data and data[-1] == 0 and (len(data) == 1 or not data[-2] & 0x80):
        raise ContractScriptError("contract-number-nonminimal", what)
    # (A one-byte push of 1..16 was already refused as a non-minimal push: OP_1..OP_16.)
    return int.from_bytes(data, "little")


def contract_outputs(tx: Transaction,
                     params: ContractParams | None = None) -> list[tuple[int, ContractOutput]]:
    """(output index, parsed output) of every contract output of ``tx``, in order.

    Raises :class:`ContractScriptError` for the first malformed one; consensus should call
    this in its transaction checks (and reject contract outputs in coinbase/coinstake).
    """
    found = []
    for index, txout in enumerate(tx.outputs):
        parsed = parse_contract_output(txout.script_pubkey, params)
        if parsed is not None:
            found.append((index, parsed))
    return found
