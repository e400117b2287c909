"""The deterministic contract runtime: call frames over a journaled state and a gas meter.

One :class:`Runtime` executes one contract output. A :class:`Frame` is one call into one
contract (the top-level call, or a cross-contract call made by a contract): it is the only way
a contract touches state, emits events or calls another contract, and every such operation is
charged to the output's :class:`GasMeter` *before* it happens.

Failure semantics are the EVM's without try/catch: an :class:`ExecutionFailure` raised
anywhere (including in a callee) unwinds the whole output; the executor then reverts the
state to the output's checkpoint and drops its events.

State key layout (the only place it is defined):
  ``b"m" + contract_id``          -> canonical msgpack ``[class name, version]``
  ``b"s" + contract_id + key``    -> a contract's storage
  ``b"n" + contract_id``          -> native coin held by a payable contract (big-endian)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from wattchain.contracts import abi
from wattchain.contracts.base import Contract
from wattchain.contracts.errors import AbiError, ContractError
from wattchain.contracts.gas import GasMeter
from wattchain.contracts.params import ContractParams
from wattchain.contracts.receipts import Event
from wattchain.contracts.state import ContractState
from wattchain.core.hashes import sha256
from wattchain.core.keys import verify_ecdsa

MAX_STORAGE_KEY = 128
MAX_STORAGE_VALUE = 4096


def meta_key(contract_id: bytes) -> bytes:
    return b"m" + contract_id


def singleton_key(class_name: str) -> bytes:
    """Where the id of a chain-wide singleton contract (TSL, WATT) is recorded."""
    return b"1" + class_name.encode()


def storage_key(contract_id: bytes, key: bytes) -> bytes:
    return b"s" + contract_id + key


def native_key(contract_id: bytes) -> bytes:
    return b"n" + contract_id


class ContractRegistry:
    """The built-in contract classes by (name, version), with their external methods."""

    def __init__(self, classes: Iterable[type[Contract]]) -> None:
        self._classes: dict[tuple[str, int], type[Contract]] = {}
        self._methods: dict[tuple[str, int], dict[str, tuple[Callable[..., Any],
                                                             inspect.Signature]]] = {}
        for cls in classes:
            ident = (cls.NAME, cls.VERSION)
            if not cls.NAME or ident in self._classes:
                raise ValueError(f"duplicate or unnamed contract class {ident}")
            self._classes[ident] = cls
            self._methods[ident] = {name: (fn, inspect.signature(fn))
                                    for name, fn in cls.externals().items()}

    def lookup(self, name: str, version: int) -> type[Contract] | None:
        return self._classes.get((name, version))

    def method(self, cls: type[Contract], name: str) -> tuple[Callable[..., Any],
                                                              inspect.Signature] | None:
        return self._methods[(cls.NAME, cls.VERSION)].get(name)

    def names(self) -> list[tuple[str, int]]:
        return sorted(self._classes)

    def classes(self) -> list[type[Contract]]:
        return [self._classes[ident] for ident in sorted(self._classes)]


@dataclass(frozen=True)
class BlockContext:
    """What a contract may know about the block it runs in (chosen by the caller)."""

    height: int
    time: int
    params: ContractParams
    registry: ContractRegistry


class Runtime:
    """Executes one contract output: owns its gas meter and collected events."""

    def __init__(self, state: ContractState, block: BlockContext, meter: GasMeter,
                 origin: bytes) -> None:
        self.state = state
        self.block = block
        self.meter = meter
        self.origin = origin
        self.events: list[Event] = []

    @property
    def gas(self):  # the schedule, for brevity at call sites
        return self.block.params.gas

    def contract_class(self, contract_id: bytes) -> type[Contract]:
        self.meter.charge(self.gas.storage_read, "contract lookup")
        raw = self.state.get(meta_key(contract_id))
        if raw is None:
            raise ContractError(f"no contract at {contract_id.hex()}")
        name, version = abi.unpack(raw)
        cls = self.block.registry.lookup(name, version)
        if cls is None:  # only possible if a registry dropped a class: a node bug
            raise RuntimeError(f"contract class {name} v{version} is not registered")
        return cls

    def create(self, contract_id: bytes, payload: abi.CreatePayload, sender: bytes,
               value: int) -> None:
        cls = self.block.registry.lookup(payload.class_name, payload.version)
        if cls is None:
            raise ContractError(f"unknown contract class {payload.class_name} "
                                f"v{payload.version}")
        if self.state.get(meta_key(contract_id)) is not None:
            raise ContractError("contract already exists")
        if getattr(cls, "SINGLETON", False):
            # TSL's billion is created once per chain, not once per deployment: a second
            # TslToken would be a second billion (and a second WATT a second energy ledger).
            self.meter.charge(self.gas.storage_read, "singleton lookup")
            if self.state.get(singleton_key(cls.NAME)) is not None:
                raise ContractError(f"{cls.NAME} already exists on this chain")
            self.state.set(singleton_key(cls.NAME), contract_id)
        self.meter.charge(self.gas.storage_write_new, "create")
        self.state.set(meta_key(contract_id), abi.pack([cls.NAME, cls.VERSION]))
        frame = Frame(self, contract_id, sender, value, 0)
        if value:
            if not getattr(cls.init, "_contract_payable", False):
                raise ContractError("constructor is not payable")
            frame.credit_native(value)
        cls(frame).init(payload.args)

    def invoke(self, contract_id: bytes, method: str, args: list[Any], sender: bytes,
               value: int, depth: int) -> Any:
        if depth > self.block.params.max_call_depth:
            raise ContractError("call depth exceeded")
        cls = self.contract_class(contract_id)
        found = self.block.registry.method(cls, method)
        if found is None:
            raise ContractError(f"{cls.NAME} has no method {method}")
        fn, signature = found
        try:
            signature.bind(None, *args)
        except TypeError as exc:
            raise AbiError(f"{cls.NAME}.{method}: {exc}") from exc
        frame = Frame(self, contract_id, sender, value, depth)
        if value:
            if not getattr(fn, "_contract_payable", False):
                raise ContractError(f"{cls.NAME}.{method} is not payable")
            frame.credit_native(value)
        return fn(cls(frame), *args)


class Frame:
    """One call into one contract; the contract's only handle on the outside world."""

    def __init__(self, runtime: Runtime, contract_id: bytes, sender: bytes, value: int,
                 depth: int) -> None:
        self.runtime = runtime
        self.contract_id = contract_id
        self.sender = sender
        self.value = value
        self.depth = depth

    def load(self, key: bytes) -> bytes | None:
        if len(key) > MAX_STORAGE_KEY:
            raise ContractError("storage key too long")
        self.runtime.meter.charge(self.runtime.gas.storage_read, "storage read")
        return self.runtime.state.get(storage_key(self.contract_id, key))

    def store(self, key: bytes, value: bytes | None) -> None:
        gas = self.runtime.gas
        if len(key) > MAX_STORAGE_KEY or (value is not None and len(value) > MAX_STORAGE_VALUE):
            raise ContractError("storage key or value too long")
        full = storage_key(self.contract_id, key)
        exists = self.runtime.state.get(full) is not None
        cost = gas.storage_write_new if value is not None and not exists else gas.storage_write
        cost += gas.storage_byte * (len(key) + (len(value) if value is not None else 0))
        self.runtime.meter.charge(cost, "storage write")
        self.runtime.state.set(full, value)

    def emit(self, topic: str, fields: dict[str, Any]) -> None:
        data = abi.pack(fields)
        gas = self.runtime.gas
        self.runtime.meter.charge(gas.event + gas.event_byte * (len(topic) + len(data)), "event")
        self.runtime.events.append(Event(self.contract_id, topic, data))

    def call(self, contract_id: bytes, method: str, args: list[Any]) -> Any:
        self.runtime.meter.charge(self.runtime.gas.call, "call")
        return self.runtime.invoke(contract_id, method, args, self.contract_id, 0,
                                   self.depth + 1)

    def verify_signature(self, pubkey: bytes, der_sig: bytes, msg32: bytes) -> bool:
        self.runtime.meter.charge(self.runtime.gas.sig_verify, "signature check")
        try:
            return verify_ecdsa(pubkey, der_sig, msg32)
        except ValueError:
            return False

    def hash(self, data: bytes) -> bytes:
        gas = self.runtime.gas
        self.runtime.meter.charge(gas.hash_base + gas.hash_word * ((len(data) + 31) // 32),
                                  "hash")
        return sha256(data)

    def step(self, count: int) -> None:
        self.runtime.meter.charge(self.runtime.gas.step * count, "loop")

    def credit_native(self, value: int) -> None:
        key = native_key(self.contract_id)
        raw = self.runtime.state.get(key)
        total = (0 if raw is None else int.from_bytes(raw, "big")) + value
        self.runtime.state.set(key, total.to_bytes(8, "big"))
