"""Which optional compiled extensions to use: every one that is built, none with
``WATTCHAIN_PURE=1``.

Why here: each compiled module (``core._tx_reader``, ``script._sigcore`` and ``_fastpaths``,
``consensus._connect_fast``, ``_coins_flush`` and ``_block_scan``) has a Python reference that defines its
results, and CI runs the whole suite both ways. This module is the one switch, in the lowest
layer, so ``core`` can use it without importing ``script``.
"""

from __future__ import annotations

import importlib
import os
from functools import lru_cache
from types import ModuleType
from typing import Any

PURE_ENV = "WATTCHAIN_PURE"


def pure_forced(environ: Any = None) -> bool:
    """True when ``WATTCHAIN_PURE`` is set to anything but empty/``0``."""
    value = (os.environ if environ is None else environ).get(PURE_ENV, "")
    return value not in ("", "0")


@lru_cache(maxsize=None)
def _import_optional(name: str) -> ModuleType | None:
    """Module ``name`` or None if it is not built (an immutable answer per name: caching it
    is not state)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def optional_module(name: str, fast: bool | None = None) -> ModuleType | None:
    """The optional compiled module ``name`` (e.g. ``"wattchain.consensus._block_scan"``),
    or None when it is not built, when ``fast`` is False, or (``fast`` None) when
    ``WATTCHAIN_PURE`` is set. The one loader of every compiled module but the signature
    core, whose fallback is a backend object (``script.sigcore``)."""
    if (pure_forced() if fast is None else not fast):
        return None
    return _import_optional(name)


def compiled_tx_reader(fast: bool | None = None) -> Any:
    """The ``_tx_reader`` module (``read_transaction``, ``read_transactions``) unless
    ``WATTCHAIN_PURE`` (or ``fast`` False) or not built."""
    return optional_module("wattchain.core._tx_reader", fast)


__all__ = ["PURE_ENV", "pure_forced", "optional_module", "compiled_tx_reader"]
