"""HTLC deadlines (BOLT 2): fail the channel on chain before an HTLC can be lost.

An HTLC is only safe off chain while both peers keep cooperating. BOLT 2 gives each side a
deadline per HTLC after which it must stop waiting and fail the channel (broadcast its
commitment), leaving the HTLC to the on-chain resolution of ``resolver.py``:

* **offered** HTLCs (we pay, downstream): ``cltv_expiry + offered_grace``. Past it the
  counterparty could still claim with a preimage while our upstream already timed us out, so
  we go on chain and take the HTLC back through the HTLC-timeout tx.
* **received** HTLCs whose preimage we know (we fulfilled, or learned it downstream while
  forwarding), still on a commitment: ``cltv_expiry - fulfill_margin``. Past it the
  counterparty's timeout path would open before our fulfilment is irrevocable, so we go on
  chain and claim with the HTLC-success tx while there is time.

A chain listener like the watcher and the resolver; it acts synchronously inside the block
notification. Every channel is failed at most once (``force_close`` moves it to CLOSING).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from wattchain.channels import messages as m
from wattchain.channels.htlclog import LOCAL, REMOTE, Entry
from wattchain.channels.state import Channel, Phase

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.node import ChannelNode
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry

log = logging.getLogger(__name__)

#: Blocks after an offered HTLC's expiry before we fail the channel (BOLT 2: "1 or 2").
OFFERED_GRACE = 1
#: Blocks before a received HTLC's expiry by which its fulfilment must be irrevocable.
FULFILL_MARGIN = 6


class DeadlineEnforcer:
    """Force-closes a channel of ``node`` when one of its HTLCs reaches its deadline."""

    def __init__(self, node: "ChannelNode", *, offered_grace: int = OFFERED_GRACE,
                 fulfill_margin: int = FULFILL_MARGIN) -> None:
        self.node = node
        self.offered_grace = offered_grace
        self.fulfill_margin = fulfill_margin
        #: (channel id, height, reason) of every channel failed, for callers and tests.
        self.failed: list[tuple[bytes, int, str]] = []

    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        self.check(entry.height)

    def check(self, height: int) -> None:
        """Fail every open channel with an HTLC past its deadline at ``height``."""
        for chan in list(self.node.channels.values()):
            if chan.phase not in (Phase.OPEN, Phase.SHUTDOWN) or not chan.local_sig:
                continue
            reason = self.expired(chan, height)
            if reason is not None:
                self._fail(chan, height, reason)

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        pass

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        pass

    def expired(self, chan: Channel, height: int) -> str | None:
        """Why ``chan`` must be failed at ``height`` (the first HTLC past its deadline), or
        None."""
        for e in chan.log.unresolved():
            htlc = e.htlc
            if htlc.proposer == LOCAL and e.outcome != "fulfill":
                if height >= htlc.cltv_expiry + self.offered_grace:
                    return f"offered htlc {htlc.id} expired at {htlc.cltv_expiry}"
            elif htlc.proposer == REMOTE and e.outcome != "fail" and self._knows_preimage(e):
                if height >= htlc.cltv_expiry - self.fulfill_margin:
                    return (f"received htlc {htlc.id} (preimage known) expires at "
                            f"{htlc.cltv_expiry}")
        return None

    def _knows_preimage(self, e: Entry) -> bool:
        return e.preimage is not None or self.node.store.preimage(e.htlc.payment_hash) is not None

    def _fail(self, chan: Channel, height: int, reason: str) -> None:
        log.warning("failing channel %s at height %d: %s", chan.channel_id.hex()[:16], height,
                    reason)
        self.failed.append((chan.channel_id, height, reason))
        self.node.send(chan, m.Error(chan.channel_id, reason.encode()[:m.MAX_TEXT]))
        self.node.force_close(chan.channel_id)
