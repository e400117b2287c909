"""Chainstate: intake reasons, queries, reopen, reindex, write-back cache, and the
connect-then-disconnect-everything property over hypothesis-generated chains."""

from __future__ import annotations

import random
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattchain.consensus.assemble import build_block
from wattchain.core.tx import OutPoint
from wattchain.node.chaingen import (Branch, chain_to, far_future_now, generated_params, make_keys,
                                     replay_stats)
from wattchain.node.chainstate import Chainstate
from wattchain.node.errors import ChainstateError
from wattchain.node.schema import BlockStatus


def _feed(cs: Chainstate, blocks, now: int) -> None:
    for block in blocks:
        result = cs.process_block(block, now)
        assert result.accepted, result


def test_first_open_connects_genesis_with_premine(tmp_path, params, keys) -> None:
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        assert cs.tip.height == 0 and cs.tip.hash == params.genesis_hash
        coinbase = params.genesis_block.transactions[0]
        coin = cs.get_coin(OutPoint(coinbase.txid, 0))
        assert coin is not None and coin.is_coinbase and coin.height == 0
        assert coin.output.script_pubkey == keys[0].script_pubkey
        assert cs.block_locator() == [params.genesis_hash]
        assert cs.utxo_stats().count == len(params.premine)
    with pytest.raises(ChainstateError):
        cs.get_coin(OutPoint(coinbase.txid, 0))


def test_intake_reasons(tmp_path, params, branch, rng) -> None:
    now = far_future_now(params)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        b1 = branch.random_block(rng)
        b2 = branch.random_block(rng)
        assert cs.process_block(b2, now).reason == "prev-blk-not-found"
        first = cs.process_block(b1, now)
        assert first.accepted and first.became_tip and first.reorged == 0
        assert cs.process_block(b1, now).reason == "duplicate"
        assert cs.process_block(b2, now).became_tip
        # contextual failures are refused before anything is stored
        tip = branch.tip
        not_pos = build_block(tip.hash, 3, tip.header.time + 2, None, (), params)
        assert cs.process_block(not_pos, now).reason == "bad-blk-not-pos"
        wrong = branch.make_block(coinbase_height=7)
        result = cs.process_block(wrong, now)
        assert not result.accepted and result.reason == "bad-cb-height"
        assert cs.get_block(wrong.hash) is None and cs.get_block(not_pos.hash) is None
        late = branch.make_block(time_step=10_000)
        assert cs.process_block(late, late.header.time - 10_000).reason == "time-too-new"
        assert cs.get_block(late.hash) is None
        assert cs.get_block(b2.hash) == b2 and cs.get_header(b1.hash) == b1.header
        assert cs.tip.height == 2


def test_reopen_and_reindex_reproduce_state(tmp_path, params, branch, rng) -> None:
    now = far_future_now(params)
    blocks = [branch.random_block(rng, max_txs=5) for _ in range(25)]
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        _feed(cs, blocks, now)
        before = cs.utxo_stats()
        tip = cs.tip
        locator = cs.block_locator()
    assert before == replay_stats(params, branch.blocks)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        assert cs.tip == tip and cs.block_locator() == locator
        assert cs.utxo_stats() == before
        assert cs.reindex() == before
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        assert cs.utxo_stats() == before


def test_write_back_cache_flushes_within_bound(tmp_path, params, branch, rng) -> None:
    now = far_future_now(params)
    blocks = [branch.random_block(rng, max_txs=6) for _ in range(30)]
    cs = Chainstate.open(tmp_path, params, sync=False, cache_bytes=6_000)
    _feed(cs, blocks, now)
    assert 0 < cs.cache.flushes < 30  # flushed because of the bound, not after every block
    # unflushed state is still the right state
    assert cs.coins_db.best_block() != cs.tip.hash or cs.cache.memory_usage() == 0
    stats = cs.utxo_stats()
    cs.close()
    assert stats == replay_stats(params, branch.blocks)


def test_interrupted_reindex_restarts_on_open(tmp_path, params, branch, rng) -> None:
    now = far_future_now(params)
    blocks = [branch.random_block(rng) for _ in range(8)]
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        _feed(cs, blocks, now)
        expected = cs.utxo_stats()
        from wattchain.node import schema
        from wattchain.node.kvstore import Batch
        batch = Batch()
        batch.put(schema.KEY_REINDEXING, b"\x01")
        batch.delete(schema.coin_key(next(iter(cs.coins_db.iterate_coins()))[0]))
        cs.store.commit(batch)  # as if a reindex died half-way through wiping coins
        cs.store.close()
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        assert cs.utxo_stats() == expected and cs.tip.height == 8


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_blocks=st.integers(1, 12),
       max_txs=st.integers(0, 6), max_inputs=st.integers(1, 4), max_outputs=st.integers(1, 4),
       write_back=st.booleans(), start=st.integers(0, 4))
def test_connect_then_disconnect_all_restores_utxo_hash(seed, n_blocks, max_txs, max_inputs,
                                                         max_outputs, write_back, start) -> None:
    """Property (a): from any starting point, connecting N random blocks and disconnecting
    them all leaves the UTXO-set hash where it started."""
    keys = make_keys(3, seed=seed % 7)
    params = generated_params(keys, outputs_per_key=3)
    rng = random.Random(seed)
    branch = Branch(params, keys)
    prefix = [branch.random_block(rng) for _ in range(start)]
    blocks = [branch.random_block(rng, max_txs, max_inputs, max_outputs)
              for _ in range(n_blocks)]
    now = far_future_now(params)
    with tempfile.TemporaryDirectory() as datadir:
        with Chainstate.open(datadir, params, sync=False,
                             cache_bytes=20_000 if write_back else 0) as cs:
            _feed(cs, prefix, now)
            start_stats = cs.utxo_stats()
            _feed(cs, blocks, now)
            assert cs.utxo_stats() == replay_stats(params, branch.blocks)
            for block in reversed(blocks):
                assert cs.disconnect_tip() == block.hash
            assert cs.tip.height == start
            assert cs.utxo_stats() == start_stats
            # the undo records are kept: the blocks reconnect on the next activation
            assert cs.get_entry(blocks[0].hash).status & BlockStatus.HAVE_UNDO


def test_chain_helpers(params, branch, rng) -> None:
    blocks = [branch.random_block(rng) for _ in range(3)]
    by_hash = {b.hash: b for b in branch.blocks}
    assert chain_to(by_hash, blocks[-1].hash) == branch.blocks
