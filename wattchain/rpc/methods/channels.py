"""Payment-channel RPCs (``channels=1``), named after common Lightning node commands.

``getchannelnodeinfo`` (the channel node's id and port), ``connectpeer``, ``openchannel``,
``listchannels``, ``getchannelinfo``, ``addinvoice``, ``pay``, ``closechannel`` and
``forceclosechannel``. Amounts are integers, in satoshis (``*_sat``) or millisatoshis
(``*_msat``), as Lightning tools give them; channel ids and payment hashes/preimages are plain
hex, txids display (byte-reversed) hex like every other RPC.

The channel node lives on the event loop, so these handlers call it directly (its wallet
funding and chain access already hop to the chainstate thread). Errors: without a channel node
-1 "Payment channels are disabled (start with channels=1)"; an unknown channel or bad amount
-8; a peer that is not connected -29; the wallet unable to fund -6; a failed payment or close
-1 with the reason.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from wattchain.channels.errors import ChannelError
from wattchain.channels.funding import FundingError
from wattchain.channels.htlclog import LOCAL, REMOTE
from wattchain.channels.node import ChannelNode
from wattchain.channels.state import Channel
from wattchain.core.tx import txid_to_hex
from wattchain.rpc.errors import (RPC_CLIENT_NODE_NOT_CONNECTED, RPC_INVALID_PARAMETER,
                                  RPC_MISC_ERROR, RPC_WALLET_INSUFFICIENT_FUNDS, RPCError)
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param, as_int, parse_hex


def _node(ctx: RpcContext) -> ChannelNode:
    service = ctx.node.channels
    if service is None:
        raise RPCError(RPC_MISC_ERROR, "Payment channels are disabled (start with channels=1)")
    return service.node


def _bytes32(value: str, name: str) -> bytes:
    data = parse_hex(value, name)
    if len(data) != 32:
        raise RPCError(RPC_INVALID_PARAMETER, f"{name} must be 32 bytes (64 hex digits)")
    return data


def _pubkey(value: str) -> bytes:
    data = parse_hex(value, "node_id")
    if len(data) != 33 or data[0] not in (2, 3):
        raise RPCError(RPC_INVALID_PARAMETER, "node_id must be a 33-byte compressed public key")
    return data


def _positive(value: Any, name: str) -> int:
    amount = as_int(value)
    if amount <= 0:
        raise RPCError(RPC_INVALID_PARAMETER, f"{name} must be positive")
    return amount


def _channel(node: ChannelNode, value: str) -> Channel:
    chan = node.channels.get(_bytes32(value, "channel_id"))
    if chan is None:
        raise RPCError(RPC_INVALID_PARAMETER, f"Unknown channel {value}")
    return chan


def _summary(node: ChannelNode, chan: Channel) -> dict[str, Any]:
    ctn = chan.log.latest[LOCAL]
    peer = node.channel_peer_id.get(chan.channel_id)
    return {
        "channel_id": chan.channel_id.hex(),
        "peer_id": peer.hex() if peer is not None else None,
        "state": chan.phase.value,
        "active": chan.usable,
        "funding_txid": txid_to_hex(chan.funding_txid),
        "funding_output_index": chan.funding_index,
        "capacity_sat": chan.funding_sat,
        "local_balance_msat": chan.balance_msat(LOCAL, LOCAL, ctn),
        "remote_balance_msat": chan.balance_msat(REMOTE, LOCAL, ctn),
        "pending_htlcs": len(chan.log.unresolved()),
    }


async def getchannelnodeinfo(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = _node(ctx)
    return {"node_id": node.node_id.hex(), "port": node.port, "height": node.height,
            "num_peers": len(node.peers), "num_channels": len(node.channels)}


async def connectpeer(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = _node(ctx)
    port = as_int(a["port"], 1, 65535)
    try:
        peer = await node.connect(a["host"], port)
    except (OSError, ChannelError) as exc:
        raise RPCError(RPC_CLIENT_NODE_NOT_CONNECTED,
                       f"Could not connect to {a['host']}:{port}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - aiohttp's client errors
        raise RPCError(RPC_CLIENT_NODE_NOT_CONNECTED,
                       f"Could not connect to {a['host']}:{port}: {exc}") from None
    assert peer.node_id is not None
    return {"node_id": peer.node_id.hex()}


async def openchannel(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = _node(ctx)
    peer_id = _pubkey(a["node_id"])
    amount = _positive(a["amount_sat"], "amount_sat")
    push = as_int(a["push_msat"], 0, amount * 1000)
    peer = node.peers.get(peer_id)
    if peer is None:
        raise RPCError(RPC_CLIENT_NODE_NOT_CONNECTED, "Peer is not connected (connectpeer)")
    if node.funding is None:
        raise RPCError(RPC_WALLET_INSUFFICIENT_FUNDS, "No wallet to fund the channel")
    try:
        chan = await node.open_channel(peer, amount, push)
    except FundingError as exc:
        raise RPCError(RPC_WALLET_INSUFFICIENT_FUNDS, str(exc)) from None
    except ChannelError as exc:
        raise RPCError(RPC_MISC_ERROR, f"Could not open the channel: {exc}") from None
    return {"channel_id": chan.channel_id.hex(), "funding_txid": txid_to_hex(chan.funding_txid),
            "funding_output_index": chan.funding_index}


async def listchannels(ctx: RpcContext, a: dict[str, Any]) -> list[dict[str, Any]]:
    node = _node(ctx)
    return [_summary(node, chan) for chan in node.channels.values()]


async def getchannelinfo(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = _node(ctx)
    chan = _channel(node, a["channel_id"])
    info = _summary(node, chan)
    info.update({
        "opener": "local" if chan.opener == LOCAL else "remote",
        "funding_depth": chan.funding_depth, "minimum_depth": chan.minimum_depth,
        "funding_height": chan.funding_height, "spent_height": chan.spent_height,
        "to_self_delay": chan.remote_params.to_self_delay,
        "commitment_number": chan.log.latest[LOCAL],
        "closing_txid": txid_to_hex(chan.closing_txid) if chan.closing_txid else None,
        "force_closed": chan.force_closed,
    })
    return info


async def addinvoice(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = _node(ctx)
    amount = _positive(a["amount_msat"], "amount_msat")
    preimage = (_bytes32(a["preimage"], "preimage") if a.get("preimage") is not None
                else os.urandom(32))
    payment_hash = node.payments.add_invoice(preimage, amount)
    return {"payment_hash": payment_hash.hex(), "amount_msat": amount}


async def pay(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = _node(ctx)
    target = _pubkey(a["node_id"])
    amount = _positive(a["amount_msat"], "amount_msat")
    payment_hash = _bytes32(a["payment_hash"], "payment_hash")
    try:
        preimage = await node.payments.pay_to(target, amount, payment_hash)
    except ChannelError as exc:
        raise RPCError(RPC_MISC_ERROR, f"Payment failed: {exc}") from None
    if hashlib.sha256(preimage).digest() != payment_hash:  # the engine checks; be explicit
        raise RPCError(RPC_MISC_ERROR, "Payment failed: preimage does not match")
    return {"payment_hash": payment_hash.hex(), "payment_preimage": preimage.hex(),
            "amount_msat": amount}


async def closechannel(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = _node(ctx)
    chan = _channel(node, a["channel_id"])
    if node.peer_for(chan) is None:
        raise RPCError(RPC_CLIENT_NODE_NOT_CONNECTED,
                       "Peer is not connected: use forceclosechannel")
    try:
        tx = await node.close_channel(chan.channel_id)
    except ChannelError as exc:
        raise RPCError(RPC_MISC_ERROR, f"Could not close the channel: {exc}") from None
    return {"closing_txid": tx.txid_hex}


async def forceclosechannel(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = _node(ctx)
    chan = _channel(node, a["channel_id"])
    if not chan.local_sig:
        raise RPCError(RPC_MISC_ERROR, "No signed commitment to broadcast yet")
    try:
        tx = node.force_close(chan.channel_id)
    except ChannelError as exc:
        raise RPCError(RPC_MISC_ERROR, f"Could not force-close the channel: {exc}") from None
    return {"closing_txid": tx.txid_hex}


_CID = Param("channel_id", ArgType.STR_HEX, description="the channel id (64 hex digits)")
_NODE = Param("node_id", ArgType.STR_HEX, description="the peer's node id (hex public key)")

METHODS = (
    RpcMethod("getchannelnodeinfo", "channels", getchannelnodeinfo, (),
              "The channel node's id, WebSocket port, height, peers and channels."),
    RpcMethod("connectpeer", "channels", connectpeer,
              (Param("host", ArgType.STR, description="the peer's channel host"),
               Param("port", ArgType.NUM, description="the peer's channel port")),
              "Connect to a channel peer; returns its node id."),
    RpcMethod("openchannel", "channels", openchannel,
              (_NODE, Param("amount_sat", ArgType.NUM, description="channel capacity"),
               Param("push_msat", ArgType.NUM, False, 0, "given to the peer at opening")),
              "Open a channel funded by the wallet; returns once the funding tx is broadcast."),
    RpcMethod("listchannels", "channels", listchannels, (), "Every channel, with balances."),
    RpcMethod("getchannelinfo", "channels", getchannelinfo, (_CID,),
              "One channel in detail."),
    RpcMethod("addinvoice", "channels", addinvoice,
              (Param("amount_msat", ArgType.NUM, description="amount to receive"),
               Param("preimage", ArgType.STR_HEX, False, None,
                     "32-byte preimage (default: random)")),
              "Create an invoice; returns its payment hash."),
    RpcMethod("pay", "channels", pay,
              (_NODE, Param("amount_msat", ArgType.NUM, description="amount to pay"),
               Param("payment_hash", ArgType.STR_HEX, description="the invoice's hash")),
              "Pay a payment hash to a node over a route of channels; returns the preimage."),
    RpcMethod("closechannel", "channels", closechannel, (_CID,),
              "Cooperative close; returns the closing txid once both sides signed it."),
    RpcMethod("forceclosechannel", "channels", forceclosechannel, (_CID,),
              "Unilateral close (our commitment; to_local after the CSV delay)."),
)
