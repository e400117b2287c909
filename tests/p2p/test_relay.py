"""Early block relay (BIP152 high-bandwidth style) and the per-peer side-chain block budget."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from wattchain.core.tx import OutPoint
from wattchain.node.chaingen import Branch, far_future_now
from wattchain.node.chainstate import Chainstate
from wattchain.p2p.messages import BlockMsg

from .helpers import link, payment, run, start_node, stop_nodes, test_chain, unstaked_coins
from .test_hostile import HOSTILE_HOST, RawPeer


def test_block_is_relayed_before_full_validation_and_relayers_are_not_punished(
        tmp_path: Path) -> None:
    """A block whose header, stake and signature are good but whose body is broken travels
    raw peer -> b -> c: b pushed it on before validating it (else c would never have seen
    it). Nobody is banned for relaying it, and the genuine block with the same id still
    reaches every node afterwards (headers + getdata)."""
    params, keys = test_chain()
    branch = Branch(params, keys)
    rng = random.Random(5)
    tx = payment(branch, unstaked_coins(branch)[-1], rng)
    good = branch.make_block([tx])
    broken = replace(good, transactions=good.transactions[:2])   # body lost the payment
    assert broken.hash == good.hash and broken.serialize() != good.serialize()

    async def scenario() -> None:
        a = await start_node(params, tmp_path / "a")
        b = await start_node(params, tmp_path / "b")
        c = await start_node(params, tmp_path / "c")
        raw = RawPeer(params)
        try:
            await link(a, b)
            await link(b, c)
            await raw.open(b.addr)
            await raw.handshake()
            await raw.send(BlockMsg(broken.serialize()))
            relay_c = c.p2p.handler.relay
            await c.p2p.wait_until(lambda: good.hash in relay_c.failed)
            assert good.hash in b.p2p.handler.relay.failed
            # Not stored anywhere, nobody punished for relaying it.
            assert b.cs.get_entry(good.hash) is None and c.cs.get_entry(good.hash) is None
            assert not b.p2p.is_banned(HOSTILE_HOST) and not c.p2p.is_banned("127.0.0.1")
            assert [p["banscore"] for p in c.p2p.peer_info()] == [0]
            assert all(p["banscore"] == 0 for p in b.p2p.peer_info())

            # The genuine block (same id) from a: b drops the push of a failed id but learns
            # it from a's header announcement, and c the same way from b.
            assert (await a.p2p.submit_block(good)).became_tip
            await b.p2p.wait_for_tip(good.hash)
            await c.p2p.wait_for_tip(good.hash)
            # c connected the genuine body: the payment's output is in its UTXO set.
            assert await c.p2p.run(c.cs.get_coin, OutPoint(tx.txid, 0)) is not None
        finally:
            await raw.close()
            await stop_nodes([a, b, c])

    run(scenario())


def test_valid_block_is_pushed_hop_by_hop_and_failing_precheck_is_never_relayed(
        tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    unsigned = branch.fork().make_block(time_step=2 * params.target_spacing, sign=False)
    first = branch.add(branch.make_block())
    assert unsigned.hash != first.hash

    async def scenario() -> None:
        b = await start_node(params, tmp_path / "b")
        c = await start_node(params, tmp_path / "c")
        raw = RawPeer(params)
        try:
            await link(b, c)
            await raw.open(b.addr)
            await raw.handshake()
            await raw.send(BlockMsg(unsigned.serialize()))
            await b.p2p.wait_until(lambda: b.p2p.is_banned(HOSTILE_HOST))
            assert "bad-blk-sig" in b.p2p.ban_reasons[HOSTILE_HOST][-1]
            # A valid block after it over the same ordered b -> c socket: once c has it, c
            # has handled everything b sent before, and the unsigned block was not among it.
            assert (await b.p2p.submit_block(first)).became_tip
            await c.p2p.wait_for_tip(first.hash)
            assert not c.p2p.handler.relay.is_known(unsigned.hash)
            assert unsigned.hash not in c.p2p.handler.relay.failed
            [from_b] = c.p2p.peer_info()
            # Pushed, not fetched: c never asked b for it.
            assert from_b["blocks_received"] == 0 and from_b["banscore"] == 0
        finally:
            await raw.close()
            await stop_nodes([b, c])

    run(scenario())


def test_peer_exceeding_its_side_chain_budget_is_banned_and_honest_peer_still_served(
        tmp_path: Path) -> None:
    """Less-work siblings, each with a valid stake, are stored as side-chain blocks; the
    peer's budget (3 here) stops the fourth."""
    params, keys = test_chain(outputs_per_key=12)
    branch = Branch(params, keys)
    for _ in range(4):
        branch.add(branch.make_block())
    budget = 3
    siblings = []
    for k in range(budget + 1):
        side = branch.fork(2)   # children of height 2: less work than our tip at 4
        siblings.append(side.make_block(time_step=params.target_spacing * (k + 1)))
    assert len({s.hash for s in siblings}) == budget + 1
    rng = random.Random(9)

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "node", side_block_budget=budget)
        honest = await start_node(params, tmp_path / "honest")
        raw = RawPeer(params)
        try:
            for block in branch.blocks[1:]:
                assert (await node.p2p.submit_block(block)).accepted
            await link(honest, node)
            await honest.p2p.wait_for_tip(branch.tip.hash)
            await raw.open(node.addr)
            await raw.handshake()
            for sibling in siblings:
                await raw.send(BlockMsg(sibling.serialize()))
            await node.p2p.wait_until(lambda: node.p2p.is_banned(HOSTILE_HOST))
            assert node.p2p.ban_reasons[HOSTILE_HOST][-1] == "too many side-chain blocks (+100)"
            # Every sibling up to the one over budget was stored, off the active chain.
            stored = [s for s in siblings if node.cs.get_entry(s.hash) is not None]
            assert stored == siblings
            assert node.cs.tip.hash == branch.tip.hash
            await raw.wait_closed()

            # The honest peer still relays both ways.
            tx = payment(branch, unstaked_coins(branch)[-1], rng)
            assert (await honest.p2p.submit_transaction(tx)).accepted
            await node.p2p.wait_for_tx(tx.txid)
            # (A later slot than every sibling: one (stake, time) backs one block.)
            block = branch.add(branch.make_block(
                [tx], time_step=params.target_spacing * (budget + 2)))
            assert (await node.p2p.submit_block(block)).became_tip
            await honest.p2p.wait_for_tip(block.hash)
            assert node.p2p.peer_info()[0]["banscore"] == 0
        finally:
            await raw.close()
            await stop_nodes([node, honest])

    run(scenario())


def test_precheck_is_read_only_and_covers_header_stake_and_signature(tmp_path: Path) -> None:
    params, keys = test_chain()
    branch = Branch(params, keys)
    good = branch.make_block()
    unsigned = branch.fork().make_block(time_step=2 * params.target_spacing, sign=False)
    broken = replace(good, transactions=good.transactions[:1])   # coinstake gone
    now = far_future_now(params)
    with Chainstate.open(tmp_path, params, sync=False) as cs:
        assert cs.precheck_block(good, now) is None
        assert cs.precheck_block(broken, now) is None        # the body is not looked at
        assert cs.get_entry(good.hash) is None and cs.tip.height == 0   # nothing stored
        rejected = cs.precheck_header(unsigned.header, now)
        assert rejected is not None and rejected.reason == "bad-blk-signature"
        assert cs.process_block(broken, now).reason == "bad-txnmrklroot"
        assert cs.process_block(good, now).became_tip
        again = cs.precheck_block(good, now)
        assert again is not None and again.reason == "duplicate"
