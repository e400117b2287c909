"""Which optional compiled extensions to use: every one that is built, none with
``WATTCHAIN_PURE=1``.

Why here: each compiled module (``core._tx_reader``, ``script._sigcore`` and ``_fastpaths``,
``consensus._connect_fast``, ``_coins_flush`` and ``_block_scan``) has a Python reference that defines its
results, and CI runs the whole suite both ways. This module is the one switch, in the lowest
layer, so ``core`` can use it without importing ``script``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

PURE_ENV = "WATTCHAIN_PURE"


def pure_forced(environ: Any = None) -> bool:
    """True when ``WATTCHAIN_PURE`` is set to anything but empty/``0``."""
    value = (os.environ if environ is None else environ).get(PURE_ENV, "")
    return value not in ("", "0")


@lru_cache(maxsize=2)
def _load_tx_reader(pure: bool) -> Any:
    """The compiled reader or None (an immutable answer per kind: caching it is not state)."""
    if pure:
        return None
    try:
        from wattchain.core import _tx_reader  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _tx_reader


def compiled_tx_reader() -> Any:
    """The ``_tx_reader`` module (``read_transaction``, ``read_transactions``) unless
    ``WATTCHAIN_PURE`` or not built."""
    return _load_tx_reader(pure_forced())


__all__ = ["PURE_ENV", "pure_forced", "compiled_tx_reader"]
