"""A crash between receiving commitment_signed and sending revoke_and_ack: the receiver's
process state is dropped at exactly that point (the database is left as the crash leaves
it), a new node reopens the same store, reconnects, and the payment completes without loss."""

from __future__ import annotations

import asyncio

from harness import make_node, open_ready, preimage, run

from wattchain.channels import messages as m
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.node import ChannelNode
from wattchain.channels.router import Hop, Route
from wattchain.channels.testchain import TestChain

FUNDING = 1_000_000
AMOUNT = 20_000_000


class Crash(Exception):
    """Raised where the process would have died."""


class CrashingNode(ChannelNode):
    """Dies (raises, sends nothing more, writes nothing more) instead of sending the first
    revoke_and_ack once armed."""

    armed = False
    dead = False

    def _send(self, peer, msg) -> None:  # type: ignore[no-untyped-def]
        if self.dead:
            raise Crash()
        if self.armed and isinstance(msg, m.RevokeAndAck):
            self.dead = True
            self.store.close()          # nothing after this point reaches the disk
            self.crashed.set()
            raise Crash()
        super()._send(peer, msg)

    def save(self, chan) -> None:  # type: ignore[no-untyped-def]
        if self.dead:
            raise Crash()
        super().save(chan)

    def _commit_now(self, cid: bytes) -> None:
        if not self.dead:
            super()._commit_now(cid)

    async def _on_closed(self, peer) -> None:  # type: ignore[no-untyped-def]
        if not self.dead:
            await super()._on_closed(peer)


def test_crash_between_commitment_signed_and_revoke_and_ack(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice = make_node(chain, tmp_path, "alice")
        bob = make_node(chain, tmp_path, "bob", cls=CrashingNode)
        await alice.start(), await bob.start()
        bob2 = None
        try:
            chan = await open_ready(chain, alice, bob, FUNDING)
            cid = chan.channel_id
            h0 = bob.payments.add_invoice(preimage(0), AMOUNT)
            cltv = chain.height + 100
            route = Route((Hop(cid, alice.node_id, bob.node_id, AMOUNT, cltv),))
            await alice.payments.pay(route, h0)
            await alice.wait_idle(cid)
            await bob.wait_idle(cid)
            assert bob.channels[cid].log.latest[LOCAL] == 2
            h1 = bob.payments.add_invoice(preimage(1), AMOUNT)
            bob.armed = True
            bob.crashed = asyncio.Event()
            paying = alice.payments.send_htlc(alice.channels[cid], AMOUNT, h1, cltv, b"")
            # Bob received commitment_signed, persisted it, and died before revoking.
            await bob.crashed.wait()
            chain.chainstate.events.unsubscribe(bob)
            chain.chainstate.events.unsubscribe(bob.watcher)
            await bob.stop()
            bob2 = make_node(chain, tmp_path, "bob")
            stored = bob2.channels[cid]
            # on disk: Alice's signature on Bob's commitment 3 and its revocation of 2
            assert stored.log.latest[LOCAL] == 3 and stored.log.oldest_unrevoked[LOCAL] == 3
            assert alice.channels[cid].log.oldest_unrevoked[REMOTE] == 2  # never got it
            await bob2.start()
            await alice.connect("127.0.0.1", bob2.port)
            pre = await paying                       # the payment completes after restart
            assert pre == preimage(1)
            await alice.wait_idle(cid)
            await bob2.wait_idle(cid)
            want = {LOCAL: FUNDING * 1000 - 2 * AMOUNT, REMOTE: 2 * AMOUNT}
            assert alice.channels[cid].closing_balances_msat() == want
            assert bob2.channels[cid].closing_balances_msat() == {LOCAL: 2 * AMOUNT,
                                                                  REMOTE: FUNDING * 1000
                                                                  - 2 * AMOUNT}
            # both stored states agree after the resume, too
            again = bob2.store.load(cid)
            assert again.log.latest == bob2.channels[cid].log.latest
            # and the channel still closes cooperatively with those balances
            closing = await alice.close_channel(cid)
            assert sorted(o.value for o in closing.outputs) == sorted(
                [2 * AMOUNT // 1000, FUNDING - 2 * AMOUNT // 1000 - alice.closing_fee_sat()])
        finally:
            await alice.stop()
            if bob2 is not None:
                await bob2.stop()
            chain.close()
    run(scenario())
