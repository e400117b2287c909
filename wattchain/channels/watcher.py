"""The breach watcher: punish a counterparty that broadcasts a revoked commitment.

A chain listener (``Chainstate.subscribe``). For every transaction in a connected block that
spends a channel's funding output it asks part A's :func:`identify_revoked_commitment` whether
it carries the obscured number of a commitment whose per-commitment secret the counterparty
already revealed; if so it rebuilds that commitment from our HTLC log (``ChannelTxs.spec``),
and broadcasts the penalty transaction that takes every output — to_local and HTLCs through the
revocation key, to_remote with our own key — to our sweep script. Runs synchronously inside the
block notification (no awaits), so the penalty is broadcast before the next block is processed.

Second stage (BOLT 5 "revoked transaction close handling"): the cheater may win the race for
an HTLC output with its pre-signed HTLC-success/timeout tx (in the same block as the revoked
commitment, or before our penalty confirms). That tx's output is to_local-shaped with the same
revocation key, so the watcher takes it at once with :func:`onchain.build_htlc_tx_penalty`,
and re-broadcasts the main penalty without the outputs already spent (the first one is now a
double spend, and a mempool evicts it when the cheater's tx confirms).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wattchain.channels import onchain
from wattchain.channels.commitment import CommitmentTx
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


@dataclass
class Breach:
    """A revoked commitment of the counterparty seen on chain, and what we did about it."""

    chan: Channel
    revoked: CommitmentTx
    revocation_privkey: bytes
    #: Output indexes of the revoked commitment spent by someone else's transaction.
    lost: set[int] = field(default_factory=set)
    #: Every penalty we broadcast for it (main penalties and second-stage ones), by txid.
    ours: set[bytes] = field(default_factory=set)


class BreachWatcher:
    """Watches the chain for revoked commitments of ``node``'s channels."""

    def __init__(self, node: "ChannelNode", sweep_script: bytes | None = None) -> None:
        self.node = node
        self.sweep_script = sweep_script or node.default_close_script()
        #: The latest main penalty broadcast, by channel id (for callers and tests).
        self.penalties: dict[bytes, Transaction] = {}
        #: Penalties of the cheater's second-stage HTLC txs, in broadcast order.
        self.htlc_penalties: list[Transaction] = []
        #: Breaches being punished, by txid of the revoked commitment.
        self.breaches: dict[bytes, Breach] = {}
        #: Breaches (by revoked txid) that got outputs back in a reorg under way.
        self._reorged: set[bytes] = set()

    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        funding = {(c.funding_txid, c.funding_index): c for c in self.node.channels.values()}
        fresh: list[Breach] = []
        for tx in block.transactions:
            for txin in tx.inputs:
                chan = funding.get((txin.prevout.txid, txin.prevout.index))
                if chan is not None:
                    breach = self._spent(chan, tx)
                    if breach is not None:
                        fresh.append(breach)
        # Spends of revoked outputs by the cheater — in this block (racing the commitment
        # itself) or later (racing our penalty).
        changed = {id(b): b for b in fresh}
        for tx in block.transactions:
            for txin in tx.inputs:
                breach = self.breaches.get(txin.prevout.txid)
                if breach is None or tx.txid in breach.ours:
                    continue
                breach.lost.add(txin.prevout.index)
                changed[id(breach)] = breach
                self._punish_second_stage(breach, tx)
        for breach in changed.values():
            self._broadcast_penalty(breach)

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        """A reorg: a revoked commitment that left the chain is forgotten (it is punished
        afresh if it confirms again); an output the cheater took in ``block`` is ours to take
        again, so the main penalty is rebuilt with it. Our own penalties in ``block`` are
        re-sent by the node's outbox."""
        for tx in block.transactions:
            if self.breaches.pop(tx.txid, None) is not None:
                continue
            for txin in tx.inputs:
                breach = self.breaches.get(txin.prevout.txid)
                if breach is not None and tx.txid not in breach.ours:
                    breach.lost.discard(txin.prevout.index)
                    self._reorged.add(breach.revoked.txid)

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        """After a reorg (all disconnects and connects done): rebuild the penalties of
        breaches that got outputs back and are still on chain."""
        reorged, self._reorged = self._reorged, set()
        for txid in reorged:
            breach = self.breaches.get(txid)
            if breach is not None:
                self._broadcast_penalty(breach)

    def _breach_of(self, chan: Channel, tx: Transaction) -> Breach | None:
        txs = chan.txs
        opener_bp, accepter_bp = ((txs.local_config, txs.remote_config) if chan.opener == LOCAL
                                  else (txs.remote_config, txs.local_config))
        revoked = onchain.identify_revoked_commitment(
            tx, txs.funding[LOCAL], opener_bp.payment_basepoint, accepter_bp.payment_basepoint,
            chan.remote_secrets)
        if revoked is None:
            return None
        spec = txs.spec(REMOTE, revoked.commitment_number)
        rebuilt, key = onchain.rebuild_revoked_commitment(
            tx, revoked, txs.funding[LOCAL], txs.local_config, txs.remote_config, spec,
            chan.secrets.revocation_base)
        return Breach(chan, rebuilt, key)

    def _build_penalty(self, breach: Breach) -> Transaction:
        return onchain.build_penalty_tx(
            breach.revoked, breach.revocation_privkey, self.sweep_script, PENALTY_FEE_SAT,
            payment_privkey=breach.chan.secrets.payment_base, exclude=frozenset(breach.lost))

    def penalty_for(self, chan: Channel, tx: Transaction) -> Transaction | None:
        """The penalty tx if ``tx`` is a revoked commitment of the counterparty, else None."""
        breach = self._breach_of(chan, tx)
        return None if breach is None else self._build_penalty(breach)

    def _spent(self, chan: Channel, tx: Transaction) -> Breach | None:
        if tx.txid == chan.closing_txid or tx.txid in self.breaches:
            return None
        try:
            breach = self._breach_of(chan, tx)
        except ChannelError as exc:
            log.error("revoked commitment on chain but no penalty possible: %s", exc)
            return None
        if breach is None:
            return None
        log.warning("revoked commitment %s of channel %s on chain", tx.txid_hex,
                    chan.channel_id.hex()[:16])
        chan.phase = Phase.CLOSED
        self.node.save(chan)
        self.breaches[tx.txid] = breach
        return breach

    def _broadcast_penalty(self, breach: Breach) -> None:
        """(Re-)broadcast the penalty for every output of the revoked commitment not lost."""
        try:
            penalty = self._build_penalty(breach)
        except ChannelError as exc:  # nothing left to take, or not worth the fee
            log.warning("no penalty for the rest of %s: %s", breach.revoked.txid.hex()[:16], exc)
            return
        log.warning("broadcasting penalty %s", penalty.txid_hex)
        breach.ours.add(penalty.txid)
        self.penalties[breach.chan.channel_id] = penalty
        self.node.broadcast(penalty)

    def _punish_second_stage(self, breach: Breach, tx: Transaction) -> None:
        """``tx`` spent an output of the revoked commitment: if it is a second-stage HTLC tx,
        take its output with the revocation key."""
        try:
            penalty = onchain.build_htlc_tx_penalty(tx, breach.revoked,
                                                    breach.revocation_privkey,
                                                    self.sweep_script, PENALTY_FEE_SAT)
        except ChannelError as exc:
            log.error("revoked output spent by %s, which we cannot punish: %s", tx.txid_hex, exc)
            return
        log.warning("second-stage HTLC tx %s of a revoked commitment: broadcasting %s",
                    tx.txid_hex, penalty.txid_hex)
        breach.ours.add(penalty.txid)
        self.htlc_penalties.append(penalty)
        self.node.broadcast(penalty)
