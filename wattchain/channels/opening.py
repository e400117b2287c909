"""Opening a channel (BOLT 2): open/accept_channel, funding_created/signed.

The opener proposes (``open_channel``), the acceptor answers with its keys and the depth it
wants (``accept_channel``); the opener builds and signs the funding transaction through the
node's :class:`FundingSource`, signs the acceptor's first commitment (``funding_created``),
and only after the acceptor's signature on *its* first commitment arrived
(``funding_signed``) and the channel is stored does it broadcast the funding tx — so it can
always get its money back with commitment 0. Channel secrets derive from the node secret and
the temporary channel id, so nothing secret but the derived seed is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
from typing import TYPE_CHECKING

from wattchain.channels import messages as m
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.peer import ChannelPeer
from wattchain.channels.scripts import funding_output_script
from wattchain.channels.state import (Basepoints, Channel, ChannelStateError, LocalSecrets,
                                      PartyParams, ProtocolError, channel_id_from_funding)

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.node import ChannelNode


class ChannelOpener:
    """The opening flows of one :class:`ChannelNode`, both as opener and as acceptor."""

    def __init__(self, node: "ChannelNode") -> None:
        self.node = node
        self._pending_open: dict[bytes, asyncio.Future[m.Message]] = {}
        self._acceptor_state: dict[bytes, tuple[m.OpenChannel, LocalSecrets]] = {}

    def on_message(self, peer: ChannelPeer, msg: m.Message) -> None:
        """Dispatch one opening message (called without awaiting between transitions)."""
        if isinstance(msg, m.OpenChannel):
            self._on_open_channel(peer, msg)
        elif isinstance(msg, m.FundingCreated):
            self._on_funding_created(peer, msg)
        else:
            key = (msg.temporary_channel_id if isinstance(msg, m.AcceptChannel)
                   else getattr(msg, "channel_id", b""))
            fut = self._pending_open.pop(key, None)
            if fut is None:
                raise ProtocolError(f"unexpected {msg.TYPE}")
            if not fut.done():
                fut.set_result(msg)

    def _new_secrets(self, temp_id: bytes) -> LocalSecrets:
        seed = hashlib.sha256(b"channel-seed" + self.node.node_secret + temp_id).digest()
        return LocalSecrets(seed)

    async def open_channel(self, peer: ChannelPeer, funding_sat: int,
                           push_msat: int = 0) -> Channel:
        """Open and fund a channel with ``peer``; returns once funding_signed arrived and
        the funding tx was broadcast (wait for usability with :meth:`wait_ready`)."""
        if self.node.funding is None:
            raise ChannelStateError("no funding source configured")
        cfg = self.node.config
        temp_id = os.urandom(32)
        secrets = self._new_secrets(temp_id)
        bp = secrets.basepoints()
        fut: asyncio.Future[m.Message] = asyncio.get_running_loop().create_future()
        self._pending_open[temp_id] = fut
        self.node._send(peer, m.OpenChannel(bytes(32), temp_id, funding_sat, push_msat,
                                       cfg.dust_limit_sat, cfg.reserve_sat, cfg.htlc_minimum_msat,
                                       cfg.feerate_per_kw, cfg.to_self_delay,
                                       cfg.max_accepted_htlcs, bp.funding_pubkey,
                                       bp.revocation_basepoint, bp.payment_basepoint,
                                       bp.delayed_payment_basepoint, bp.htlc_basepoint,
                                       secrets.point(0)))
        accept = await fut
        assert isinstance(accept, m.AcceptChannel)
        script = funding_output_script(bp.funding_pubkey, accept.funding_pubkey)
        funded = self.node.funding.fund(script, funding_sat)
        funding_tx = await funded if inspect.isawaitable(funded) else funded
        index = next(i for i, o in enumerate(funding_tx.outputs)
                     if o.script_pubkey == script and o.value == funding_sat)
        cid = channel_id_from_funding(funding_tx.txid, index)
        chan = Channel(channel_id=cid, opener=LOCAL, funding_txid=funding_tx.txid,
                       funding_index=index, funding_sat=funding_sat, push_msat=push_msat,
                       feerate_per_kw=cfg.feerate_per_kw, secrets=secrets,
                       local_params=cfg.party_params(),
                       remote_params=PartyParams(accept.dust_limit_satoshis,
                                                 accept.to_self_delay, accept.htlc_minimum_msat,
                                                 accept.max_accepted_htlcs,
                                                 accept.channel_reserve_satoshis),
                       remote_basepoints=Basepoints(accept.funding_pubkey,
                                                    accept.revocation_basepoint,
                                                    accept.payment_basepoint,
                                                    accept.delayed_payment_basepoint,
                                                    accept.htlc_basepoint),
                       remote_first_point=accept.first_per_commitment_point,
                       minimum_depth=max(accept.minimum_depth, 1))
        sig, _ = chan.txs.sign_remote(0)
        fut2: asyncio.Future[m.Message] = asyncio.get_running_loop().create_future()
        self._pending_open[cid] = fut2
        self.node._send(peer, m.FundingCreated(temp_id, funding_tx.txid, index, sig))
        signed = await fut2
        assert isinstance(signed, m.FundingSigned)
        chan.txs.verify_local(0, signed.signature, [])
        chan.local_sig = signed.signature
        assert peer.node_id is not None
        self.node._adopt(chan, peer.node_id)
        self.node.save(chan)  # before broadcasting: we can always close with commitment 0
        self.node.broadcast(funding_tx)
        return chan

    def _on_open_channel(self, peer: ChannelPeer, msg: m.OpenChannel) -> None:
        cfg = self.node.config
        secrets = self._new_secrets(msg.temporary_channel_id)
        bp = secrets.basepoints()
        self._acceptor_state[msg.temporary_channel_id] = (msg, secrets)
        self.node._send(peer, m.AcceptChannel(msg.temporary_channel_id, cfg.dust_limit_sat,
                                         cfg.reserve_sat, cfg.htlc_minimum_msat,
                                         cfg.minimum_depth, cfg.to_self_delay,
                                         cfg.max_accepted_htlcs, bp.funding_pubkey,
                                         bp.revocation_basepoint, bp.payment_basepoint,
                                         bp.delayed_payment_basepoint, bp.htlc_basepoint,
                                         secrets.point(0)))

    def _on_funding_created(self, peer: ChannelPeer, msg: m.FundingCreated) -> None:
        pending = self._acceptor_state.pop(msg.temporary_channel_id, None)
        if pending is None:
            raise ProtocolError("funding_created for an unknown temporary channel id")
        op, secrets = pending
        cid = channel_id_from_funding(msg.funding_txid, msg.funding_output_index)
        chan = Channel(channel_id=cid, opener=REMOTE, funding_txid=msg.funding_txid,
                       funding_index=msg.funding_output_index, funding_sat=op.funding_satoshis,
                       push_msat=op.push_msat, feerate_per_kw=op.feerate_per_kw,
                       secrets=secrets, local_params=self.node.config.party_params(),
                       remote_params=PartyParams(op.dust_limit_satoshis, op.to_self_delay,
                                                 op.htlc_minimum_msat, op.max_accepted_htlcs,
                                                 op.channel_reserve_satoshis),
                       remote_basepoints=Basepoints(op.funding_pubkey, op.revocation_basepoint,
                                                    op.payment_basepoint,
                                                    op.delayed_payment_basepoint,
                                                    op.htlc_basepoint),
                       remote_first_point=op.first_per_commitment_point,
                       minimum_depth=self.node.config.minimum_depth)
        chan.txs.verify_local(0, msg.signature, [])
        chan.local_sig = msg.signature
        sig, _ = chan.txs.sign_remote(0)
        assert peer.node_id is not None
        self.node._adopt(chan, peer.node_id)
        self.node.save(chan)
        self.node._send(peer, m.FundingSigned(cid, sig))
