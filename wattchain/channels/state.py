"""The channel state machine (sans-I/O): one :class:`Channel` per funded channel.

Every public method consumes one event (a received message or a local request), updates the
channel, and returns the messages to send. It never performs I/O: the caller (``peer.py``)
must hand the channel to :meth:`ChannelStore.save` *before* sending what a method returned —
that order is what makes a crash safe:

* before ``commitment_signed`` goes out, the new remote commitment number, the updates it
  covers and the frames to retransmit are on disk (after a restart we resend them if the peer
  says it never got them: ``channel_reestablish``);
* before ``revoke_and_ack`` goes out, the counterparty's signature on our new commitment and
  our revocation are on disk (so we can always close with a commitment we never revoked, and
  the revocation is regenerated from the shachain seed when the peer asks again);
* a received ``revoke_and_ack``'s secret is stored before anything is forwarded on it.

Updates that were never covered by a ``commitment_signed`` are not persisted: BOLT 2 says both
sides forget them on reconnection, and reloading the channel from the store does just that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

from wattchain.channels import messages as m
from wattchain.channels.errors import ChannelError
from wattchain.channels.htlclog import LOCAL, REMOTE, Entry, HtlcLog, HtlcLogError, LoggedHtlc
from wattchain.channels.keys import per_commitment_point
from wattchain.channels.shachain import ShachainStore, commitment_index, commitment_secret
from wattchain.core.keys import public_key


class ProtocolError(ChannelError):
    """The peer broke the protocol; the channel must be failed (``error`` sent)."""


class ChannelStateError(ChannelError):
    """A local request that the channel cannot serve in its current state."""


class Phase(str, Enum):
    AWAITING_FUNDING = "awaiting_funding"   # funding signed, waiting for confirmations
    OPEN = "open"
    SHUTDOWN = "shutdown"                    # no new HTLCs; closing once they resolve
    CLOSING = "closing"                      # closing_signed exchanged / tx broadcast
    CLOSED = "closed"


@dataclass(frozen=True)
class Basepoints:
    """One side's static channel keys as exchanged in open/accept_channel."""

    funding_pubkey: bytes
    revocation_basepoint: bytes
    payment_basepoint: bytes
    delayed_payment_basepoint: bytes
    htlc_basepoint: bytes

    def to_record(self) -> list[bytes]:
        return [self.funding_pubkey, self.revocation_basepoint, self.payment_basepoint,
                self.delayed_payment_basepoint, self.htlc_basepoint]


@dataclass(frozen=True)
class LocalSecrets:
    """Our channel secrets, all derived from one 32-byte channel seed (so only the seed is
    stored)."""

    seed: bytes

    def _derive(self, tag: bytes) -> bytes:
        return hashlib.sha256(b"wattchain-channel/" + tag + self.seed).digest()

    @property
    def funding(self) -> bytes:
        return self._derive(b"funding")

    @property
    def revocation_base(self) -> bytes:
        return self._derive(b"revocation")

    @property
    def payment_base(self) -> bytes:
        return self._derive(b"payment")

    @property
    def delayed_base(self) -> bytes:
        return self._derive(b"delayed")

    @property
    def htlc_base(self) -> bytes:
        return self._derive(b"htlc")

    @property
    def shachain_seed(self) -> bytes:
        return self._derive(b"shachain")

    def basepoints(self) -> Basepoints:
        return Basepoints(public_key(self.funding), public_key(self.revocation_base),
                          public_key(self.payment_base), public_key(self.delayed_base),
                          public_key(self.htlc_base))

    def secret(self, ctn: int) -> bytes:
        return commitment_secret(self.shachain_seed, ctn)

    def point(self, ctn: int) -> bytes:
        return per_commitment_point(self.secret(ctn))


@dataclass(frozen=True)
class PartyParams:
    """One side's channel limits (dust limit, CSV delay it imposes on the *other* side)."""

    dust_limit_sat: int
    to_self_delay: int
    htlc_minimum_msat: int
    max_accepted_htlcs: int
    reserve_sat: int

    def to_record(self) -> list[int]:
        return [self.dust_limit_sat, self.to_self_delay, self.htlc_minimum_msat,
                self.max_accepted_htlcs, self.reserve_sat]


