"""The breach watcher: punish a counterparty that broadcasts a revoked commitment.

A chain listener (``Chainstate.subscribe``). For every transaction in a connected block that
spends a channel's funding output it asks part A's :func:`identify_revoked_commitment` whether
it carries the obscured number of a commitment whose per-commitment secret the counterparty
already revealed; if so it rebuilds that commitment from our HTLC log (``ChannelTxs.spec``),
and broadcasts the penalty transaction that takes every output — to_local and HTLCs through the
revocation key, to_remote with our own key — to our sweep script. Runs synchronously inside the
block notification (no awaits), so the penalty is broadcast before the next block is processed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from wattchain.channels import onchain
from wattchain.channels.errors import ChannelError
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.state import Channel, Phase
from wattchain.core.tx import Transaction

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.node import ChannelNode
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry

log = logging.getLogger(__name__)

#: Penalty fee: generous, so the penalty confirms before the cheater's CSV delay runs out.
PENALTY_FEE_SAT = 5_000


class BreachWatcher:
    """Watches the chain for revoked commitments of ``node``'s channels."""

    def __init__(self, node: "ChannelNode", sweep_script: bytes | None = None) -> None:
        self.node = node
        self.sweep_script = sweep_script or node.default_close_script()
        #: Penalties broadcast, by channel id (for callers and tests).
        self.penalties: dict[bytes, Transaction] = {}

    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        funding = {(c.funding_txid, c.funding_index): c for c in self.node.channels.values()}
        for tx in block.transactions:
            for txin in tx.inputs:
                chan = funding.get((txin.prevout.txid, txin.prevout.index))
                if chan is not None:
                    self._spent(chan, tx)

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        pass

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        pass

    def penalty_for(self, chan: Channel, tx: Transaction) -> Transaction | None:
        """The penalty tx if ``tx`` is a revoked commitment of the counterparty, else None."""
        txs = chan.txs
        opener_bp, accepter_bp = ((txs.local_config, txs.remote_config) if chan.opener == LOCAL
                                  else (txs.remote_config, txs.local_config))
        revoked = onchain.identify_revoked_commitment(
            tx, txs.funding[LOCAL], opener_bp.payment_basepoint, accepter_bp.payment_basepoint,
            chan.remote_secrets)
        if revoked is None:
            return None
        spec = txs.spec(REMOTE, revoked.commitment_number)
        return onchain.penalty_for_revoked(
            tx, revoked, txs.funding[LOCAL], txs.local_config, txs.remote_config, spec,
            chan.secrets.revocation_base, self.sweep_script, PENALTY_FEE_SAT,
            payment_privkey=chan.secrets.payment_base)

    def _spent(self, chan: Channel, tx: Transaction) -> None:
        if tx.txid == chan.closing_txid:
            return
        try:
            penalty = self.penalty_for(chan, tx)
        except ChannelError as exc:
            log.error("revoked commitment on chain but no penalty possible: %s", exc)
            return
        if penalty is None:
            return
        log.warning("revoked commitment %s of channel %s on chain: broadcasting penalty %s",
                    tx.txid_hex, chan.channel_id.hex()[:16], penalty.txid_hex)
        chan.phase = Phase.CLOSED
        self.node.save(chan)
        self.penalties[chan.channel_id] = penalty
        self.node.broadcaster.broadcast(penalty)
