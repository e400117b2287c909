"""Method parameter specs, named/positional binding and Core-style type checking.

Bitcoin Core (rpc/util.cpp, rpc/server.cpp) treats a request in three steps, reproduced here
because clients depend on the exact codes:

1. named parameters (a JSON object) become a positional array; an unknown name is -8
   ``Unknown named parameter <name>``;
2. a wrong number of arguments throws the method's help text as a plain error: -1;
3. each argument's JSON type is checked against the spec; every mismatch is listed in one -3
   ``Wrong type passed`` error. ``null`` for an optional argument means "use the default".

Values arrive decoded with ``parse_float=Decimal`` so amounts are exact; the helpers below
parse hashes, hex and amounts with Core's messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from wattchain.core.tx import COIN
from wattchain.rpc.errors import (RPC_INVALID_PARAMETER, RPC_MISC_ERROR, RPC_TYPE_ERROR,
                                  RPCError)


class ArgType(Enum):
    """Core's RPCArg::Type, as far as wattchain's methods need it."""

    STR = "string"
    STR_HEX = "string, hex"
    NUM = "numeric"
    AMOUNT = "numeric or string"
    BOOL = "boolean"
    OBJ = "json object"
    ARR = "json array"
    #: Core's getblock verbosity and getrawtransaction verbose: a number, bools tolerated.
    NUM_OR_BOOL = "numeric or boolean"
    ANY = "any"


@dataclass(frozen=True)
class Param:
    """One argument of a method: Core's name, type, whether required, default and meaning."""

    name: str
    type: ArgType
    required: bool = True
    default: Any = None
    description: str = ""


def json_type_name(value: Any) -> str:
    """UniValue's uvTypeName for a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_EXPECTED: dict[ArgType, tuple[str, ...]] = {
    ArgType.STR: ("string",), ArgType.STR_HEX: ("string",), ArgType.NUM: ("number",),
    ArgType.AMOUNT: ("number", "string"), ArgType.BOOL: ("bool",), ArgType.OBJ: ("object",),
    ArgType.ARR: ("array",), ArgType.NUM_OR_BOOL: ("number", "bool"),
}


def matches_type(param: Param, value: Any) -> str | None:
    """None if ``value`` fits ``param``; else Core's mismatch message."""
    if param.type is ArgType.ANY or (value is None and not param.required):
        return None
    expected = _EXPECTED[param.type]
    got = json_type_name(value)
    if got in expected:
        return None
    return f"JSON value of type {got} is not of expected type {expected[0]}"


def help_text(method: str, spec: Sequence[Param], description: str) -> str:
    """Short Core-style help: usage line, description, numbered arguments."""
    usage = " ".join([method] + [p.name if p.required else f"( {p.name} )" for p in spec])
    lines = [usage, "", description.strip()]
    if spec:
        lines += ["", "Arguments:"]
        for i, p in enumerate(spec, 1):
            extra = "required" if p.required else (
                "optional" if p.default is None else f"optional, default={json.dumps(p.default)}")
            lines.append(f"{i}. {p.name}    ({p.type.value}, {extra}) {p.description}".rstrip())
    return "\n".join(lines)


def bind(method: str, spec: Sequence[Param], params: Any, description: str = ""
         ) -> dict[str, Any]:
    """Map request ``params`` (array, object or null) onto ``spec``: name -> value, defaults
    filled in. Raises :class:`RPCError` with Core's codes."""
    if params is None:
        positional: list[Any] = []
    elif isinstance(params, Mapping):
        positional = _named_to_positional(spec, params)
    else:
        positional = list(params)
    required = sum(1 for p in spec if p.required)
    if not required <= len(positional) <= len(spec):
        raise RPCError(RPC_MISC_ERROR, help_text(method, spec, description))
    mismatches = {}
    for i, (param, value) in enumerate(zip(spec, positional)):
        problem = matches_type(param, value)
        if problem is not None:
            mismatches[f"Position {i + 1} ({param.name})"] = problem
    if mismatches:
        raise RPCError(RPC_TYPE_ERROR, "Wrong type passed:\n" + json.dumps(mismatches, indent=4))
    bound = {}
    for i, param in enumerate(spec):
        value = positional[i] if i < len(positional) else None
        bound[param.name] = param.default if value is None else value
    return bound


def _named_to_positional(spec: Sequence[Param], named: Mapping[str, Any]) -> list[Any]:
    """Core's transformNamedArguments (without the ``args`` catch-all)."""
    names = [p.name for p in spec]
    for key in named:
        if key not in names:
            raise RPCError(RPC_INVALID_PARAMETER, f"Unknown named parameter {key}")
    positional: list[Any] = [named.get(name) for name in names]
    while positional and positional[-1] is None and names[len(positional) - 1] not in named:
        positional.pop()
    return positional


# ------------------------------------------------------------------ value parsers
def parse_hash(value: str, name: str) -> bytes:
    """A 64-hex-digit hash in display order -> internal byte order (Core's ParseHashV)."""
    if len(value) != 64:
        raise RPCError(RPC_INVALID_PARAMETER,
                       f"{name} must be of length 64 (not {len(value)}, for '{value}')")
    try:
        return bytes.fromhex(value)[::-1]
    except ValueError:
        raise RPCError(RPC_INVALID_PARAMETER,
                       f"{name} must be hexadecimal string (not '{value}')") from None


def parse_hex(value: str, name: str) -> bytes:
    """Arbitrary hex data (Core's ParseHexV)."""
    try:
        if len(value) % 2:
            raise ValueError
        return bytes.fromhex(value)
    except ValueError:
        raise RPCError(RPC_INVALID_PARAMETER,
                       f"{name} must be hexadecimal string (not '{value}') and length of it "
                       f"must be divisible by 2") from None


def as_int(value: Any, low: int | None = None, high: int | None = None) -> int:
    """A JSON number that must be integral (UniValue's getInt: otherwise -1)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise RPCError(RPC_TYPE_ERROR, f"JSON value of type {json_type_name(value)} is not of "
                                       f"expected type number")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise RPCError(RPC_MISC_ERROR, "JSON integer out of range")
        value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise RPCError(RPC_MISC_ERROR, "JSON integer out of range")
    return value


def amount_from_value(value: Any, max_money: int) -> int:
    """Coins (number or string, at most 8 decimals) -> base units (Core's AmountFromValue)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise RPCError(RPC_TYPE_ERROR, "Amount is not a number or string")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
        if not amount.is_finite():
            raise InvalidOperation
        units = amount * COIN
        if units != units.to_integral_value():
            raise InvalidOperation
    except InvalidOperation:
        raise RPCError(RPC_TYPE_ERROR, "Invalid amount") from None
    units_int = int(units)
    if not 0 <= units_int <= max_money:
        raise RPCError(RPC_TYPE_ERROR, "Amount out of range")
    return units_int