class Channel:
    """All state of one channel. Signatures and transactions come from ``ChannelTxs``
    (``commit_txs.py``), which builds BOLT 3 transactions from this state."""

    def __init__(self, *, channel_id: bytes, opener: str, funding_txid: bytes,
                 funding_index: int, funding_sat: int, push_msat: int, feerate_per_kw: int,
                 secrets: LocalSecrets, local_params: PartyParams, remote_params: PartyParams,
                 remote_basepoints: Basepoints, remote_first_point: bytes,
                 minimum_depth: int) -> None:
        self.channel_id = channel_id
        self.opener = opener
        self.funding_txid = funding_txid
        self.funding_index = funding_index
        self.funding_sat = funding_sat
        self.push_msat = push_msat
        self.feerate_per_kw = feerate_per_kw
        self.secrets = secrets
        self.local_params = local_params
        self.remote_params = remote_params
        self.remote_basepoints = remote_basepoints
        self.minimum_depth = minimum_depth
        self.phase = Phase.AWAITING_FUNDING
        self.log = HtlcLog()
        #: The counterparty's per-commitment points we know, by commitment number.
        self.remote_points: dict[int, bytes] = {0: remote_first_point}
        self.remote_secrets = ShachainStore()
        #: Their signatures on our latest commitment (what a unilateral close broadcasts).
        self.local_sig: bytes = b""
        self.local_htlc_sigs: list[bytes] = []
        #: Frames (updates + commitment_signed) sent and not yet acknowledged by a revocation.
        self.unacked: list[bytes] = []
        self.sent_ready = False
        self.received_ready = False
        self.local_shutdown_script: bytes | None = None
        self.remote_shutdown_script: bytes | None = None
        self.closing_fee_sat: int | None = None
        self.closing_txid: bytes | None = None
        #: Confirmations of the funding tx seen so far (set by the node from chain events).
        self.funding_depth = 0
        #: Height of the block holding the funding tx, and of the block holding the tx that
        #: spent the funding output (any close). Persisted so that after a restart the node
        #: knows which stretch of chain to rescan to rebuild its on-chain resolution.
        self.funding_height: int | None = None
        self.spent_height: int | None = None
        #: We broadcast our own commitment (unilateral close): re-broadcast it after a restart
        #: or a reorg until it confirms.
        self.force_closed = False
        self._txs: Any = None

    # ------------------------------------------------------------------ helpers
    @property
    def txs(self) -> Any:
        """The BOLT 3 transaction builder bound to this channel (created lazily)."""
        if self._txs is None:
            from wattchain.channels.commit_txs import ChannelTxs
            self._txs = ChannelTxs(self)
        return self._txs

    @property
    def usable(self) -> bool:
        return self.phase is Phase.OPEN and self.sent_ready and self.received_ready

    def initial_balance_msat(self, side: str) -> int:
        total = self.funding_sat * 1000
        opener_balance = total - self.push_msat
        return opener_balance if side == self.opener else self.push_msat

    def balance_msat(self, side: str, subject: str, ctn: int) -> int:
        """``side``'s balance (HTLCs excluded) in ``subject``'s commitment ``ctn``."""
        return self.initial_balance_msat(side) + self.log.balance_delta_msat(subject, ctn)[side]

    def available_to_send_msat(self) -> int:
        """What we can still offer: our balance in the remote's next commitment, less the
        reserve the remote asks us to keep."""
        nxt = self.log.latest[REMOTE] + 1
        bal = self.balance_msat(LOCAL, REMOTE, nxt)
        fee = self.txs.max_commit_fee_sat() * 1000 if self.opener == LOCAL else 0
        return bal - fee - self.remote_params.reserve_sat * 1000

    # ------------------------------------------------------------------ updates (local)
    def add_htlc(self, amount_msat: int, payment_hash: bytes, cltv_expiry: int,
                 route: bytes = b"") -> tuple[Entry, m.UpdateAddHtlc]:
        if not self.usable:
            raise ChannelStateError(f"channel not usable (phase {self.phase.value})")
        if amount_msat < self.remote_params.htlc_minimum_msat:
            raise ChannelStateError("amount below the peer's htlc_minimum_msat")
        if amount_msat > self.available_to_send_msat():
            raise ChannelStateError("insufficient balance")
        pending = [e for e in self.log.htlcs_in(REMOTE, self.log.latest[REMOTE] + 1)
                   if e.htlc.proposer == LOCAL]
        if len(pending) >= self.remote_params.max_accepted_htlcs:
            raise ChannelStateError("peer's max_accepted_htlcs reached")
        htlc = LoggedHtlc(LOCAL, self.log.next_id[LOCAL], amount_msat, payment_hash,
                          cltv_expiry, route)
        entry = self.log.add(htlc)
        return entry, m.UpdateAddHtlc(self.channel_id, htlc.id, amount_msat, payment_hash,
                                      cltv_expiry, route)

    def fulfill_htlc(self, htlc_id: int, preimage: bytes) -> m.UpdateFulfillHtlc:
        entry = self.log.entries.get((REMOTE, htlc_id))
        if entry is None or hashlib.sha256(preimage).digest() != entry.htlc.payment_hash:
            raise ChannelStateError(f"preimage does not match htlc {htlc_id}")
        try:
            self.log.remove(LOCAL, REMOTE, htlc_id, "fulfill", preimage=preimage)
        except HtlcLogError as exc:
            raise ChannelStateError(str(exc)) from exc
        return m.UpdateFulfillHtlc(self.channel_id, htlc_id, preimage)

    def fail_htlc(self, htlc_id: int, reason: bytes) -> m.UpdateFailHtlc:
        try:
            self.log.remove(LOCAL, REMOTE, htlc_id, "fail", reason=reason)
        except HtlcLogError as exc:
            raise ChannelStateError(str(exc)) from exc
        return m.UpdateFailHtlc(self.channel_id, htlc_id, reason)

    def can_sign_remote(self) -> bool:
        """Pending updates exist and we hold the remote's point for its next commitment
        (i.e. it revoked the one before: one unrevoked commitment_signed in flight)."""
        return (self.log.pending_for(REMOTE)
                and (self.log.latest[REMOTE] + 1) in self.remote_points)

    def sign_next_remote(self) -> m.CommitmentSigned:
        """Sign the remote's next commitment covering every pending update. The caller must
        persist the channel before sending (see module docstring)."""
        if not self.log.pending_for(REMOTE):
            raise ChannelStateError("no pending updates to sign")
        if (self.log.latest[REMOTE] + 1) not in self.remote_points:
            raise ChannelStateError("waiting for the peer's revoke_and_ack")
        ctn = self.log.commitment_signed(REMOTE)
        sig, htlc_sigs = self.txs.sign_remote(ctn)
        msg = m.CommitmentSigned(self.channel_id, sig, htlc_sigs)
        self.unacked.append(msg.encode())
        return msg

    # ------------------------------------------------------------------ updates (remote)
    def receive_add(self, msg: m.UpdateAddHtlc) -> Entry:
        if self.phase is not Phase.OPEN or not self.received_ready:
            raise ProtocolError("update_add_htlc before channel_ready or after shutdown")
        if msg.amount_msat < self.local_params.htlc_minimum_msat:
            raise ProtocolError("update_add_htlc below htlc_minimum_msat")
        nxt = self.log.latest[LOCAL] + 1
        htlc = LoggedHtlc(REMOTE, msg.id, msg.amount_msat, msg.payment_hash, msg.cltv_expiry,
                          msg.onion_routing_packet)
        try:
            entry = self.log.add(htlc)
        except HtlcLogError as exc:
            raise ProtocolError(str(exc)) from exc
        offered = [e for e in self.log.htlcs_in(LOCAL, nxt) if e.htlc.proposer == REMOTE]
        if len(offered) > self.local_params.max_accepted_htlcs:
            raise ProtocolError("too many htlcs offered")
        if self.balance_msat(REMOTE, LOCAL, nxt) < 0:
            raise ProtocolError("update_add_htlc exceeds the sender's balance")
        return entry

    def receive_fulfill(self, msg: m.UpdateFulfillHtlc) -> Entry:
        entry = self.log.entries.get((LOCAL, msg.id))
        if entry is None:
            raise ProtocolError(f"update_fulfill_htlc for unknown htlc {msg.id}")
        if hashlib.sha256(msg.payment_preimage).digest() != entry.htlc.payment_hash:
            raise ProtocolError(f"update_fulfill_htlc preimage does not match htlc {msg.id}")
        try:
            return self.log.remove(REMOTE, LOCAL, msg.id, "fulfill",
                                   preimage=msg.payment_preimage)
        except HtlcLogError as exc:
            raise ProtocolError(str(exc)) from exc

    def receive_fail(self, msg: m.UpdateFailHtlc) -> Entry:
        try:
            return self.log.remove(REMOTE, LOCAL, msg.id, "fail", reason=msg.reason)
        except HtlcLogError as exc:
            raise ProtocolError(str(exc)) from exc

    def receive_commitment_signed(self, msg: m.CommitmentSigned) -> m.RevokeAndAck:
        """Verify their signature on our next commitment, then revoke our previous one. The
        caller persists before sending the returned revoke_and_ack."""
        ctn = self.log.latest[LOCAL] + 1
        self.txs.verify_local(ctn, msg.signature, msg.htlc_signatures)  # raises ProtocolError
        self.log.commitment_signed(LOCAL)
        self.local_sig = msg.signature
        self.local_htlc_sigs = list(msg.htlc_signatures)
        self.log.revoked(LOCAL)
        return self.revocation_message()

    def revocation_message(self) -> m.RevokeAndAck:
        """The revoke_and_ack for our latest revoked commitment (regenerated, not stored)."""
        revoked = self.log.oldest_unrevoked[LOCAL] - 1
        return m.RevokeAndAck(self.channel_id, self.secrets.secret(revoked),
                              self.secrets.point(revoked + 2))

    def receive_revoke_and_ack(self, msg: m.RevokeAndAck) -> None:
        revoked = self.log.oldest_unrevoked[REMOTE]
        if revoked >= self.log.latest[REMOTE]:
            raise ProtocolError("revoke_and_ack without a pending commitment")
        if per_commitment_point(msg.per_commitment_secret) != self.remote_points.get(revoked):
            raise ProtocolError("revoke_and_ack secret does not match the commitment point")
        try:
            self.remote_secrets.insert(commitment_index(revoked), msg.per_commitment_secret)
        except ChannelError as exc:
            raise ProtocolError(f"revoke_and_ack: {exc}") from exc
        self.log.revoked(REMOTE)
        self.remote_points[revoked + 2] = msg.next_per_commitment_point
        self.remote_points.pop(revoked - 1, None)
        self.unacked.clear()

    # ------------------------------------------------------------------ open / ready
    def channel_ready_message(self) -> m.ChannelReady:
        self.sent_ready = True
        return m.ChannelReady(self.channel_id, self.secrets.point(1))

    def receive_channel_ready(self, msg: m.ChannelReady) -> None:
        if self.received_ready:
            if self.remote_points.get(1) != msg.second_per_commitment_point:
                raise ProtocolError("channel_ready repeated with a different point")
            return
        self.remote_points[1] = msg.second_per_commitment_point
        self.received_ready = True
        if self.phase is Phase.AWAITING_FUNDING:
            self.phase = Phase.OPEN

    # ------------------------------------------------------------------ closing
    def start_shutdown(self, script: bytes) -> m.Shutdown:
        if self.phase not in (Phase.OPEN, Phase.SHUTDOWN):
            raise ChannelStateError(f"cannot shut down in phase {self.phase.value}")
        self.phase = Phase.SHUTDOWN
        self.local_shutdown_script = script
        return m.Shutdown(self.channel_id, script)

    def receive_shutdown(self, msg: m.Shutdown) -> None:
        if self.phase not in (Phase.OPEN, Phase.SHUTDOWN):
            raise ProtocolError(f"shutdown in phase {self.phase.value}")
        self.phase = Phase.SHUTDOWN
        self.remote_shutdown_script = msg.scriptpubkey

    def ready_to_close(self) -> bool:
        return (self.phase is Phase.SHUTDOWN and self.local_shutdown_script is not None
                and self.remote_shutdown_script is not None and not self.log.unresolved()
                and not self.log.pending_for(REMOTE) and not self.log.pending_for(LOCAL)
                and self.log.oldest_unrevoked[REMOTE] == self.log.latest[REMOTE])

    def closing_balances_msat(self) -> dict[str, int]:
        ctn = self.log.latest[LOCAL]
        return {side: self.balance_msat(side, LOCAL, ctn) for side in (LOCAL, REMOTE)}

    def propose_closing(self, fee_sat: int) -> m.ClosingSigned:
        if not self.ready_to_close():
            raise ChannelStateError("channel not ready to close (htlcs pending or no shutdown)")
        self.closing_fee_sat = fee_sat
        return m.ClosingSigned(self.channel_id, fee_sat, self.txs.sign_closing(fee_sat))

    def receive_closing_signed(self, msg: m.ClosingSigned, acceptable: tuple[int, int]
                               ) -> tuple[m.ClosingSigned | None, Any]:
        """Check their closing signature. If their fee is within ``acceptable`` (and equal to
        ours if we proposed one) the closing tx is complete: returns (our echo or None,
        the signed tx). Otherwise returns a counter-proposal and None."""
        if not self.ready_to_close() and self.phase is not Phase.CLOSING:
            raise ProtocolError("closing_signed before shutdown completed")
        self.txs.verify_closing(msg.fee_satoshis, msg.signature)
        low, high = acceptable
        if self.closing_fee_sat == msg.fee_satoshis or low <= msg.fee_satoshis <= high:
            echo = None
            if self.closing_fee_sat != msg.fee_satoshis:
                self.closing_fee_sat = msg.fee_satoshis
                echo = m.ClosingSigned(self.channel_id, msg.fee_satoshis,
                                       self.txs.sign_closing(msg.fee_satoshis))
            tx = self.txs.closing_tx(msg.fee_satoshis, msg.signature)
            self.phase = Phase.CLOSING
            self.closing_txid = tx.txid
            return echo, tx
        counter = min(max(msg.fee_satoshis, low), high)
        self.closing_fee_sat = counter
        return m.ClosingSigned(self.channel_id, counter, self.txs.sign_closing(counter)), None

    # ------------------------------------------------------------------ persistence
    def header_record(self) -> dict[str, Any]:
        return {
            "id": self.channel_id, "op": self.opener, "ftx": self.funding_txid,
            "fi": self.funding_index, "fs": self.funding_sat, "pm": self.push_msat,
            "fr": self.feerate_per_kw, "seed": self.secrets.seed,
            "lp": self.local_params.to_record(), "rp": self.remote_params.to_record(),
            "rb": self.remote_basepoints.to_record(), "md": self.minimum_depth,
            "ph": self.phase.value, "log": self.log.header_record(),
            "pts": [[k, v] for k, v in self.remote_points.items()],
            "sec": self.remote_secrets.entries(), "ls": self.local_sig,
            "lhs": self.local_htlc_sigs, "ua": self.unacked,
            "rdy": [self.sent_ready, self.received_ready],
            "sd": [self.local_shutdown_script, self.remote_shutdown_script],
            "cf": self.closing_fee_sat, "ct": self.closing_txid, "fd": self.funding_depth,
            "fh": self.funding_height, "sh": self.spent_height, "fc": self.force_closed,
        }

    @classmethod
    def restore(cls, rec: dict[str, Any], htlcs: list[dict[str, Any]]) -> "Channel":
        points = {k: v for k, v in rec["pts"]}
        chan = cls(channel_id=rec["id"], opener=rec["op"], funding_txid=rec["ftx"],
                   funding_index=rec["fi"], funding_sat=rec["fs"], push_msat=rec["pm"],
                   feerate_per_kw=rec["fr"], secrets=LocalSecrets(rec["seed"]),
                   local_params=PartyParams(*rec["lp"]), remote_params=PartyParams(*rec["rp"]),
                   remote_basepoints=Basepoints(*rec["rb"]), remote_first_point=points[0]
                   if 0 in points else b"", minimum_depth=rec["md"])
        chan.phase = Phase(rec["ph"])
        chan.log = HtlcLog.restore(rec["log"], htlcs)
        chan.remote_points = points
        chan.remote_secrets = ShachainStore.from_entries([(i, s) for i, s in rec["sec"]])
        chan.local_sig, chan.local_htlc_sigs = rec["ls"], list(rec["lhs"])
        chan.unacked = list(rec["ua"])
        chan.sent_ready, chan.received_ready = rec["rdy"]
        chan.local_shutdown_script, chan.remote_shutdown_script = rec["sd"]
        chan.closing_fee_sat, chan.closing_txid = rec["cf"], rec["ct"]
        chan.funding_depth = rec["fd"]
        # Absent in records written before on-chain resolution became restart-safe.
        chan.funding_height, chan.spent_height = rec.get("fh"), rec.get("sh")
        chan.force_closed = bool(rec.get("fc", False))
        return chan


def channel_id_from_funding(txid: bytes, index: int) -> bytes:
    """BOLT 2: funding_txid XOR funding_output_index (big-endian, in the last two bytes)."""
    tail = (int.from_bytes(txid[30:], "big") ^ index).to_bytes(2, "big")
    return txid[:30] + tail
