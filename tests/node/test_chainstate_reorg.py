"""Reorganizations: a longer fork takes over; an invalid fork does not and leaves state alone;
failed blocks and their descendants are marked (persistently); the max reorg depth holds."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from wattchain.core.tx import OutPoint, Transaction, TxOut
from wattchain.node.chaingen import (ANYONE_CAN_SPEND, Branch, Spendable, far_future_now,
                                     replay_stats)
from wattchain.node.chainstate import Chainstate
from wattchain.node.errors import ChainstateError
from wattchain.node.schema import BlockStatus


def _feed(cs, blocks, now):
    return [cs.process_block(block, now) for block in blocks]


def _bogus_spend_tx(branch: Branch, rng: random.Random) -> Transaction:
    """Spends an outpoint that never existed: valid until connect (missing input)."""
    fake = Spendable(OutPoint(rng.randbytes(32), 0), TxOut(10_000, ANYONE_CAN_SPEND), 0, False,
                     None)
    return branch.spend([fake], 1, rng)


def _bad_signature_tx(branch: Branch, rng: random.Random) -> Transaction:
    """A real P2WPKH spend whose signature is corrupted in one byte."""
    coin = next(c for c in branch.mature_coins() if c.key is not None)
    tx = branch.spend([coin], 2, rng)
    sig = bytearray(tx.inputs[0].witness[0])
    sig[10] ^= 0x01
    txin = replace(tx.inputs[0], witness=(bytes(sig), tx.inputs[0].witness[1]))
    return Transaction(tx.version, (txin,), tx.outputs, tx.locktime)


def test_ten_block_fork_overtakes_tip(tmp_path, params, branch, rng) -> None:
    now = far_future_now(params)
    main = [branch.random_block(rng, max_txs=5) for _ in range(15)]
    fork = branch.fork(5)
    side = [fork.random_block(rng, max_txs=5) for _ in range(11)]
    with Chainstate.open(tmp_path, params, sync=False, cache_bytes=8_000) as cs:
        assert all(r.accepted for r in _feed(cs, main, now))
        main_stats = cs.utxo_stats()
        results = _feed(cs, side, now)
        assert all(r.accepted for r in results)
        assert not any(r.became_tip for r in results[:-2])  # 10 blocks: equal work, not ahead
        assert results[-1].became_tip and results[-1].reorged == 10
        assert cs.tip.hash == side[-1].hash and cs.tip.height == 16
        stats = cs.utxo_stats()
        assert stats == replay_stats(params, fork.blocks) and stats != main_stats
        # coins created only on the abandoned chain are gone, the fork's are there
        only_main = {OutPoint(tx.txid, 0) for b in main[5:] for tx in b.transactions[1:]}
        assert all(cs.get_coin(op) is None for op in only_main)
        for block in side:
            for tx in block.transactions[1:]:
                for i, out in enumerate(tx.outputs):
                    if OutPoint(tx.txid, i) in fork.coins:
                        assert cs.get_coin(OutPoint(tx.txid, i)).output == out
    with Chainstate.open(tmp_path, params, sync=False) as cs:  # the reorg persisted
        assert cs.tip.hash == side[-1].hash and cs.utxo_stats() == stats


def test_the_block_just_received_connects_from_memory(tmp_path, params, branch, rng,
                                                      monkeypatch) -> None:
    """As Core's ActivateBestChain(pblock): the new block is not read back from disk; the
    other blocks a reorganization connects or disconnects are."""
    now = far_future_now(params)
    main = [branch.random_block(rng, max_txs=3) for _ in range(4)]
    fork = branch.fork(2)
    side = [fork.random_block(rng, max_txs=3) for _ in range(3)]
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        read: list[bytes] = []
        original = cs.read_block
        monkeypatch.setattr(cs, "read_block", lambda entry: (read.append(entry.hash),
                                                             original(entry))[1])
        assert all(r.became_tip for r in _feed(cs, main, now))
        assert read == []
        assert not any(r.became_tip for r in _feed(cs, side[:-1], now))
        read.clear()
        [result] = _feed(cs, side[-1:], now)
        assert result.became_tip and result.reorged == 2
        # main[3] and main[2] disconnected, side[0] and side[1] connected: from disk (the
        # stake lookup may have read side blocks before); side[2] never.
        assert read[-4:] == [main[3].hash, main[2].hash, side[0].hash, side[1].hash]
        assert side[2].hash not in read
        # A block handed in must be the entry's.
        entry = cs.index.get(side[-1].hash)
        cs._activator.disconnect_tip()
        with pytest.raises(ChainstateError, match="is not"):
            cs._activator.connect_tip(entry, main[0])
        assert cs._activator.connect_tip(entry, side[-1]) is None and cs.tip.hash == entry.hash


def test_equal_work_fork_does_not_replace_first_seen(tmp_path, params, branch, rng) -> None:
    now = far_future_now(params)
    main = [branch.random_block(rng) for _ in range(6)]
    fork = branch.fork(3)
    side = [fork.random_block(rng) for _ in range(3)]
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        _feed(cs, main, now)
        results = _feed(cs, side, now)
        assert all(r.accepted and not r.became_tip for r in results)
        assert cs.tip.hash == main[-1].hash
    with Chainstate.open(tmp_path, params, sync=False) as cs:  # and not after a restart either
        assert cs.tip.hash == main[-1].hash


def _invalid_fork_scenario(tmp_path, params, branch, rng, make_bad_tx, expected_reason):
    now = far_future_now(params)
    main = [branch.random_block(rng, max_txs=4) for _ in range(8)]
    fork = branch.fork(3)
    good = [fork.random_block(rng) for _ in range(2)]
    bad = fork.add(fork.make_block([make_bad_tx(fork, rng)]))
    after = [fork.random_block(rng) for _ in range(6)]
    with Chainstate.open(tmp_path, params, sync=False, cache_bytes=5_000) as cs:
        _feed(cs, main, now)
        before = cs.utxo_stats()
        results = _feed(cs, good + [bad] + after, now)
        assert all(r.accepted for r in results[:3])  # stored; not enough work to try yet
        # the first fork block with more work than the tip triggers the attempt, which fails
        # on ``bad`` and marks it and its stored descendants
        trigger = next(i for i, r in enumerate(results) if not r.accepted)
        assert results[trigger].reason == "bad-prevblk"
        # 5 main blocks out, 2 good fork blocks in, fail; 2 out, the 5 main blocks back in
        assert results[trigger].reorged == 0
        assert results[trigger].disconnected == 7 and results[trigger].connected == 7
        # the next child is refused unstored (its parent failed), so later ones are orphans
        assert [r.reason for r in results[trigger + 1:]] == (
            ["bad-prevblk"] + ["prev-blk-not-found"] * (len(results) - trigger - 2))
        assert cs.tip.hash == main[-1].hash and cs.utxo_stats() == before
        assert cs.get_entry(bad.hash).status & BlockStatus.FAILED
        for block in after[:trigger - 2]:
            assert cs.get_entry(block.hash).status & BlockStatus.FAILED_CHILD
        for block in good:
            assert not cs.get_entry(block.hash).is_failed()
        assert cs.process_block(bad, now).reason == "duplicate-invalid"
    with Chainstate.open(tmp_path, params, sync=False) as cs:  # marks survive a restart
        assert cs.get_entry(bad.hash).status & BlockStatus.FAILED
        assert cs.tip.hash == main[-1].hash and cs.utxo_stats() == before
    return results, bad


def test_fork_with_missing_input_does_not_reorg(tmp_path, params, branch, rng) -> None:
    _invalid_fork_scenario(tmp_path, params, branch, rng, _bogus_spend_tx,
                           "bad-txns-inputs-missingorspent")


def test_fork_with_bad_signature_does_not_reorg(tmp_path, params, branch, rng) -> None:
    _invalid_fork_scenario(tmp_path, params, branch, rng, _bad_signature_tx,
                           "mandatory-script-verify-flag-failed")


def test_invalid_block_reported_with_its_reason(tmp_path, params, branch, rng) -> None:
    now = far_future_now(params)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        _feed(cs, [branch.random_block(rng) for _ in range(2)], now)
        before = cs.utxo_stats()
        bad = branch.make_block([_bogus_spend_tx(branch, rng)])
        result = cs.process_block(bad, now)
        assert not result.accepted and result.reason == "bad-txns-inputs-missingorspent"
        # The same stake in the same slot backs one block only, even an invalid one.
        again = branch.make_block([_bad_signature_tx(branch, rng)])
        assert cs.process_block(again, now).reason == "duplicate-stake"
        sig = branch.make_block([_bad_signature_tx(branch, rng)], time_step=4)
        result = cs.process_block(sig, now)
        assert result.reason.startswith("mandatory-script-verify-flag-failed")
        assert cs.utxo_stats() == before and cs.tip.height == 2


def test_max_reorg_depth(tmp_path, params, keys, rng) -> None:
    params = replace(params, max_reorg_depth=3)
    branch = Branch(params, keys)
    now = far_future_now(params)
    main = [branch.random_block(rng) for _ in range(8)]
    deep = branch.fork(2)
    deep_blocks = [deep.random_block(rng) for _ in range(10)]
    shallow = branch.fork(5)
    shallow_blocks = [shallow.random_block(rng) for _ in range(5)]
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        _feed(cs, main, now)
        result = cs.process_block(deep_blocks[0], now)
        assert result.reason == "bad-fork-prior-to-max-reorg-depth"
        assert cs.get_block(deep_blocks[0].hash) is None
        results = _feed(cs, shallow_blocks, now)
        assert results[3].became_tip and results[3].reorged == 3  # height 9 > 8 takes over
        assert cs.tip.hash == shallow_blocks[-1].hash
        assert cs.utxo_stats() == replay_stats(params, shallow.blocks)
