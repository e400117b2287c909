"""The compiled block loop (:mod:`wattchain.consensus._connect_fast`), when built and allowed.

Why a separate module: ``connect`` must run without the compiled extension (not built, or
``WATTCHAIN_PURE=1``), and then every transaction takes the Python path, which defines the
results. The compiled loop only takes transactions it models exactly (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from wattchain.core.compiled import pure_forced

Loop = Callable[..., None]


@lru_cache(maxsize=2)
def _load(pure: bool) -> Loop | None:
    """The compiled loop, or None (an immutable answer per kind, so caching is not state)."""
    if pure:
        return None
    try:
        from wattchain.consensus import _connect_fast  # type: ignore[attr-defined]
    except ImportError:
        return None
    loop: Any = _connect_fast.connect_transactions
    return loop


def compiled_loop(fast: bool | None = None) -> Loop | None:
    """The compiled loop unless ``fast`` is False (default: unless ``WATTCHAIN_PURE``) or it
    is not built."""
    return _load(pure_forced() if fast is None else not fast)


@lru_cache(maxsize=2)
def _load_batch_write(pure: bool) -> Callable[..., None] | None:
    if pure:
        return None
    try:
        from wattchain.consensus import _coins_flush  # type: ignore[attr-defined]
    except ImportError:
        return None
    write: Any = _coins_flush.batch_write
    return write


def compiled_batch_write() -> Callable[..., None] | None:
    """The compiled ``CoinsViewCache._batch_write`` (same results), unless ``WATTCHAIN_PURE``
    or not built."""
    return _load_batch_write(pure_forced())


@lru_cache(maxsize=2)
def _load_undo_serializer(pure: bool) -> Callable[..., bytes | None] | None:
    if pure:
        return None
    try:
        from wattchain.consensus import _coins_flush  # type: ignore[attr-defined]
    except ImportError:
        return None
    serialize: Any = _coins_flush.serialize_undo
    return serialize


def compiled_undo_serializer(fast: bool | None = None) -> Callable[..., bytes | None] | None:
    """The compiled ``BlockUndo.serialize`` (same bytes; None for a shape it does not model),
    unless ``fast`` is False (default: unless ``WATTCHAIN_PURE``) or it is not built."""
    return _load_undo_serializer(pure_forced() if fast is None else not fast)


def compiled_available() -> bool:
    """Whether the compiled loop is built (whatever ``WATTCHAIN_PURE`` says)."""
    return _load(False) is not None


__all__ = ["compiled_loop", "compiled_batch_write", "compiled_undo_serializer",
           "compiled_available"]
