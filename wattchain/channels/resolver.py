"""Resolving a unilateral close on chain (BOLT 5): sweep what is ours when it becomes ours.

A chain listener beside the breach watcher. When a commitment transaction of one of our
channels confirms:

* **ours** (we force-closed): our to_local is CSV-delayed — the sweep is broadcast as soon as
  the next block can include it (``to_self_delay`` confirmations; BIP68 would reject it
  earlier). Offered HTLCs go out through their pre-signed HTLC-timeout tx once their CLTV
  expiry is reached; received HTLCs whose preimage we know through the HTLC-success tx at
  once. Each second-stage output is CSV-delayed like to_local and swept the same way.
* **the counterparty's current one**: our to_remote output pays our payment basepoint key
  directly; it is swept at once. HTLCs on it are claimed straight from the commitment (no
  second stage on this side): one it offered us with the preimage as soon as we know it
  (``store.preimage``: invoices, and preimages a forwarding node learned downstream), one we
  offered it with the timeout path once the next block is past its CLTV expiry (consensus
  refuses the nLockTime earlier). An HTLC output the counterparty spends first is given up.

Whichever commitment it is, when the counterparty takes an HTLC *we offered* with its preimage
(straight from a commitment or through its HTLC-success tx), the preimage is read from the
witness (BOLT 5: "extract the payment preimage") and handed to the payment engine, which
settles the payer's future or, for a forwarded HTLC, fulfils the incoming one upstream.

(A *revoked* commitment is the breach watcher's job: ``watcher.py``.) Everything broadcast is
recorded in ``broadcasts`` so callers can follow the resolution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wattchain.channels import commitment as bolt3
from wattchain.channels import onchain
from wattchain.channels.errors import ChannelError
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.keys import derive_privkey
from wattchain.channels.state import Channel, Phase
from wattchain.core.hashes import sha256
from wattchain.core.tx import Transaction, TxIn

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.node import ChannelNode
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry

log = logging.getLogger(__name__)

SWEEP_FEE_SAT = 1_000


@dataclass
class _Pending:
    """A CSV-delayed output to sweep once ``ready_height`` can include the sweep."""

    ready_height: int
    build: object  # () -> Transaction
    label: str
    #: The confirmed second-stage tx whose output this sweeps, and the commitment it spends
    #: (a reorg that takes either off the chain cancels the sweep).
    parent: bytes = b""
    commitment: bytes = b""


@dataclass
class _TheirClose:
    chan: Channel
    commitment: bolt3.CommitmentTx
    #: HTLC output indexes claimed by us or spent by the counterparty.
    done: set[int] = field(default_factory=set)


@dataclass
class _OurClose:
    chan: Channel
    commitment: bolt3.CommitmentTx
    height: int
    htlc_txs: list[tuple[bolt3.HtlcTx, bytes]] = field(default_factory=list)
    done: set[str] = field(default_factory=set)


class UnilateralResolver:
    """Chain listener sweeping our outputs of confirmed unilateral closes."""

    def __init__(self, node: "ChannelNode", sweep_script: bytes | None = None) -> None:
        self.node = node
        self.sweep_script = sweep_script or node.default_close_script()
        self.broadcasts: list[tuple[str, Transaction]] = []
        self._ours: dict[bytes, _OurClose] = {}
        #: The counterparty's commitments on chain with HTLC outputs, by commitment txid.
        self._theirs: dict[bytes, _TheirClose] = {}
        self._ours_by_txid: dict[bytes, _OurClose] = {}
        self._delayed: list[_Pending] = []
        #: Second-stage HTLC txs broadcast, by txid: their sweep waits for them to confirm
        #: (``ready_height`` holds the CSV delay until then).
        self._awaiting: dict[bytes, _Pending] = {}

    def _broadcast(self, label: str, tx: Transaction) -> None:
        self.broadcasts.append((label, tx))
        self.node.broadcast(tx)

    # ------------------------------------------------------------------ listener
    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        funding = {(c.funding_txid, c.funding_index): c for c in self.node.channels.values()}
        for tx in block.transactions:
            waiting = self._awaiting.pop(tx.txid, None)
            if waiting is not None:
                self._delayed.append(_Pending(entry.height + waiting.ready_height,
                                              waiting.build, waiting.label, tx.txid,
                                              waiting.commitment))
            for txin in tx.inputs:
                chan = funding.get((txin.prevout.txid, txin.prevout.index))
                if chan is not None:
                    self._funding_spent(chan, tx, entry.height)
                theirs = self._theirs.get(txin.prevout.txid)
                if theirs is not None:  # an HTLC output resolved (by us or by them)
                    theirs.done.add(txin.prevout.index)
                    self._learn_preimage(theirs.chan, theirs.commitment, txin)
                ours = self._ours_by_txid.get(txin.prevout.txid)
                if ours is not None:
                    self._learn_preimage(ours.chan, ours.commitment, txin)
        self._progress(entry.height)

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        """A reorg: a commitment that left the chain is forgotten with everything derived
        from it (it is resolved afresh, at its new height, if it confirms again); a
        second-stage tx that left waits again for its confirmation; an HTLC output the
        counterparty had taken is claimable again. Our own txs are re-sent by the outbox."""
        for tx in block.transactions:
            close = self._ours_by_txid.pop(tx.txid, None)
            if close is not None:
                self._ours.pop(close.chan.channel_id, None)
            if close is not None or self._theirs.pop(tx.txid, None) is not None:
                self._delayed = [p for p in self._delayed if p.commitment != tx.txid]
                self._awaiting = {k: p for k, p in self._awaiting.items()
                                  if p.commitment != tx.txid}
                continue
            for p in [p for p in self._delayed if p.parent == tx.txid]:
                self._delayed.remove(p)
                self._awaiting[tx.txid] = _Pending(
                    p.ready_height - entry.height, p.build, p.label, b"", p.commitment)
            for txin in tx.inputs:
                theirs = self._theirs.get(txin.prevout.txid)
                if theirs is not None and tx.txid not in self.node.outbox.sent:
                    theirs.done.discard(txin.prevout.index)

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        pass

    # ------------------------------------------------------------------ recognising
    def _funding_spent(self, chan: Channel, tx: Transaction, height: int) -> None:
        txs = chan.txs
        try:
            ours = txs.commitment(LOCAL, chan.log.latest[LOCAL])
            if tx.txid == ours.txid:
                chan.phase = Phase.CLOSING
                self.node.save(chan)
                htlc_txs = list(zip(bolt3.build_htlc_txs(ours), chan.local_htlc_sigs))
                close = _OurClose(chan, ours, height, htlc_txs)
                self._ours[chan.channel_id] = close
                self._ours_by_txid[ours.txid] = close
                return
            for ctn in {chan.log.oldest_unrevoked[REMOTE], chan.log.latest[REMOTE]}:
                theirs = txs.commitment(REMOTE, ctn)
                if tx.txid == theirs.txid:
                    chan.phase = Phase.CLOSING
                    self.node.save(chan)
                    if theirs.output_of(bolt3.OutputKind.TO_REMOTE) is not None:
                        self._broadcast("to_remote", onchain.sweep_to_remote(
                            theirs, chan.secrets.payment_base, self.sweep_script,
                            SWEEP_FEE_SAT))
                    if theirs.htlc_outputs():
                        self._theirs[theirs.txid] = _TheirClose(chan, theirs)
                    return
        except ChannelError as exc:
            log.error("cannot resolve close of channel %s: %s", chan.channel_id.hex()[:16], exc)

    # ------------------------------------------------------------------ sweeping
    def _progress(self, height: int) -> None:
        """Broadcast everything the next block (``height + 1``) may include."""
        nxt = height + 1
        for close in self._ours.values():
            self._progress_ours(close, nxt)
        for their_close in self._theirs.values():
            self._progress_theirs(their_close, nxt)
        ready = [p for p in self._delayed if p.ready_height <= nxt]
        self._delayed = [p for p in self._delayed if p.ready_height > nxt]
        for p in ready:
            self._broadcast(p.label, p.build())  # type: ignore[operator]

    def _progress_ours(self, close: _OurClose, nxt: int) -> None:
        chan, c = close.chan, close.commitment
        delay = c.keys.to_self_delay
        delayed_key = derive_privkey(chan.secrets.delayed_base, c.keys.per_commitment_point)
        if "to_local" not in close.done and c.output_of(bolt3.OutputKind.TO_LOCAL) is not None:
            if nxt >= close.height + delay:
                close.done.add("to_local")
                self._broadcast("to_local", onchain.sweep_to_local(
                    c, delayed_key, self.sweep_script, SWEEP_FEE_SAT))
        htlc_key = derive_privkey(chan.secrets.htlc_base, c.keys.per_commitment_point)
        for htlc_tx, remote_sig in close.htlc_txs:
            label = f"htlc-{htlc_tx.htlc.direction.value}-{htlc_tx.htlc.id}"
            if label in close.done:
                continue
            local_sig = bolt3.sign_htlc_tx(htlc_tx, htlc_key, as_counterparty=False)
            if htlc_tx.success:
                preimage = self._preimage(chan, htlc_tx.htlc.payment_hash)
                if preimage is None:
                    continue
                signed = bolt3.signed_htlc_success_tx(htlc_tx, remote_sig, local_sig, preimage)
            else:
                if nxt <= htlc_tx.htlc.cltv_expiry:  # nLockTime must be below the height
                    continue
                signed = bolt3.signed_htlc_timeout_tx(htlc_tx, remote_sig, local_sig)
            close.done.add(label)
            self._broadcast(label, signed)
            self._awaiting[signed.txid] = _Pending(
                delay, lambda h=htlc_tx, s=signed: onchain.sweep_htlc_tx_output(
                    h, s, delayed_key, self.sweep_script, SWEEP_FEE_SAT), label + "-sweep",
                b"", c.txid)

    def _learn_preimage(self, chan: Channel, commitment: bolt3.CommitmentTx,
                        txin: TxIn) -> None:
        """``txin`` spends an output of ``commitment``: if that is an HTLC we offered and the
        witness carries its preimage, we were paid downstream — settle upstream."""
        out = next((o for o in commitment.outputs if o.index == txin.prevout.index), None)
        if out is None or out.htlc is None:
            return
        ours_offered = (bolt3.HtlcDirection.OFFERED if commitment.txid in self._ours_by_txid
                        else bolt3.HtlcDirection.RECEIVED)
        if out.htlc.direction is not ours_offered:
            return
        for item in txin.witness:
            if len(item) == 32 and sha256(item) == out.htlc.payment_hash:
                log.info("preimage of htlc %d learned on chain", out.htlc.id)
                self.node.payments.on_chain_fulfilled(chan, out.htlc.id, item)
                return

    def _progress_theirs(self, close: _TheirClose, nxt: int) -> None:
        """Claim the HTLC outputs of the counterparty's commitment that are ours by now."""
        chan, c = close.chan, close.commitment
        htlc_key = derive_privkey(chan.secrets.htlc_base, c.keys.per_commitment_point)
        for out in c.htlc_outputs():
            htlc = out.htlc
            if htlc is None or out.index in close.done:
                continue
            if htlc.direction is bolt3.HtlcDirection.OFFERED:   # offered to us: preimage
                preimage = self._preimage(chan, htlc.payment_hash)
                if preimage is None:
                    continue
                label = f"claim-received-{htlc.id}"
                tx = onchain.claim_htlc_with_preimage(c, out, htlc_key, preimage,
                                                      self.sweep_script, SWEEP_FEE_SAT)
            else:                                               # we offered it: timeout
                if nxt <= htlc.cltv_expiry:  # nLockTime must be below the including height
                    continue
                label = f"claim-offered-{htlc.id}"
                tx = onchain.claim_htlc_after_timeout(c, out, htlc_key, self.sweep_script,
                                                      SWEEP_FEE_SAT)
            close.done.add(out.index)
            self._broadcast(label, tx)

    def _preimage(self, chan: Channel, payment_hash: bytes) -> bytes | None:
        """A preimage we can claim ``payment_hash`` with: from the store (invoices, preimages
        learned downstream), else from our channel's log (a fulfill we sent)."""
        preimage = self.node.store.preimage(payment_hash)
        if preimage is not None:
            return preimage
        for entry in chan.log.active.values():
            if entry.htlc.payment_hash == payment_hash and entry.preimage is not None:
                return entry.preimage
        return None
