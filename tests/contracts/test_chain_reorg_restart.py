"""Contract state across reorgs, restarts and a SIGKILL: always the state of the stored tip."""

from __future__ import annotations

import pytest

from wattchain.contracts import EMPTY_ROOT
from wattchain.node.chaingen import replay_state_root

from chain_support import ContractChain, account_of, call_out, create_out


@pytest.fixture
def chain(tmp_path):
    c = ContractChain(tmp_path, cache_bytes=64 * 1024 * 1024)  # write-back caches
    yield c
    c.close()


def _tsl(chain: ContractChain) -> bytes:
    return chain.create(chain.keys[0], "TslToken", {})


def test_reorg_across_contract_blocks_restores_state_exactly(chain) -> None:
    alice, bob, carol = chain.keys[0], chain.keys[1], chain.keys[2]
    tsl = _tsl(chain)
    fork_point = chain.branch.fork()
    root_at_fork = chain.cs.contract_state_root()
    # Branch A: two transfers to bob.
    chain.call(alice, tsl, "transfer", account_of(bob), 100)
    chain.call(alice, tsl, "transfer", account_of(bob), 200)
    root_a = chain.cs.contract_state_root()
    tip_a = chain.cs.tip.hash
    assert chain.view(tsl, "balanceOf", account_of(bob)) == 300
    # Branch B (longer): a transfer to carol instead, then an empty block, then one more.
    branch_b = fork_point
    tx = chain.contract_tx(alice, call_out(tsl, "transfer", account_of(carol), 50),
                           branch=branch_b)
    for txs in ([tx], [], []):
        block = branch_b.make_block(txs)
        chain.submit(block)
        branch_b.add(block)
    assert chain.cs.tip.hash == branch_b.tip.hash  # reorganized
    assert chain.view(tsl, "balanceOf", account_of(bob)) == 0
    assert chain.view(tsl, "balanceOf", account_of(carol)) == 50
    assert chain.cs.contract_state_root() == replay_state_root(chain.params, branch_b.blocks)
    assert chain.cs.get_receipt(tx.txid)[0].ok
    # Disconnecting back to the fork point gives exactly the old root.
    for _ in range(3):
        chain.cs.disconnect_tip()
    assert chain.cs.contract_state_root() == root_at_fork
    assert chain.cs.get_receipt(tx.txid) == []
    assert chain.view(tsl, "balanceOf", account_of(carol)) == 0
    # Extending A past B switches back: A's state exactly.
    block = chain.branch.make_block(())
    chain.submit(block)
    chain.branch.add(block)
    block = chain.branch.make_block(())
    chain.submit(block)
    chain.branch.add(block)
    assert chain.cs.tip.hash == chain.branch.tip.hash
    assert chain.cs.get_header(tip_a) is not None
    assert chain.cs.contract_state_root() == replay_state_root(chain.params, chain.branch.blocks)
    assert chain.view(tsl, "balanceOf", account_of(bob)) == 300
    assert root_a == chain.cs.get_header(tip_a).state_root


def test_restart_keeps_state_and_receipts(chain) -> None:
    alice, bob = chain.keys[0], chain.keys[1]
    tsl = _tsl(chain)
    receipt = chain.call(alice, tsl, "transfer", account_of(bob), 42)
    root = chain.cs.contract_state_root()
    assert chain.cs.contracts.memory_usage() > 0  # still only in the write-back cache
    chain.reopen()
    assert chain.cs.contract_state_root() == root
    assert chain.view(tsl, "balanceOf", account_of(bob)) == 42
    assert chain.cs.get_receipt(receipt.txid) == [receipt]
    # and it keeps working after the restart
    chain.call(alice, tsl, "transfer", account_of(bob), 8)
    assert chain.view(tsl, "balanceOf", account_of(bob)) == 50


def test_reindex_rebuilds_the_contract_state(chain) -> None:
    alice, bob = chain.keys[0], chain.keys[1]
    tsl = _tsl(chain)
    chain.call(alice, tsl, "transfer", account_of(bob), 7)
    root = chain.cs.contract_state_root()
    chain.cs.reindex()
    assert chain.cs.contract_state_root() == root
    assert chain.view(tsl, "balanceOf", account_of(bob)) == 7


def test_contract_output_value_stays_out_of_the_utxo_set_across_reorg(chain) -> None:
    from wattchain.core.tx import OutPoint
    alice = chain.keys[0]
    before = chain.cs.utxo_stats()
    tx = chain.contract_tx(alice, create_out("TslToken", {}, value=1000))
    chain.mine(tx)
    assert chain.cs.get_coin(OutPoint(tx.txid, 0)) is None
    assert chain.cs.get_coin(OutPoint(tx.txid, 1)) is not None
    chain.cs.disconnect_tip()
    chain.branch = chain.branch.fork(chain.branch.height - 1)
    assert chain.cs.utxo_stats().hash_serialized == before.hash_serialized
    assert chain.cs.contract_state_root() == EMPTY_ROOT
