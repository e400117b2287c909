"""The compiled block loop (:mod:`wattchain.consensus._connect_fast`), when built and allowed.

Why a separate module: ``connect`` must run without the compiled extension (not built, or
``WATTCHAIN_PURE=1``), and then every transaction takes the Python path, which defines the
results. The compiled loop only takes transactions it models exactly (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wattchain.core.compiled import optional_module

Loop = Callable[..., None]

_LOOP = "wattchain.consensus._connect_fast"
_COINS = "wattchain.consensus._coins_flush"


def compiled_loop(fast: bool | None = None) -> Loop | None:
    """The compiled loop unless ``fast`` is False (default: unless ``WATTCHAIN_PURE``) or it
    is not built."""
    module = optional_module(_LOOP, fast)
    return module.connect_transactions if module is not None else None


def compiled_batch_write() -> Callable[..., None] | None:
    """The compiled ``CoinsViewCache._batch_write`` (same results), unless ``WATTCHAIN_PURE``
    or not built."""
    module = optional_module(_COINS)
    return module.batch_write if module is not None else None


def compiled_undo_serializer(fast: bool | None = None) -> Callable[..., bytes | None] | None:
    """The compiled ``BlockUndo.serialize`` (same bytes; None for a shape it does not model),
    unless ``fast`` is False (default: unless ``WATTCHAIN_PURE``) or it is not built."""
    module = optional_module(_COINS, fast)
    serialize: Any = module.serialize_undo if module is not None else None
    return serialize


def compiled_available() -> bool:
    """Whether the compiled loop is built (whatever ``WATTCHAIN_PURE`` says)."""
    return optional_module(_LOOP, fast=True) is not None


__all__ = ["compiled_loop", "compiled_batch_write", "compiled_undo_serializer",
           "compiled_available"]
