"""The garbage collector is paused while a block is checked or connected, and left as it was
afterwards, whether the block passes or fails."""

from __future__ import annotations

import gc

import pytest

from chain_builder import OP_TRUE, Chain, spend, with_header
from wattchain.consensus import block_check, connect
from wattchain.consensus.collector import collector_paused
from wattchain.consensus.errors import BlockValidationError
from wattchain.core.tx import TxOut


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_inside_and_restored_after_an_error(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError):
            with collector_paused():
                assert not gc.isenabled()
                raise RuntimeError("block failed")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


@pytest.mark.parametrize("valid", [True, False])
def test_block_checks_run_with_the_collector_paused(valid: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    chain = Chain()
    (outpoint, coin) = chain.funding[0]
    block = chain.block([spend([outpoint], [TxOut(coin.value - 1000, OP_TRUE)])], fee=1000)
    if not valid:
        block = with_header(block, merkle_root=bytes(32))
    seen: list[bool] = []
    original_check, original_connect = block_check.check_transaction, connect._connect_block
    monkeypatch.setattr(block_check, "check_transaction",
                        lambda *a: (seen.append(gc.isenabled()), original_check(*a))[1])
    monkeypatch.setattr(connect, "_connect_block",
                        lambda *a: (seen.append(gc.isenabled()), original_connect(*a))[1])
    if valid:
        chain.validate(block)
        assert seen and not any(seen)  # check_block's and connect_block's work
    else:
        with pytest.raises(BlockValidationError):
            chain.validate(block)
    assert gc.isenabled()
