"""The one loader of the optional compiled modules (``core.compiled.optional_module``)."""

from __future__ import annotations

import pytest

from wattchain.core.compiled import optional_module, pure_forced
from wattchain.consensus import block_scan, connect_fast
from wattchain.script import fastpaths

MODULES = ["wattchain.core._tx_reader", "wattchain.script._fastpaths",
           "wattchain.consensus._connect_fast", "wattchain.consensus._coins_flush",
           "wattchain.consensus._block_scan"]


def test_a_module_that_is_not_built_is_none() -> None:
    assert optional_module("wattchain.core._no_such_module", fast=True) is None


@pytest.mark.parametrize("name", MODULES)
def test_the_switch_decides_and_fast_overrides_it(name: str, monkeypatch) -> None:
    built = optional_module(name, fast=True)
    if built is None:
        pytest.skip(f"{name} is not built")
    assert built.__name__ == name
    assert optional_module(name, fast=False) is None
    monkeypatch.setenv("WATTCHAIN_PURE", "1")
    assert pure_forced() and optional_module(name) is None
    assert optional_module(name, fast=True) is built
    monkeypatch.setenv("WATTCHAIN_PURE", "0")
    assert optional_module(name) is built


def test_the_front_modules_follow_the_switch(monkeypatch) -> None:
    if optional_module("wattchain.consensus._block_scan", fast=True) is None:
        pytest.skip("compiled extensions are not built")
    monkeypatch.delenv("WATTCHAIN_PURE", raising=False)
    assert connect_fast.compiled_loop() is not None
    assert connect_fast.compiled_undo_serializer() is not None
    assert block_scan.compiled_block_scan() is not None and fastpaths.compiled_module()
    monkeypatch.setenv("WATTCHAIN_PURE", "1")
    assert connect_fast.compiled_loop() is None and connect_fast.compiled_batch_write() is None
    assert connect_fast.compiled_undo_serializer() is None
    assert block_scan.compiled_block_scan() is None and fastpaths.compiled_module() is None
    assert connect_fast.compiled_available() and fastpaths.compiled_available()
