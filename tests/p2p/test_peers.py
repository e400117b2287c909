"""Peer management: address book persistence, discovery via addr, reconnect, limits, and the
pure bookkeeping (token bucket, backoff, bans)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattchain.p2p.addrbook import AddressBook
from wattchain.p2p.node import P2PError
from wattchain.p2p.peers import BAN_THRESHOLD, Backoff, BanList, Misbehaviour, TokenBucket

from .helpers import link, run, start_node, start_nodes, stop_nodes, test_chain


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert [bucket.take(10.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(10.5)            # 0.5 s x 2/s = one token back
    assert not bucket.take(10.5)
    assert bucket.take(100.0) and bucket.tokens == 2.0   # capped at burst


def test_backoff_doubles_and_resets() -> None:
    backoff = Backoff(base=1.0, cap=5.0)
    for expected in (1.0, 2.0, 4.0, 5.0, 5.0):
        backoff.failed(100.0)
        assert backoff.next_attempt == 100.0 + expected
    assert not backoff.ready(104.0) and backoff.ready(105.0)
    backoff.succeeded()
    assert backoff.ready(0.0) and backoff.failures == 0


def test_misbehaviour_threshold_and_ban_expiry() -> None:
    score = Misbehaviour()
    assert not score.add(BAN_THRESHOLD - 1, "a")
    assert score.add(1, "b")
    assert score.reasons == ["a (+99)", "b (+1)"]
    bans = BanList()
    bans.ban("10.0.0.1", until=50.0)
    assert bans.is_banned("10.0.0.1", 49.9) and not bans.is_banned("10.0.0.2", 0.0)
    assert not bans.is_banned("10.0.0.1", 50.0)
    assert bans.as_dict() == {}


def test_address_book_persists_and_survives_corruption(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    book = AddressBook(path)
    assert book.add("127.0.0.1", 1000, 5.0) and not book.add("127.0.0.1", 1000, 6.0)
    book.bans.ban("127.0.0.9", 1e12)
    book.save()
    again = AddressBook(path)
    assert again.get("127.0.0.1", 1000) is not None
    assert again.get("127.0.0.1", 1000).last_seen == 6.0  # type: ignore[union-attr]
    assert again.bans.is_banned("127.0.0.9", 0.0)
    assert again.candidates(0.0, 0.0, set())[0].port == 1000
    assert again.candidates(0.0, 0.0, {("127.0.0.1", 1000)}) == []

    path.write_text("{not json")
    broken = AddressBook(path)
    assert broken.addresses == {} and path.with_suffix(".bad").exists()
    path.write_text(json.dumps({"addresses": [{"host": "h"}]}))   # missing port
    assert AddressBook(path).addresses == {}


def test_node_discovers_peers_through_addr_and_remembers_them(tmp_path: Path) -> None:
    params, _ = test_chain()

    async def scenario() -> None:
        hub, other = await start_nodes(params, tmp_path, 2)
        seeker = await start_node(params, tmp_path / "seeker", discover=True,
                                  tick_seconds=0.05)
        try:
            await link(other, hub)          # the hub learns other's listen address
            await seeker.p2p.connect(*hub.addr)
            # getaddr -> addr -> the seeker dials the address it learnt, by itself.
            await seeker.p2p.wait_for_peers(2)
            dialled = {p["listen"] for p in seeker.p2p.peer_info()}
            assert dialled == {f"{hub.addr[0]}:{hub.addr[1]}",
                               f"{other.addr[0]}:{other.addr[1]}"}
        finally:
            await stop_nodes([hub, other, seeker])
        book = json.loads((tmp_path / "seeker" / "peers.json").read_text())
        assert {(a["host"], a["port"]) for a in book["addresses"]} >= {hub.addr, other.addr}

    run(scenario())


def test_persistent_peer_is_redialled_after_it_restarts(tmp_path: Path) -> None:
    params, _ = test_chain()

    async def scenario() -> None:
        node = await start_node(params, tmp_path / "node", tick_seconds=0.05)
        peer = await start_node(params, tmp_path / "peer")
        port = peer.p2p.port
        try:
            await link(node, peer)
            await peer.stop()
            await node.p2p.wait_until(lambda: node.p2p.connection_count() == 0)
            peer = await start_node(params, tmp_path / "peer", port=port)
            await node.p2p.wait_for_peers(1)
            await peer.p2p.wait_for_peers(1)
        finally:
            await stop_nodes([node, peer])

    run(scenario())


def test_inbound_limit_refuses_extra_peers(tmp_path: Path) -> None:
    params, _ = test_chain()

    async def scenario() -> None:
        server = await start_node(params, tmp_path / "server", max_inbound=1)
        a, b = await start_nodes(params, tmp_path, 2)
        try:
            await link(a, server)
            with pytest.raises(P2PError, match="cannot connect"):
                await b.p2p.connect(*server.addr, persistent=False)
            assert server.p2p.connection_count() == 1
        finally:
            await stop_nodes([server, a, b])

    run(scenario())
