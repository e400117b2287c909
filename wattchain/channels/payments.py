"""Payments over channels: paying a route, receiving, forwarding, settling back.

A payer adds an HTLC on the first channel of a source route (:mod:`.router`); each forwarding
node, once the incoming HTLC is irrevocably committed (BOLT 2: never forward before that),
checks the fee and CLTV delta it is owed and adds the next HTLC with the same payment hash.
The payee fulfills with the preimage; every node that learns a preimage from downstream
fulfills upstream at once (knowing it can only help). Failures travel back unchanged, each
hop failing its incoming HTLC only once the outgoing one is removed from both commitments.

The link from an outgoing HTLC back to the incoming one it forwards lives on the outgoing
HTLC's log entry (``Entry.forward_from``), so it is persisted with that HTLC; after a restart
:meth:`PaymentEngine.resume` rebuilds which incoming HTLCs are already forwarded (never forward
twice) and finishes settling back what was settled downstream before the crash.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from wattchain.channels import router as r
from wattchain.channels.errors import ChannelError
from wattchain.channels.htlclog import LOCAL, REMOTE, Entry
from wattchain.channels.state import Channel, ChannelStateError

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.node import ChannelNode

#: CLTV delta the payee asks for beyond the current height.
FINAL_CLTV_DELTA = 18


class PaymentFailed(ChannelError):
    """A payment's HTLC was failed; ``failure`` says which node and why."""

    def __init__(self, failure: r.Failure) -> None:
        super().__init__(f"payment failed at {failure.node.hex()[:16]}: {failure.code}")
        self.failure = failure


