"""Creation payloads and call data: canonical msgpack with strict, bounded decoding.

Creation payload: ``{"class": "WattToken", "version": 1, "args": {...}}``.
Call data:        ``{"method": "transfer", "args": [...]}``.

Values are limited to msgpack's nil, bool, int, str, bin, array and map (string keys). Floats
and extension types are refused (consensus must be float-free), as are encodings that are not
canonical (re-encoding must give the same bytes: one call has exactly one encoding) and
structures deeper than :data:`MAX_DEPTH`. Errors are :class:`AbiError`, which the runtime
turns into a failed output (gas charged, value refunded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from wattchain.contracts.errors import AbiError

MAX_DEPTH = 8
MAX_NAME_SIZE = 64
_LIMITS = dict(max_str_len=16_384, max_bin_len=16_384, max_array_len=1024, max_map_len=256,
               max_ext_len=16_384)


@dataclass(frozen=True)
class CreatePayload:
    class_name: str
    version: int
    args: dict[str, Any]


@dataclass(frozen=True)
class CallData:
    method: str
    args: list[Any]


def pack(value: Any) -> bytes:
    """Canonical msgpack (bin type for bytes); refuses floats and unsupported types."""
    _check_value(value, 0)
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Strictly decode one canonical msgpack value."""
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True,
                                ext_hook=_refuse_ext, **_LIMITS)
    except AbiError:
        raise
    except Exception as exc:  # msgpack raises a zoo of ValueError/TypeError/ExtraData
        raise AbiError(f"msgpack: {type(exc).__name__}: {exc}") from exc
    _check_value(value, 0)
    if msgpack.packb(value, use_bin_type=True) != data:
        raise AbiError("msgpack: not the canonical encoding")
    return value


def encode_create(class_name: str, version: int, args: dict[str, Any]) -> bytes:
    return pack({"class": class_name, "version": version, "args": args})


def encode_call(method: str, args: list[Any] | tuple[Any, ...] = ()) -> bytes:
    return pack({"method": method, "args": list(args)})


def decode_create(data: bytes) -> CreatePayload:
    value = unpack(data)
    if not isinstance(value, dict) or set(value) != {"class", "version", "args"}:
        raise AbiError("creation payload must be a map of exactly class, version, args")
    name, version, args = value["class"], value["version"], value["args"]
    _check_name(name, "class")
    if type(version) is not int or not 0 <= version < 2**32:
        raise AbiError("creation version must be an integer in [0, 2^32)")
    if not isinstance(args, dict):
        raise AbiError("creation args must be a map")
    return CreatePayload(name, version, args)


def decode_call(data: bytes) -> CallData:
    value = unpack(data)
    if not isinstance(value, dict) or set(value) != {"method", "args"}:
        raise AbiError("call data must be a map of exactly method, args")
    _check_name(value["method"], "method")
    if not isinstance(value["args"], list):
        raise AbiError("call args must be an array")
    return CallData(value["method"], value["args"])


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_SIZE or not name.isascii() \
            or not name.replace("_", "a").isalnum() or name.startswith("_"):
        raise AbiError(f"bad {what} name")


def _check_value(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise AbiError("msgpack: nested too deeply")
    if value is None or isinstance(value, (bool, str, bytes)):
        return
    if type(value) is int:
        if not -2**63 <= value < 2**64:
            raise AbiError("msgpack: integer out of range")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AbiError("msgpack: map keys must be strings")
            _check_value(item, depth + 1)
        return
    raise AbiError(f"msgpack: unsupported type {type(value).__name__}")


def _refuse_ext(code: int, data: bytes) -> Any:
    raise AbiError("msgpack: extension types are not allowed")
