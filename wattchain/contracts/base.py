"""The base class of built-in contracts and the argument checks they share.

A contract is a Python class with a ``NAME`` and ``VERSION`` (the pair a creation payload
names) whose externally callable methods are marked with :func:`external`. An instance lives
for one call: it reaches state, gas, events and other contracts only through its
:class:`Frame` (given by the runtime), so every effect is metered and journaled.

Storage helpers store integers as minimal big-endian bytes and delete the key at zero, so equal
logical states have identical key sets (and therefore identical state roots).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from wattchain.contracts import abi
from wattchain.contracts.accounts import ACCOUNT_SIZE
from wattchain.contracts.errors import ContractError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.contracts.runtime import Frame

F = TypeVar("F", bound=Callable[..., Any])

#: Largest integer a contract stores or accepts. ERC20 uses uint256; here every amount must
#: also travel through msgpack (call data, events, return values), whose integers are 64-bit.
#: 2^64 - 1 base units is 1.8 * 10^11 whole tokens at 8 decimals: ample for WATT and TSL.
MAX_UINT = 2**64 - 1


def external(fn: F | None = None, *, payable: bool = False, view: bool = False) -> Any:
    """Mark a method as callable by transactions and other contracts."""
    def mark(method: F) -> F:
        method._contract_external = True  # type: ignore[attr-defined]
        method._contract_payable = payable  # type: ignore[attr-defined]
        method._contract_view = view  # type: ignore[attr-defined]
        return method
    return mark(fn) if fn is not None else mark


class Contract:
    """Base class: storage, events, calls and checks for one call frame."""

    NAME: ClassVar[str] = ""
    VERSION: ClassVar[int] = 0

    def __init__(self, frame: "Frame") -> None:
        self.frame = frame

    # ------------------------------------------------------------------ lifecycle
    def init(self, args: dict[str, Any]) -> None:
        """Called once by OP_CREATE with the payload's ``args``; override to set up state."""
        if args:
            raise ContractError(f"{self.NAME} takes no creation arguments")

    @classmethod
    def externals(cls) -> dict[str, Callable[..., Any]]:
        return {name: member for name, member in inspect.getmembers(cls, callable)
                if getattr(member, "_contract_external", False)}

    # ------------------------------------------------------------------ context
    @property
    def this(self) -> bytes:
        return self.frame.contract_id

    @property
    def sender(self) -> bytes:
        return self.frame.sender

    @property
    def now(self) -> int:
        return self.frame.runtime.block.time

    # ------------------------------------------------------------------ storage
    def load(self, key: bytes) -> bytes | None:
        return self.frame.load(key)

    def store(self, key: bytes, value: bytes | None) -> None:
        self.frame.store(key, value)

    def load_int(self, key: bytes) -> int:
        raw = self.load(key)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def store_int(self, key: bytes, value: int) -> None:
        if not 0 <= value <= MAX_UINT:
            raise ContractError("integer overflow")
        self.store(key, None if value == 0 else value.to_bytes((value.bit_length() + 7) // 8,
                                                               "big"))

    def load_obj(self, key: bytes) -> Any:
        raw = self.load(key)
        return None if raw is None else abi.unpack(raw)

    def store_obj(self, key: bytes, value: Any) -> None:
        self.store(key, None if value is None else abi.pack(value))

    # ------------------------------------------------------------------ effects
    def emit(self, topic: str, **fields: Any) -> None:
        self.frame.emit(topic, fields)

    def call(self, contract_id: bytes, method: str, *args: Any) -> Any:
        return self.frame.call(contract_id, method, list(args))

    def verify_signature(self, pubkey: bytes, der_sig: bytes, msg32: bytes) -> bool:
        return self.frame.verify_signature(pubkey, der_sig, msg32)

    def hash(self, data: bytes) -> bytes:
        return self.frame.hash(data)

    def step(self, count: int = 1) -> None:
        """Charge for ``count`` iterations of a data-dependent loop."""
        self.frame.step(count)


# ---------------------------------------------------------------------- argument checks
def require(condition: bool, reason: str) -> None:
    if not condition:
        raise ContractError(reason)


def uint(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_UINT:
        raise ContractError(f"{what} must be a non-negative integer")
    return value


def positive(value: Any, what: str) -> int:
    uint(value, what)
    if value == 0:
        raise ContractError(f"{what} must be positive")
    return value


def account(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != ACCOUNT_SIZE:
        raise ContractError(f"{what} must be a 20-byte account")
    return value


def blob(value: Any, what: str, max_size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) > max_size:
        raise ContractError(f"{what} must be bytes of at most {max_size}")
    return value


def text(value: Any, what: str, max_size: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_size:
        raise ContractError(f"{what} must be a string of 1..{max_size} characters")
    return value
