"""Headers-first sync state without sockets: header tree, download plan, parent-first feed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from wattchain.node.chaingen import Branch, far_future_now
from wattchain.node.chainstate import Chainstate
from wattchain.p2p.sync import ChainSync, DownloadTracker

from .helpers import test_chain


def _setup(tmp_path: Path, length: int = 6) -> tuple[ChainSync, Branch, Chainstate]:
    params, keys = test_chain()
    branch = Branch(params, keys)
    for _ in range(length):
        branch.add(branch.make_block())
    cs = Chainstate.open(tmp_path, params, sync=False)
    return ChainSync(cs, lambda: far_future_now(params)), branch, cs


def test_headers_plan_downloads_and_out_of_order_blocks_connect_parent_first(
        tmp_path: Path) -> None:
    sync, branch, cs = _setup(tmp_path)
    headers = [b.header for b in branch.blocks[1:]]
    outcome = sync.add_headers(headers)
    assert outcome.new == 6 and outcome.last_height == 6 and outcome.invalid is None
    assert sync.add_headers(headers).new == 0          # idempotent
    plan = sync.blocks_to_fetch(100)
    assert plan == [(b.hash, h) for h, b in enumerate(branch.blocks[1:], 1)]
    assert sync.blocks_to_fetch(2) == plan[:2]
    assert sync.best_header_height() == 6

    # Children first: they wait (and leave the plan), then connect when the parent lands.
    for block in reversed(branch.blocks[2:]):
        received = sync.receive_block(block.serialize(), peer=7)
        assert received.buffered and not received.outcomes
    assert sync.blocks_to_fetch(100) == plan[:1]
    received = sync.receive(branch.blocks[1], peer=8)
    assert [o.block_hash for o in received.outcomes] == [b.hash for b in branch.blocks[1:]]
    assert [o.peer for o in received.outcomes] == [8, 7, 7, 7, 7, 7]
    assert all(o.result.accepted for o in received.outcomes)
    assert cs.tip.hash == branch.tip.hash
    assert sync.blocks_to_fetch(100) == [] and sync.tree == {}
    # Serving: headers after a locator, from the active chain.
    assert sync.headers_for([branch.blocks[2].hash], bytes(32)) == headers[2:]
    assert sync.headers_for([branch.blocks[2].hash], branch.blocks[4].hash) == headers[2:4]
    cs.close()


def test_bad_headers_are_typed_and_not_stored(tmp_path: Path) -> None:
    sync, branch, cs = _setup(tmp_path, 3)
    headers = [b.header for b in branch.blocks[1:]]
    assert sync.add_headers([headers[1]]).unconnected
    gap = sync.add_headers([headers[0], headers[2]])
    assert gap.invalid is not None and gap.invalid[0] == "bad-headers-noncontinuous"
    bad_bits = replace(headers[0], bits=0x207FFFFF)
    assert sync.add_headers([bad_bits]).invalid[0] == "bad-diffbits"  # type: ignore[index]
    assert bad_bits.hash not in sync.tree
    cs.close()


def test_invalid_block_prunes_its_descendants_from_the_plan(tmp_path: Path) -> None:
    sync, branch, cs = _setup(tmp_path, 4)
    sync.add_headers([b.header for b in branch.blocks[1:]])
    # Block 2 with a corrupted body (its header, and so its id, unchanged).
    good = branch.blocks[2]
    broken = replace(good, transactions=good.transactions[:1] + good.transactions[:1]
                     + good.transactions[2:])
    assert broken.hash == good.hash
    assert sync.receive(branch.blocks[1], peer=1).outcomes[0].result.accepted
    [outcome] = sync.receive(broken, peer=2).outcomes
    assert not outcome.result.accepted and outcome.peer == 2
    assert sync.blocks_to_fetch(100) == []        # nothing built on it is wanted any more
    assert cs.tip.height == 1
    cs.close()


def test_download_tracker_timeouts_and_refusals() -> None:
    tracker = DownloadTracker(per_peer=2, timeout=5.0)
    tracker.request(b"a", 1, now=0.0)
    tracker.request(b"b", 1, now=1.0)
    assert tracker.free_slots(1) == 0 and tracker.is_requested_from(b"a", 1)
    assert tracker.expired(5.5) == [(b"a", 1)]
    assert tracker.refused[b"a"] == {1} and tracker.free_slots(1) == 1
    assert tracker.done(b"b") == 1 and tracker.done(b"b") is None
    tracker.request(b"c", 2, now=0.0)
    assert tracker.drop_peer(2) == [b"c"] and tracker.count(2) == 0


def test_less_work_fork_headers_are_known_but_never_downloaded(tmp_path: Path) -> None:
    # The Fake Stake defence: a peer cannot make us fetch and store a fork that would not
    # become our chain.
    sync, branch, cs = _setup(tmp_path, 4)
    for block in branch.blocks[1:]:
        assert sync.receive(block, peer=1).outcomes[0].result.accepted
    fork = branch.fork(1)
    for _ in range(2):
        fork.add(fork.make_block())
    outcome = sync.add_headers([b.header for b in fork.blocks[2:]])
    assert outcome.new == 2 and outcome.invalid is None
    assert sync.blocks_to_fetch(100) == []
    # One more block than our chain: now the fork is worth fetching, its missing part only.
    for _ in range(2):
        fork.add(fork.make_block())
    sync.add_headers([b.header for b in fork.blocks[4:]])
    assert [h for h, _ in sync.blocks_to_fetch(100)] == [b.hash for b in fork.blocks[2:]]
    cs.close()
