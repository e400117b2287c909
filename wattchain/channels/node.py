"""A channel node: peers over WebSockets, channel lifecycle, payments, chain events.

:class:`ChannelNode` owns the channels of one identity. It reaches the rest of a wattchain node
only through small interfaces: a :class:`FundingSource` (the wallet: a signed tx paying the
funding output), a :class:`Broadcaster` (mempool/P2P, or a fake in tests) and chain events
(:meth:`Chainstate.subscribe` delivers ``block_connected`` to :meth:`block_connected`).

Every state transition follows the same pattern — transition, ``store.save``, then send —
so a crash at any point leaves on disk a state from which ``channel_reestablish`` resumes.
Payment logic (forwarding, fulfilling, failing back) is in :mod:`.payments`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from wattchain.channels import messages as m
from wattchain.channels.errors import ChannelError
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.opening import ChannelOpener
from wattchain.channels.outbox import Outbox
from wattchain.channels.payments import PaymentEngine
from wattchain.channels.peer import WS_PATH, ChannelPeer, accept_ws, connect_ws, run_peer
from wattchain.channels.router import ChannelGraph
from wattchain.channels.state import Channel, PartyParams, Phase, ProtocolError
from wattchain.channels.store import ChannelStore
from wattchain.core.hashes import hash160
from wattchain.core.keys import public_key
from wattchain.core.tx import Transaction
from wattchain.script.standard import p2wpkh

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry

log = logging.getLogger(__name__)


class FundingSource(Protocol):
    """Pays channel funding outputs (a wallet; ``WalletFunding`` adapts ``Wallet``)."""

    def fund(self, script_pubkey: bytes, amount_sat: int
             ) -> "Transaction | Awaitable[Transaction]":
        """A signed transaction with an output of exactly ``amount_sat`` to
        ``script_pubkey`` (or an awaitable of it: a daemon funds on its chainstate
        thread)."""


class Broadcaster(Protocol):
    """Hands transactions to the network (mempool + P2P relay in a node)."""

    def broadcast(self, tx: Transaction) -> None: ...


@dataclass(frozen=True)
class NodeConfig:
    """Channel policy of this node (what it demands of peers and charges for forwarding)."""

    dust_limit_sat: int = 546
    to_self_delay: int = 144
    htlc_minimum_msat: int = 1
    max_accepted_htlcs: int = 483
    reserve_sat: int = 0
    feerate_per_kw: int = 253
    minimum_depth: int = 3
    cltv_delta: int = 40
    fee_base_msat: int = 1000
    fee_ppm: int = 1
    #: Closing fee we accept: ours / 2 .. ours * 2 (ours = feerate * closing weight).
    closing_weight: int = 672

    def party_params(self) -> PartyParams:
        return PartyParams(self.dust_limit_sat, self.to_self_delay, self.htlc_minimum_msat,
                           self.max_accepted_htlcs, self.reserve_sat)


class ChannelNode:
    """Channels of one node. Start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, node_secret: bytes, store: ChannelStore, *,
                 funding: FundingSource | None, broadcaster: Broadcaster,
                 config: NodeConfig = NodeConfig(), graph: ChannelGraph | None = None,
                 height: int = 0, close_script: bytes | None = None) -> None:
        self.node_secret = node_secret
        self.node_id = public_key(node_secret)
        self.store = store
        self.funding = funding
        self.broadcaster = broadcaster
        #: Where closes, sweeps and penalties pay (a wallet address in a daemon).
        self.close_script = close_script
        #: Every broadcast goes through it (re-sent after a reorg or a restart).
        self.outbox = Outbox(broadcaster)
        self.config = config
        self.graph = graph if graph is not None else ChannelGraph()
        #: Best chain height seen (for CLTV checks); updated by block_connected.
        self.height = height
        self.channels: dict[bytes, Channel] = {}
        #: Which peer (node id) each channel is with.
        self.channel_peer_id: dict[bytes, bytes] = {}
        self.peers: dict[bytes, ChannelPeer] = {}
        self.payments = PaymentEngine(self)
        self.opening = ChannelOpener(self)
        self._closing: dict[bytes, asyncio.Future[Transaction]] = {}
        self._ready_waiters: dict[bytes, asyncio.Future[None]] = {}
        self._commit_scheduled: set[bytes] = set()
        #: Channels whose peer reconnected and has not sent channel_reestablish yet: we sign
        #: nothing on them until it has (else its reestablish, answered with our unacked
        #: commitment_signed, would make us send a fresh one twice).
        self._awaiting_reestablish: set[bytes] = set()
        #: Set on every saved transition (waiters re-check their condition).
        self._progress = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        for chan in store.load_all():
            self._adopt(chan, store.peer_of(chan.channel_id))
            self.payments.after_reload(chan)  # resume handling of unresolved HTLCs
        self.payments.resume()                # forwarding links, settling back

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        app = web.Application()
        app.router.add_get(WS_PATH, self._on_inbound)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1] if sockets else port
        return self.port

    async def stop(self) -> None:
        for peer in list(self.peers.values()):
            await peer.conn.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _on_inbound(self, request: web.Request) -> web.WebSocketResponse:
        ws, conn = await accept_ws(request)
        peer = ChannelPeer(conn)
        await run_peer(peer, self.node_id, self._on_message, self._on_ready, self._on_closed)
        return ws

    async def connect(self, host: str, port: int) -> ChannelPeer:
        conn = await connect_ws(host, port)
        peer = ChannelPeer(conn)
        task = asyncio.get_running_loop().create_task(
            run_peer(peer, self.node_id, self._on_message, self._on_ready, self._on_closed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await peer.ready
        return peer

    async def _on_ready(self, peer: ChannelPeer) -> None:
        assert peer.node_id is not None
        self.peers[peer.node_id] = peer
        for cid, chan in self.channels.items():
            if self.channel_peer_id.get(cid) == peer.node_id and chan.phase is not Phase.CLOSED:
                self._awaiting_reestablish.add(cid)
                peer.send(m.ChannelReestablish(cid, chan.log.latest[LOCAL] + 1,
                                               chan.log.oldest_unrevoked[REMOTE]))

    async def _on_closed(self, peer: ChannelPeer) -> None:
        if peer.node_id is not None and self.peers.get(peer.node_id) is peer:
            del self.peers[peer.node_id]
            # BOLT 2: updates not covered by a commitment_signed are forgotten on disconnect;
            # the stored state is exactly the committed one.
            for cid, nid in list(self.channel_peer_id.items()):
                if nid == peer.node_id and cid in self.channels:
                    self.channels[cid] = self.store.load(cid)
                    self.payments.after_reload(self.channels[cid])
            self.payments.resume()

    def peer_for(self, chan: Channel) -> ChannelPeer | None:
        nid = self.channel_peer_id.get(chan.channel_id)
        return self.peers.get(nid) if nid is not None else None

    def _adopt(self, chan: Channel, peer_id: bytes | None) -> None:
        self.channels[chan.channel_id] = chan
        if peer_id is not None:
            self.channel_peer_id[chan.channel_id] = peer_id
            self.graph.add_channel(chan.channel_id, self.node_id, peer_id,
                                   chan.funding_sat * 1000, fee_base_msat=self.config.fee_base_msat,
                                   fee_ppm=self.config.fee_ppm,
                                   cltv_delta=self.config.cltv_delta)

    def save(self, chan: Channel) -> None:
        self.store.save(chan, self.channel_peer_id.get(chan.channel_id))
        self._progress.set()

    async def wait_until(self, channel_id: bytes, predicate: Callable[[Channel], bool]
                         ) -> Channel:
        """Until ``predicate(channel)`` holds (re-checked after every saved transition)."""
        while True:
            chan = self.channels[channel_id]
            if predicate(chan):
                return chan
            self._progress.clear()
            await self._progress.wait()

    async def wait_reestablished(self, channel_id: bytes) -> Channel:
        """Until the peer's channel_reestablish for ``channel_id`` arrived on the current
        connection (updates proposed before that are signed only afterwards)."""
        return await self.wait_until(
            channel_id, lambda chan: self.peer_for(chan) is not None
            and channel_id not in self._awaiting_reestablish)

    async def wait_idle(self, channel_id: bytes) -> Channel:
        """Until no HTLC is unresolved and no update awaits a signature or revocation on
        either commitment of the channel."""
        def idle(chan: Channel) -> bool:
            log_ = chan.log
            return (not log_.unresolved() and not log_.pending_for(LOCAL)
                    and not log_.pending_for(REMOTE)
                    and log_.oldest_unrevoked[LOCAL] == log_.latest[LOCAL]
                    and log_.oldest_unrevoked[REMOTE] == log_.latest[REMOTE])
        return await self.wait_until(channel_id, idle)

    def send(self, chan: Channel, msg: m.Message) -> None:
        peer = self.peer_for(chan)
        if peer is not None:
            self._send(peer, msg)

    def _send(self, peer: ChannelPeer, msg: m.Message) -> None:
        """The one place frames leave (tests override it to simulate a crash)."""
        peer.send(msg)

    # ------------------------------------------------------------------ opening
    async def open_channel(self, peer: ChannelPeer, funding_sat: int,
                           push_msat: int = 0) -> Channel:
        """Open and fund a channel with ``peer`` (see :mod:`.opening`); returns once
        funding_signed arrived and the funding tx was broadcast (then :meth:`wait_ready`)."""
        return await self.opening.open_channel(peer, funding_sat, push_msat)

    async def wait_ready(self, channel_id: bytes) -> Channel:
        """Until the channel is usable (both channel_ready exchanged)."""
        while not self.channels[channel_id].usable:
            fut = self._ready_waiters.get(channel_id)
            if fut is None or fut.done():
                fut = asyncio.get_running_loop().create_future()
                self._ready_waiters[channel_id] = fut
            await fut
        return self.channels[channel_id]

    def _notify_ready(self, chan: Channel) -> None:
        fut = self._ready_waiters.get(chan.channel_id)
        if fut is not None and not fut.done() and chan.usable:
            fut.set_result(None)

    def _maybe_send_ready(self, chan: Channel) -> None:
        if chan.sent_ready or chan.funding_depth < chan.minimum_depth:
            return
        msg = chan.channel_ready_message()
        self.save(chan)
        self.send(chan, msg)
        self._notify_ready(chan)

    def broadcast(self, tx: Transaction) -> None:
        """Hand ``tx`` to the network through the outbox (everything we broadcast does)."""
        self.outbox.broadcast(tx)

    # ------------------------------------------------------------------ chain events
    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        """Chainstate listener: funding confirmations and spends of funding outputs (their
        heights are persisted: they tell :mod:`.recovery` what to rescan after a restart)."""
        self.height = entry.height
        funding = {(c.funding_txid, c.funding_index): c for c in self.channels.values()}
        txids = {tx.txid for tx in block.transactions}
        for tx in block.transactions:
            for txin in tx.inputs:
                chan = funding.get((txin.prevout.txid, txin.prevout.index))
                if chan is not None and chan.spent_height is None:
                    chan.spent_height = entry.height
                    self.save(chan)
        for chan in list(self.channels.values()):
            if chan.funding_height is None and chan.funding_txid in txids:
                chan.funding_height = entry.height
                self.save(chan)
            h = chan.funding_height
            if h is not None and chan.funding_depth < chan.minimum_depth:
                chan.funding_depth = entry.height - h + 1
                self._maybe_send_ready(chan)
            if chan.closing_txid in txids and chan.phase is not Phase.CLOSED:
                chan.phase = Phase.CLOSED
                self.save(chan)

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        """A reorg: forget the heights of funding txs and funding spends in ``block`` (they
        are seen again if they confirm on the new chain)."""
        self.height = entry.height - 1
        for chan in list(self.channels.values()):
            changed = False
            if chan.spent_height == entry.height:
                chan.spent_height = None
                changed = True
            if chan.funding_height == entry.height:
                chan.funding_height = None
                changed = True
            if changed:
                self.save(chan)

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        if self.channels:
            self.store.set_scanned(tip.height)

    # ------------------------------------------------------------------ updates
    def schedule_commit(self, chan: Channel) -> None:
        """Sign the peer's next commitment on the next loop turn, so updates made in the
        same turn share one commitment_signed (this batching is what makes throughput)."""
        cid = chan.channel_id
        if cid in self._commit_scheduled:
            return
        self._commit_scheduled.add(cid)
        asyncio.get_running_loop().call_soon(self._commit_now, cid)

    def _commit_now(self, cid: bytes) -> None:
        self._commit_scheduled.discard(cid)
        chan = self.channels.get(cid)
        if chan is None or self.peer_for(chan) is None or not chan.can_sign_remote() \
                or cid in self._awaiting_reestablish:
            return
        msg = chan.sign_next_remote()
        self.save(chan)
        self.send(chan, msg)

    async def _on_message(self, peer: ChannelPeer, msg: m.Message) -> None:
        try:
            await self._dispatch(peer, msg)
        except (ChannelError, ValueError) as exc:
            log.warning("channel protocol error from peer: %s", exc)
            cid = getattr(msg, "channel_id", bytes(32))
            self._send(peer, m.Error(cid, str(exc).encode()[:m.MAX_TEXT]))
            await peer.conn.close()

    async def _dispatch(self, peer: ChannelPeer, msg: m.Message) -> None:
        if isinstance(msg, (m.OpenChannel, m.AcceptChannel, m.FundingCreated,
                            m.FundingSigned)):
            return self.opening.on_message(peer, msg)
        if isinstance(msg, m.Error):
            log.warning("peer error: %s", msg.data[:200])
            return None
        chan = self.channels.get(getattr(msg, "channel_id", b""))
        if chan is None or self.channel_peer_id.get(chan.channel_id) != peer.node_id:
            raise ProtocolError(f"{msg.TYPE} for an unknown channel")
        if isinstance(msg, m.ChannelReady):
            chan.receive_channel_ready(msg)
            self.save(chan)
            self._notify_ready(chan)
        elif isinstance(msg, m.UpdateAddHtlc):
            self.payments.watch(chan, REMOTE, chan.receive_add(msg).htlc.id)
        elif isinstance(msg, m.UpdateFulfillHtlc):
            entry = chan.receive_fulfill(msg)
            self.payments.on_fulfilled(chan, entry)
        elif isinstance(msg, m.UpdateFailHtlc):
            self.payments.watch(chan, LOCAL, chan.receive_fail(msg).htlc.id)
        elif isinstance(msg, m.CommitmentSigned):
            rev = chan.receive_commitment_signed(msg)
            self.save(chan)
            self._send(peer, rev)
            self.schedule_commit(chan)
            self.payments.after_transition(chan)
        elif isinstance(msg, m.RevokeAndAck):
            chan.receive_revoke_and_ack(msg)
            self.save(chan)
            self.schedule_commit(chan)
            self.payments.after_transition(chan)
        elif isinstance(msg, m.ChannelReestablish):
            self._on_reestablish(peer, chan, msg)
        elif isinstance(msg, m.Shutdown):
            self._on_shutdown(chan, msg)
        elif isinstance(msg, m.ClosingSigned):
            self._on_closing_signed(chan, msg)
        return None

    def _on_reestablish(self, peer: ChannelPeer, chan: Channel,
                        msg: m.ChannelReestablish) -> None:
        self._awaiting_reestablish.discard(chan.channel_id)
        self._progress.set()
        if chan.sent_ready and msg.next_commitment_number == 1:
            self._send(peer, m.ChannelReady(chan.channel_id, chan.secrets.point(1)))
        if msg.next_revocation_number == chan.log.oldest_unrevoked[LOCAL] - 1:
            self._send(peer, chan.revocation_message())   # they missed our revoke_and_ack
        if msg.next_commitment_number == chan.log.latest[REMOTE] and chan.unacked:
            for frame in chan.unacked:                     # they missed our commitment_signed
                peer.send_frame(frame)
        self.schedule_commit(chan)
        self.payments.after_transition(chan)

    # ------------------------------------------------------------------ closing
    def closing_fee_sat(self) -> int:
        return self.config.feerate_per_kw * self.config.closing_weight // 1000

    def default_close_script(self) -> bytes:
        if self.close_script is not None:
            return self.close_script
        return p2wpkh(hash160(self.node_id))

    async def close_channel(self, channel_id: bytes, script: bytes | None = None) -> Transaction:
        """Cooperative close: shutdown, then closing_signed negotiation; returns the signed
        closing transaction (already broadcast)."""
        chan = self.channels[channel_id]
        fut = self._closing.get(channel_id)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._closing[channel_id] = fut
        msg = chan.start_shutdown(script or self.default_close_script())
        self.save(chan)
        self.send(chan, msg)
        self.maybe_propose_closing(chan)
        return await fut

    def _on_shutdown(self, chan: Channel, msg: m.Shutdown) -> None:
        chan.receive_shutdown(msg)
        reply = None
        if chan.local_shutdown_script is None:
            reply = chan.start_shutdown(self.default_close_script())
        self.save(chan)
        if reply is not None:
            self.send(chan, reply)
        self.maybe_propose_closing(chan)

    def maybe_propose_closing(self, chan: Channel) -> None:
        if chan.opener == LOCAL and chan.closing_fee_sat is None and chan.ready_to_close():
            msg = chan.propose_closing(self.closing_fee_sat())
            self.save(chan)
            self.send(chan, msg)

    def _on_closing_signed(self, chan: Channel, msg: m.ClosingSigned) -> None:
        ours = self.closing_fee_sat()
        echo, tx = chan.receive_closing_signed(msg, (ours // 2, ours * 2))
        self.save(chan)
        if echo is not None:
            self.send(chan, echo)
        if tx is not None:
            self.broadcast(tx)
            fut = self._closing.get(chan.channel_id)
            if fut is None:
                fut = asyncio.get_running_loop().create_future()
                self._closing[chan.channel_id] = fut
            if not fut.done():
                fut.set_result(tx)

    async def wait_closed(self, channel_id: bytes) -> Transaction:
        fut = self._closing.get(channel_id)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._closing[channel_id] = fut
        return await fut

    def force_close(self, channel_id: bytes) -> Transaction:
        """Unilateral close: broadcast our latest commitment (to_local waits the CSV delay)."""
        chan = self.channels[channel_id]
        tx = chan.txs.signed_local_commitment()
        chan.phase = Phase.CLOSING
        chan.force_closed = True
        self.save(chan)
        self.broadcast(tx)
        return tx

