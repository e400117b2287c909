"""Core's "network" category: peers, connection count, addnode, network info.

Without networking (``node.p2p is None``) the read-only methods answer as Core does with no
connections (empty peer list, 0 connections, ``networkactive: false``) and ``addnode`` is
-31 "Error: Peer-to-peer functionality missing or disabled". ``getnetworkinfo`` adds
``signaturebackend``: which ECDSA implementation checks signatures ("compiled" or "pure").
"""

from __future__ import annotations

import logging
from typing import Any

from wattchain.p2p.messages import PROTOCOL_VERSION
from wattchain.rpc.errors import RPC_INVALID_PARAMETER, RPC_MISC_ERROR, RPCError, p2p_disabled
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param
from wattchain.rpc.txjson import amount_to_coins
from wattchain.script import sigcore

log = logging.getLogger(__name__)


async def getconnectioncount(ctx: RpcContext, a: dict[str, Any]) -> int:
    p2p = ctx.node.p2p
    return 0 if p2p is None else p2p.connection_count()


async def getpeerinfo(ctx: RpcContext, a: dict[str, Any]) -> list[dict[str, Any]]:
    p2p = ctx.node.p2p
    return [] if p2p is None else p2p.peer_info()


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """"host", "host:port" or "[v6]:port" -> (host, port)."""
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise RPCError(RPC_INVALID_PARAMETER, f"Invalid node address: {text}")
        host, rest = text[1:end], text[end + 1:]
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    if not host:
        raise RPCError(RPC_INVALID_PARAMETER, f"Invalid node address: {text}")
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise RPCError(RPC_INVALID_PARAMETER, f"Invalid port in node address: {whole}")
    return int(text)


async def addnode(ctx: RpcContext, a: dict[str, Any]) -> None:
    command = a["command"]
    if command not in ("add", "remove", "onetry"):
        method = ctx.methods["addnode"]
        raise RPCError(RPC_MISC_ERROR, method.help())
    p2p = ctx.node.p2p
    if p2p is None:
        raise p2p_disabled()
    host, port = split_host_port(a["node"], ctx.node.params.default_port)
    if command == "remove":
        await p2p.disconnect(host, port)
        return None
    try:
        await p2p.connect(host, port, persistent=command == "add")
    except Exception as exc:  # Core's addnode returns null; a failed dial is only logged
        log.info("addnode %s %s:%d: connection failed: %s", command, host, port, exc)
    return None


async def getnetworkinfo(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = ctx.node
    p2p = node.p2p
    policy = node.mempool.policy if node.mempool is not None else None
    inbound = p2p.inbound_count() if p2p is not None else 0
    outbound = p2p.outbound_count() if p2p is not None else 0
    return {
        "version": node.numeric_version,
        "subversion": node.user_agent,
        "protocolversion": PROTOCOL_VERSION,
        "localservices": "0000000000000009",
        "localservicesnames": ["NETWORK", "WITNESS"],
        "localrelay": True,
        "timeoffset": 0,
        "networkactive": p2p is not None,
        "connections": inbound + outbound,
        "connections_in": inbound,
        "connections_out": outbound,
        "networks": [],
        "relayfee": amount_to_coins(policy.min_relay_fee_rate if policy else 1000),
        "incrementalfee": amount_to_coins(policy.incremental_relay_fee_rate if policy else 1000),
        "localaddresses": ([{"address": p2p.host, "port": p2p.port, "score": 1}]
                           if p2p is not None else []),
        "signaturebackend": sigcore.backend_name(),
        "warnings": "",
    }


METHODS = (
    RpcMethod("addnode", "network", addnode,
              (Param("node", ArgType.STR, description="the address of the peer (host:port)"),
               Param("command", ArgType.STR, description="'add', 'remove' or 'onetry'")),
              "Attempts to add or remove a node from the addnode list, or try a connection "
              "to it once."),
    RpcMethod("getconnectioncount", "network", getconnectioncount, (),
              "Returns the number of connections to other nodes."),
    RpcMethod("getnetworkinfo", "network", getnetworkinfo, (),
              "Returns an object containing various state info regarding P2P networking "
              "(plus signaturebackend)."),
    RpcMethod("getpeerinfo", "network", getpeerinfo, (),
              "Returns data about each connected network peer."),
)
