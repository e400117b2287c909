"""JSON text for RPC replies, with amounts written exactly.

Amounts are :class:`~decimal.Decimal` coins (``txjson.amount_to_coins``); Core prints them as
plain numbers with 8 decimals (``50.00000000``). The standard encoder cannot write a Decimal
as a number, and a float would lose the exactness users rely on, so this small encoder writes
Decimals verbatim and delegates everything else to :mod:`json`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_encode_str = json.JSONEncoder(ensure_ascii=False).encode

#: Every Decimal in an RPC reply is a coin amount or a coins/kvB rate; Core writes those with
#: exactly 8 decimals ("50.00000000"), so shorter ones are padded (never rounded).
AMOUNT_DECIMALS = 8
_AMOUNT_QUANTUM = Decimal(1).scaleb(-AMOUNT_DECIMALS)


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON with Decimals as exact numbers: compact (Core's reply style) by default, or
    pretty-printed with ``indent`` spaces (what bitcoin-cli prints)."""
    parts: list[str] = []
    _write(value, parts, indent, 0)
    return "".join(parts)


def _write(value: Any, out: list[str], indent: int | None, level: int) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot encode {value} as JSON")
        if value.as_tuple().exponent > -AMOUNT_DECIMALS:  # type: ignore[operator]
            value = value.quantize(_AMOUNT_QUANTUM)
        out.append(format(value, "f"))
    elif isinstance(value, dict):
        _write_items(out, "{", "}", list(value.items()), indent, level, keyed=True)
    elif isinstance(value, (list, tuple)):
        _write_items(out, "[", "]", list(enumerate(value)), indent, level, keyed=False)
    elif isinstance(value, str):
        out.append(_encode_str(value))
    else:
        # bool, int, float, None: the standard encoder's spelling (true, 1, 0.5, null)
        out.append(json.dumps(value))


def _write_items(out: list[str], opening: str, closing: str, items: list[tuple[Any, Any]],
                 indent: int | None, level: int, *, keyed: bool) -> None:
    out.append(opening)
    if not items:
        out.append(closing)
        return
    inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
    for i, (key, item) in enumerate(items):
        if i:
            out.append(",")
        out.append(inner)
        if keyed:
            out.append(_encode_str(str(key)))
            out.append(":" if indent is None else ": ")
        _write(item, out, indent, level + 1)
    if indent is not None:
        out.append("\n" + " " * (indent * level))
    out.append(closing)


def loads(text: str | bytes) -> Any:
    """Parse a request: numbers with a fraction or exponent become exact Decimals.

    Raises ValueError (json.JSONDecodeError) on malformed input."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
