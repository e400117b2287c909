"""What each post-handshake message does: relay (inv/getdata/notfound/tx), headers-first sync
(getheaders/headers/block) and address gossip (getaddr/addr).

Every chainstate/mempool access goes through ``node.run`` (the single chainstate thread).
Scores follow Core's spirit: provably invalid consensus data (a bad header or block, a tx that
fails a consensus script rule, undecodable bytes) is an instant ban; unrequested data costs a
little each time, so a flood crosses the threshold quickly while a stray message does not.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from wattchain.core.tx import Transaction
from wattchain.node.activation import ProcessResult
from wattchain.node.policy import MempoolRejectError
from wattchain.p2p.messages import (INV_BLOCK, INV_TX, MAX_ADDR, MAX_HEADERS, Addr, BlockMsg,
                                    GetAddr, GetData, GetHeaders, Headers, Inv, Message,
                                    NotFound, SendHeaders, TxMsg)
from wattchain.p2p.peer import Peer
from wattchain.p2p.peers import BoundedSet
from wattchain.p2p.relay import BlockRelay, header_of
from wattchain.p2p.sync import BENIGN_REJECTS, MAX_TREE_HEADERS, ZERO_HASH, ReceivedBlock

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.p2p.node import P2PNode

log = logging.getLogger(__name__)

SCORE_INVALID = 100
SCORE_UNREQUESTED_TX = 5
SCORE_UNREQUESTED_BLOCK = 10
SCORE_DUPLICATE_INVALID = 20
#: Headers of the active chain we keep serving to a peer per getdata of blocks.
MAX_BLOCKS_PER_GETDATA = 128
#: Addr messages up to this size are gossip (relayed on); larger ones are getaddr replies.
ADDR_RELAY_BATCH = 10
#: Largest window of missing blocks considered for download at once.
DOWNLOAD_WINDOW = 1024


class MessageHandler:
    """Dispatch for delivered messages of one node."""

    def __init__(self, node: "P2PNode") -> None:
        self.node = node
        self.recent_rejects = BoundedSet(50_000)
        #: txid -> peer id it is requested from (one request per tx at a time).
        self.tx_in_flight: dict[bytes, int] = {}
        self._scheduling = False
        self._reschedule = False
        self.relay = BlockRelay(node)

    async def handle(self, peer: Peer, msg: Message) -> None:
        if isinstance(msg, GetData):
            await self._on_getdata(peer, msg)
        elif isinstance(msg, NotFound):
            await self._on_notfound(peer, msg)
        elif isinstance(msg, Inv):
            await self._on_inv(peer, msg)
        elif isinstance(msg, GetHeaders):
            headers = await self.node.run(self.node.sync.headers_for, msg.locator, msg.stop)
            for header in headers:
                peer.known_blocks.add(header.hash)
            peer.send(Headers(tuple(headers)))
        elif isinstance(msg, Headers):
            await self._on_headers(peer, msg)
        elif isinstance(msg, BlockMsg):
            await self._on_block(peer, msg)
        elif isinstance(msg, TxMsg):
            await self._on_tx(peer, msg.tx)
        elif isinstance(msg, GetAddr):
            if not peer.answered_getaddr:
                peer.answered_getaddr = True
                peer.send(Addr(tuple(self.node.addrbook.sample(MAX_ADDR))))
        elif isinstance(msg, Addr):
            self._on_addr(peer, msg)

    # ------------------------------------------------------------------ handshake done
    async def on_ready(self, peer: Peer) -> None:
        peer.send(SendHeaders())
        if peer.outbound:
            peer.sent_getaddr = True
            peer.send(GetAddr())
        await self.send_getheaders(peer)
        txids = await self.node.run(self.node.mempool.txids)
        self.node.announce_txs_to(peer, txids)

    async def send_getheaders(self, peer: Peer) -> None:
        locator = await self.node.run(self.node.sync.locator)
        peer.send(GetHeaders(tuple(locator[:101]), ZERO_HASH))

    async def announce_mempool(self) -> None:
        """After a reorg, txs of disconnected blocks are back in the pool: tell everyone."""
        txids = await self.node.run(self.node.mempool.txids)
        self.node.announce_txs(txids)

    def _on_addr(self, peer: Peer, msg: Addr) -> None:
        """Remember the addresses; gossip small unsolicited batches of new ones on to two
        random other peers (Core's RelayAddress), so addresses spread without a getaddr."""
        node = self.node
        now = node.clock()
        fresh = [a for a in msg.addrs if node.addrbook.add(a[0], a[1], now)]
        if fresh and len(msg.addrs) <= ADDR_RELAY_BATCH:
            others = [p for p in node.peers.values() if p is not peer and p.is_ready]
            for other in node.rng.sample(others, min(2, len(others))):
                other.send(Addr(tuple(fresh)))

    # ------------------------------------------------------------------ inventory
    async def _on_inv(self, peer: Peer, msg: Inv) -> None:
        tx_ids = []
        unknown_block = False
        for kind, h in msg.items:
            if kind == INV_TX:
                peer.known_txs.add(h)
                if h not in self.recent_rejects and h not in self.tx_in_flight:
                    tx_ids.append(h)
            else:
                peer.known_blocks.add(h)
                unknown_block = True
        if tx_ids:
            mempool = self.node.mempool
            wanted = await self.node.run(lambda: [t for t in tx_ids if not mempool.contains(t)])
            wanted = [t for t in wanted if t not in self.tx_in_flight]
            for t in wanted:
                self.tx_in_flight[t] = peer.id
                peer.tx_requested.add(t)
            if wanted:
                peer.send(GetData(tuple((INV_TX, t) for t in wanted)))
        if unknown_block:
            await self.send_getheaders(peer)

    async def _on_getdata(self, peer: Peer, msg: GetData) -> None:
        node = self.node
        items = msg.items

        def lookup() -> list[tuple[int, bytes, bytes | Transaction | None]]:
            found: list[tuple[int, bytes, bytes | Transaction | None]] = []
            blocks = 0
            for kind, h in items:
                if kind == INV_TX:
                    found.append((kind, h, node.mempool.get(h)))
                else:
                    blocks += 1
                    raw = node.sync.get_raw_block(h) if blocks <= MAX_BLOCKS_PER_GETDATA else None
                    found.append((kind, h, raw))
            return found

        missing = []
        for kind, h, obj in await node.run(lookup):
            if obj is None:
                missing.append((kind, h))
            elif isinstance(obj, Transaction):
                peer.send(TxMsg(obj))
            else:
                peer.known_blocks.add(h)
                peer.send(BlockMsg(obj))
        if missing:
            peer.send(NotFound(tuple(missing)))

    async def _on_notfound(self, peer: Peer, msg: NotFound) -> None:
        retry = False
        for kind, h in msg.items:
            if kind == INV_TX:
                if self.tx_in_flight.get(h) == peer.id:
                    del self.tx_in_flight[h]
                peer.tx_requested.discard(h)
            elif self.node.downloads.is_requested_from(h, peer.id):
                self.node.downloads.failed(h, peer.id)
                retry = True
        if retry:
            await self.schedule_downloads()

    # ------------------------------------------------------------------ transactions
    async def _on_tx(self, peer: Peer, tx: Transaction) -> None:
        node = self.node
        txid = tx.txid
        if txid not in peer.tx_requested:
            node.misbehave(peer, SCORE_UNREQUESTED_TX, "unrequested transaction")
            return
        peer.tx_requested.discard(txid)
        if self.tx_in_flight.get(txid) == peer.id:
            del self.tx_in_flight[txid]
        peer.known_txs.add(txid)
        if not peer.txs.take(node.loop.time() if node.loop else 0.0):
            node.misbehave(peer, SCORE_UNREQUESTED_TX, "transaction rate limit exceeded")
            return
        try:
            result = await node.run(node.mempool.accept, tx)
        except MempoolRejectError as exc:
            self.recent_rejects.add(txid)
            if exc.reason.startswith("mandatory-script-verify-flag-failed"):
                node.misbehave(peer, SCORE_INVALID, f"invalid transaction: {exc.reason}")
            return
        if result.accepted:
            node.announce_txs([txid] + [t.txid for t in result.resolved], source=peer)
            node.mark_mempool_changed()
        elif result.orphan:
            mempool = node.mempool
            parents = sorted({i.prevout.txid for i in tx.inputs})
            wanted = await node.run(lambda: [p for p in parents if not mempool.contains(p)])
            wanted = [p for p in wanted if p not in self.tx_in_flight
                      and p not in self.recent_rejects]
            for p in wanted:
                self.tx_in_flight[p] = peer.id
                peer.tx_requested.add(p)
            if wanted:
                peer.send(GetData(tuple((INV_TX, p) for p in wanted)))

    # ------------------------------------------------------------------ headers and blocks
    async def _on_headers(self, peer: Peer, msg: Headers) -> None:
        if not msg.headers:
            return
        for header in msg.headers:
            peer.known_blocks.add(header.hash)
        outcome = await self.node.run(self.node.sync.add_headers, msg.headers, peer.id)
        if outcome.invalid is not None:
            reason, detail = outcome.invalid
            self.node.misbehave(peer, SCORE_INVALID, f"invalid header: {reason} {detail}")
            return
        peer.best_height = max(peer.best_height, outcome.last_height)
        if outcome.unconnected:
            await self.send_getheaders(peer)
            return
        if outcome.full:
            # This peer's share of the header tree (or the tree) is full: ask it for more
            # only once blocks have drained its headers (see _resume_headers).
            peer.headers_paused = True
        elif len(msg.headers) == MAX_HEADERS:
            peer.send(GetHeaders((msg.headers[-1].hash,), ZERO_HASH))
        await self.schedule_downloads()

    async def _on_block(self, peer: Peer, msg: BlockMsg) -> None:
        node = self.node
        header = header_of(msg.raw)
        if header is None:
            node.misbehave(peer, SCORE_INVALID, "truncated block")
            return
        block_hash = header.hash
        peer.known_blocks.add(block_hash)
        requested = node.downloads.is_requested_from(block_hash, peer.id)
        if node.downloads.done(block_hash) == peer.id:
            peer.blocks_received += 1
        relay = self.relay
        early = False
        if not requested:
            if relay.is_known(block_hash):
                return   # another copy of a block pushed to us by several peers at once
            if header.prev_hash != node.tip_hash and not relay.is_known(header.prev_hash):
                # Core processes an unsolicited block only if it builds on a block we have
                # just seen (our tip, or a sibling race). A parent whose header we know (we
                # are still connecting it: a busy node's tip lags the blocks its peers sent
                # it) makes this an honest push that came early: take it as a header
                # announcement, fetched by getdata when its turn comes. A parent we never
                # heard of makes it unrequested data.
                if await node.run(node.sync.knows_header, header.prev_hash):
                    await self._on_headers(peer, Headers((header,)))
                    return
                node.misbehave(peer, SCORE_UNREQUESTED_BLOCK, "unrequested block")
                return
            if block_hash in relay.failed:
                # An id whose pushed copy failed: maybe a relayer broke the body of a genuine
                # block. Treat this as a header announcement, so the block is fetched by
                # getdata (a requested block failing again costs its sender the usual score).
                await self._on_headers(peer, Headers((header,)))
                return
            refused = relay.refuse_push(header)
            if refused is not None:
                log.info("dropping block %s from peer %d: %s", header.hash_hex, peer.id, refused)
                return
            rejected = await relay.precheck_and_push(header, peer, raw=msg.raw)
            if rejected is not None:
                # Failing the precheck is the sender's fault: it must precheck before relaying.
                self._score_block(peer, rejected, relayed=True)
                return
            early = True
        received: ReceivedBlock = await node.run(node.sync.receive_block, msg.raw, peer.id)
        if received.undecodable is not None:
            if early:   # only its header was checked before relaying: not the relayer's fault
                relay.body_failed(block_hash)
                log.info("block %s relayed early by peer %d does not decode; the relayer is "
                         "not punished", header.hash_hex, peer.id)
            else:
                node.misbehave(peer, SCORE_INVALID,
                               f"undecodable block: {received.undecodable}")
            return
        await self._resume_headers(received)
        for outcome in received.outcomes:
            source = node.peers.get(outcome.peer)
            result = outcome.result
            if early and outcome.block_hash == block_hash and not result.accepted \
                    and result.reason not in BENIGN_REJECTS:
                # Prechecked, then failed in full: the sender may only have relayed it.
                relay.body_failed(block_hash)
                log.info("block %s relayed early by peer %d failed validation (%s); the "
                         "relayer is not punished", header.hash_hex, peer.id, result.reason)
                continue
            if source is None:
                continue
            if result.accepted:
                if result.became_tip:
                    source.side_blocks = 0
                else:
                    on_chain = await node.run(node.sync.is_on_active_chain, outcome.block_hash)
                    if not on_chain:
                        source.side_blocks += 1
                        if source.side_blocks > node.side_block_budget:
                            node.misbehave(source, SCORE_INVALID,
                                           "too many side-chain blocks")
            else:
                self._score_block(source, result, relayed=False)
        await self.schedule_downloads()

    async def _resume_headers(self, received: ReceivedBlock) -> None:
        """Peers paused at their header share (or a full tree) get a getheaders again once
        stored blocks drained their headers to half the share."""
        sync = self.node.sync
        if received.tree_size >= MAX_TREE_HEADERS // 2:
            return
        for other in list(self.node.peers.values()):
            if other.headers_paused and other.is_ready \
                    and received.owned.get(other.id, 0) < sync.header_share // 2:
                other.headers_paused = False
                await self.send_getheaders(other)

    def _score_block(self, peer: Peer, result: ProcessResult, *, relayed: bool) -> None:
        """Score the sender of a refused block (Core's MaybePunishNodeForBlock)."""
        if result.reason in BENIGN_REJECTS:
            return
        if result.reason == "duplicate-invalid":
            if not relayed:   # a pushed copy may race our own finding that it is invalid
                self.node.misbehave(peer, SCORE_DUPLICATE_INVALID, "known-invalid block")
            return
        self.node.misbehave(peer, SCORE_INVALID,
                            f"invalid block: {result.reason} {result.detail}")

    async def schedule_downloads(self) -> None:
        """Spread missing blocks of the best header chain over peers that have them."""
        if self._scheduling:
            self._reschedule = True
            return
        self._scheduling = True
        try:
            while True:
                self._reschedule = False
                await self._schedule_once()
                if not self._reschedule:
                    break
        finally:
            self._scheduling = False

    async def _schedule_once(self) -> None:
        node = self.node
        downloads = node.downloads
        wanted = await node.run(node.sync.blocks_to_fetch, DOWNLOAD_WINDOW)
        if not wanted:
            return
        now = node.loop.time() if node.loop else 0.0
        batches: dict[int, list[bytes]] = {}
        peers = [p for p in node.peers.values() if p.is_ready]
        for block_hash, height in wanted:
            if block_hash in downloads.in_flight:
                continue
            refused = downloads.refused.get(block_hash, set())
            able = [p for p in peers if p.best_height >= height and p.id not in refused
                    and downloads.free_slots(p.id) > 0]
            if not able:
                if all(downloads.free_slots(p.id) == 0 for p in peers):
                    break
                continue
            chosen = min(able, key=lambda p: (downloads.count(p.id), p.id))
            downloads.request(block_hash, chosen.id, now)
            batches.setdefault(chosen.id, []).append(block_hash)
        for peer_id, hashes in batches.items():
            node.peers[peer_id].send(GetData(tuple((INV_BLOCK, h) for h in hashes)))