class PaymentEngine:
    """The payment side of one :class:`ChannelNode`."""

    def __init__(self, node: "ChannelNode") -> None:
        self.node = node
        self._outgoing: dict[tuple[bytes, int], asyncio.Future[bytes]] = {}
        #: Incoming HTLCs (channel id, htlc id) already forwarded (rebuilt by resume()).
        self._forwarded_in: set[tuple[bytes, int]] = set()
        self._watch: dict[bytes, set[tuple[str, int]]] = {}
        self._handled: set[tuple[bytes, int]] = set()
        self.invoices: dict[bytes, tuple[bytes, int]] = {}
        #: Called with (payment_hash, amount_msat) when we fulfill an HTLC paid to us.
        self.on_received: list[Callable[[bytes, int], None]] = []

    # ------------------------------------------------------------------ invoices
    def add_invoice(self, preimage: bytes, amount_msat: int) -> bytes:
        payment_hash = hashlib.sha256(preimage).digest()
        self.invoices[payment_hash] = (preimage, amount_msat)
        self.node.store.add_preimage(payment_hash, preimage)
        return payment_hash

    # ------------------------------------------------------------------ paying
    async def pay(self, route: r.Route, payment_hash: bytes) -> bytes:
        """Send along ``route``; returns the preimage, raises :class:`PaymentFailed`."""
        first = route.hops[0]
        chan = self.node.channels.get(first.channel_id)
        if chan is None:
            raise PaymentFailed(r.Failure(r.UNKNOWN_NEXT_PEER, self.node.node_id,
                                          first.channel_id))
        fut = self.send_htlc(chan, first.amount_msat, payment_hash, first.cltv_expiry,
                             route.payload_for(0))
        return await fut

    def send_htlc(self, chan: Channel, amount_msat: int, payment_hash: bytes, cltv: int,
                  payload: bytes) -> "asyncio.Future[bytes]":
        """Add an HTLC now (no await between the add and its scheduling) and return the
        future of its preimage."""
        entry, msg = chan.add_htlc(amount_msat, payment_hash, cltv, payload)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._outgoing[(chan.channel_id, entry.htlc.id)] = fut
        self.node.send(chan, msg)
        self.node.schedule_commit(chan)
        return fut

    async def pay_to(self, target: bytes, amount_msat: int, payment_hash: bytes) -> bytes:
        route = self.node.graph.find_route(self.node.node_id, target, amount_msat,
                                           self.node.height + FINAL_CLTV_DELTA)
        return await self.pay(route, payment_hash)

    # ------------------------------------------------------------------ events
    def watch(self, chan: Channel, proposer: str, htlc_id: int) -> None:
        self._watch.setdefault(chan.channel_id, set()).add((proposer, htlc_id))

    def on_fulfilled(self, chan: Channel, entry: Entry) -> None:
        """Downstream revealed a preimage for an HTLC we offered."""
        key = (chan.channel_id, entry.htlc.id)
        preimage = entry.preimage
        assert preimage is not None
        fut = self._outgoing.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(preimage)
        if entry.forward_from is not None:
            # Claimable on chain from now on, whatever happens to the channels.
            self.node.store.add_preimage(entry.htlc.payment_hash, preimage)
            self._fulfill_upstream(entry.forward_from, preimage)

    def on_chain_fulfilled(self, chan: Channel, htlc_id: int, preimage: bytes) -> None:
        """The counterparty claimed HTLC ``htlc_id`` we offered on ``chan`` on chain with its
        preimage (found by the resolver): the payment succeeded; settle upstream."""
        entry = chan.log.entries.get((LOCAL, htlc_id))
        if entry is None or hashlib.sha256(preimage).digest() != entry.htlc.payment_hash:
            return
        self.node.store.add_preimage(entry.htlc.payment_hash, preimage)
        fut = self._outgoing.pop((chan.channel_id, htlc_id), None)
        if fut is not None and not fut.done():
            fut.set_result(preimage)
        if entry.forward_from is not None:
            self._fulfill_upstream(entry.forward_from, preimage)

    def _fulfill_upstream(self, upstream: tuple[bytes, int], preimage: bytes) -> None:
        up = self.node.channels.get(upstream[0])
        if up is not None:
            try:
                self.node.send(up, up.fulfill_htlc(upstream[1], preimage))
                self.node.schedule_commit(up)
            except ChannelStateError:
                pass  # already settled (e.g. resumed after a restart)

    def _fail_upstream(self, upstream: tuple[bytes, int], reason: bytes) -> None:
        up = self.node.channels.get(upstream[0])
        if up is not None:
            try:
                self.node.send(up, up.fail_htlc(upstream[1], reason))
                self.node.schedule_commit(up)
            except ChannelStateError:
                pass  # already failed (e.g. resumed after a restart)

    def resume(self) -> None:
        """After channels were (re)loaded from disk: rebuild the set of forwarded incoming
        HTLCs from the stored links, and settle back every forward whose outgoing HTLC was
        fulfilled (or failed and removed) downstream while the incoming one is still open —
        the state a crash between the two leaves behind."""
        channels = self.node.channels
        links = [(chan, e) for chan in channels.values() for e in chan.log.entries.values()
                 if e.forward_from is not None and e.htlc.proposer == LOCAL]
        self._forwarded_in = {e.forward_from for _, e in links if e.forward_from is not None}
        for chan, e in links:
            assert e.forward_from is not None
            up = channels.get(e.forward_from[0])
            incoming = up.log.active.get((REMOTE, e.forward_from[1])) if up else None
            if incoming is None or incoming.outcome is not None:
                continue
            if e.outcome == "fulfill" and e.preimage is not None:
                self._fulfill_upstream(e.forward_from, e.preimage)
            elif e.outcome == "fail" and chan.log.is_removed_fully(e):
                self._fail_upstream(e.forward_from, e.fail_reason)
        # Incoming HTLCs whose outgoing add was forgotten (never signed before a disconnect)
        # are handled again: forwarded anew, or failed back.
        for chan in channels.values():
            again = [e for e in chan.log.active.values()
                     if e.htlc.proposer == REMOTE and e.outcome is None
                     and (chan.channel_id, e.htlc.id) not in self._forwarded_in
                     and (REMOTE, e.htlc.id) not in self._watch.get(chan.channel_id, ())]
            for e in again:
                self.watch(chan, REMOTE, e.htlc.id)
            if again:
                try:
                    asyncio.get_running_loop().call_soon(self.after_transition, chan)
                except RuntimeError:
                    pass  # no loop yet: the first reestablish runs after_transition

    def after_transition(self, chan: Channel) -> None:
        """After a commitment exchange step: act on incoming HTLCs that became irrevocably
        committed and on outgoing failures that became final."""
        watch = self._watch.get(chan.channel_id)
        if not watch:
            return
        for proposer, htlc_id in sorted(watch):
            entry = chan.log.entries.get((proposer, htlc_id))
            if entry is None:
                watch.discard((proposer, htlc_id))
                continue
            if proposer == REMOTE and entry.outcome is None and chan.log.is_locked_in(entry):
                watch.discard((proposer, htlc_id))
                self._handle_incoming(chan, entry)
            elif proposer == LOCAL and entry.outcome == "fail" \
                    and chan.log.is_removed_fully(entry):
                watch.discard((proposer, htlc_id))
                self._handle_failed(chan, entry)
            elif entry.outcome is not None and proposer == REMOTE:
                watch.discard((proposer, htlc_id))

    def after_reload(self, chan: Channel) -> None:
        """The channel was reloaded from disk (disconnect): unsigned adds are gone."""
        for (cid, hid), fut in list(self._outgoing.items()):
            if cid == chan.channel_id and (LOCAL, hid) not in chan.log.entries:
                del self._outgoing[(cid, hid)]
                if not fut.done():
                    fut.set_exception(PaymentFailed(r.Failure(
                        r.TEMPORARY_CHANNEL_FAILURE, self.node.node_id, cid)))
        self._watch[chan.channel_id] = {(e.htlc.proposer, e.htlc.id)
                                        for e in chan.log.unresolved()}

    # ------------------------------------------------------------------ handling
    def _fail(self, chan: Channel, entry: Entry, code: str, channel_id: bytes = b"") -> None:
        failure = r.Failure(code, self.node.node_id, channel_id)
        self.node.send(chan, chan.fail_htlc(entry.htlc.id, failure.encode()))
        self.node.schedule_commit(chan)

    def _handle_incoming(self, chan: Channel, entry: Entry) -> None:
        htlc = entry.htlc
        try:
            hops = r.decode_payload(htlc.route)
        except r.RouteError:
            return self._fail(chan, entry, r.INVALID_ONION_PAYLOAD)
        if not hops:
            return self._settle(chan, entry)
        if (chan.channel_id, htlc.id) in self._forwarded_in:
            return None  # forwarded before a restart: the outgoing HTLC is on disk
        next_cid, amount, cltv = hops[0]
        out = self.node.channels.get(next_cid)
        if out is None or not out.usable or self.node.peer_for(out) is None:
            return self._fail(chan, entry, r.UNKNOWN_NEXT_PEER, next_cid)
        cfg = self.node.config
        if htlc.amount_msat - amount < cfg.fee_base_msat + amount * cfg.fee_ppm // 1_000_000:
            return self._fail(chan, entry, r.FEE_INSUFFICIENT, next_cid)
        if htlc.cltv_expiry - cltv < cfg.cltv_delta:
            return self._fail(chan, entry, r.INCORRECT_CLTV_EXPIRY, next_cid)
        try:
            new, msg = out.add_htlc(amount, htlc.payment_hash, cltv, r.encode_payload(hops[1:]))
        except ChannelStateError:
            return self._fail(chan, entry, r.TEMPORARY_CHANNEL_FAILURE, next_cid)
        new.forward_from = (chan.channel_id, htlc.id)  # saved with the new entry
        self._forwarded_in.add(new.forward_from)
        self.watch(out, LOCAL, new.htlc.id)
        self.node.send(out, msg)
        self.node.schedule_commit(out)
        return None

    def _settle(self, chan: Channel, entry: Entry) -> None:
        htlc = entry.htlc
        invoice = self.invoices.get(htlc.payment_hash)
        preimage = invoice[0] if invoice else self.node.store.preimage(htlc.payment_hash)
        if preimage is None or (invoice is not None and htlc.amount_msat < invoice[1]):
            return self._fail(chan, entry, r.UNKNOWN_PAYMENT_HASH)
        if htlc.cltv_expiry < self.node.height + 1:
            return self._fail(chan, entry, r.EXPIRY_TOO_SOON)
        self.node.send(chan, chan.fulfill_htlc(htlc.id, preimage))
        self.node.schedule_commit(chan)
        for callback in list(self.on_received):
            callback(htlc.payment_hash, htlc.amount_msat)
        return None

    def _handle_failed(self, chan: Channel, entry: Entry) -> None:
        key = (chan.channel_id, entry.htlc.id)
        fut = self._outgoing.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_exception(PaymentFailed(r.Failure.decode(entry.fail_reason)))
        if entry.forward_from is not None:
            self._fail_upstream(entry.forward_from, entry.fail_reason)
