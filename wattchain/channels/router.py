"""Source routing over a channel graph: path finding, per-hop amounts/CLTVs, hop payloads.

The payer computes the whole route: for each hop the amount and CLTV expiry of the HTLC that
hop's channel carries, so every forwarding node earns its advertised fee (base + proportional)
and keeps its advertised CLTV delta as safety margin. One payment hash is used on every hop,
so the preimage released by the payee settles all of them backwards.

The route travels in ``update_add_htlc.onion_routing_packet`` as a msgpack list of the
*remaining* hops' instructions; each node reads and strips the first. This is source routing
without BOLT 4's onion encryption (every hop sees the rest of the path) — the pilot's threat
model is an outlet and a car, not anonymity; the payload slot is where an onion would go.

Failures are encoded in ``update_fail_htlc.reason`` as ``{code, node, channel}`` and passed back
unchanged hop by hop, so the payer learns which node failed and why.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import msgpack

from wattchain.channels.errors import ChannelError

#: Failure codes (BOLT 4 names, without the onion-specific ones).
UNKNOWN_NEXT_PEER = "unknown_next_peer"
FEE_INSUFFICIENT = "fee_insufficient"
INCORRECT_CLTV_EXPIRY = "incorrect_cltv_expiry"
EXPIRY_TOO_SOON = "expiry_too_soon"
TEMPORARY_CHANNEL_FAILURE = "temporary_channel_failure"
UNKNOWN_PAYMENT_HASH = "incorrect_or_unknown_payment_details"
INVALID_ONION_PAYLOAD = "invalid_onion_payload"

MAX_HOPS = 20


class RouteError(ChannelError):
    """No route, or a route payload that does not decode."""


@dataclass(frozen=True)
class ChannelEdge:
    """One direction of a channel as its source node advertises it."""

    channel_id: bytes
    source: bytes
    target: bytes
    capacity_msat: int
    fee_base_msat: int = 1000
    fee_ppm: int = 1
    cltv_delta: int = 40

    def fee_msat(self, amount_msat: int) -> int:
        return self.fee_base_msat + amount_msat * self.fee_ppm // 1_000_000


@dataclass(frozen=True)
class Hop:
    """The HTLC on ``channel_id`` (from ``source`` to ``target``) and what it carries."""

    channel_id: bytes
    source: bytes
    target: bytes
    amount_msat: int
    cltv_expiry: int


@dataclass(frozen=True)
class Route:
    hops: tuple[Hop, ...]

    @property
    def amount_msat(self) -> int:
        return self.hops[0].amount_msat

    @property
    def fee_msat(self) -> int:
        return self.hops[0].amount_msat - self.hops[-1].amount_msat

    def payload_for(self, hop_index: int) -> bytes:
        """The payload of the HTLC on hop ``hop_index``: the instructions of later hops."""
        return encode_payload([(h.channel_id, h.amount_msat, h.cltv_expiry)
                               for h in self.hops[hop_index + 1:]])


@dataclass
class ChannelGraph:
    """Directed channel edges known to this node (from configuration or its own channels)."""

    edges: dict[bytes, list[ChannelEdge]] = field(default_factory=dict)

    def add(self, edge: ChannelEdge) -> None:
        out = self.edges.setdefault(edge.source, [])
        out[:] = [e for e in out if e.channel_id != edge.channel_id] + [edge]

    def add_channel(self, channel_id: bytes, a: bytes, b: bytes, capacity_msat: int, *,
                    fee_base_msat: int = 1000, fee_ppm: int = 1, cltv_delta: int = 40) -> None:
        """Both directions of a channel with the same policy."""
        for s, t in ((a, b), (b, a)):
            self.add(ChannelEdge(channel_id, s, t, capacity_msat, fee_base_msat, fee_ppm,
                                 cltv_delta))

    def remove_channel(self, channel_id: bytes) -> None:
        for node, out in self.edges.items():
            out[:] = [e for e in out if e.channel_id != channel_id]

    def edge(self, channel_id: bytes, source: bytes) -> ChannelEdge | None:
        for e in self.edges.get(source, []):
            if e.channel_id == channel_id:
                return e
        return None

    def find_route(self, source: bytes, target: bytes, amount_msat: int, final_cltv: int,
                   exclude: frozenset[bytes] = frozenset()) -> Route:
        """Cheapest route (fees, then hops) from ``source`` to ``target``: Dijkstra run
        backwards from the target so each edge's fee is computed on the exact amount it must
        forward. ``exclude`` drops channels (e.g. ones that failed before)."""
        reverse: dict[bytes, list[ChannelEdge]] = {}
        for out in self.edges.values():
            for e in out:
                if e.channel_id not in exclude:
                    reverse.setdefault(e.target, []).append(e)
        # state: node -> (amount to deliver into node, cltv into node, next edges)
        best: dict[bytes, tuple[int, int]] = {target: (amount_msat, 0)}
        path: dict[bytes, list[ChannelEdge]] = {target: []}
        queue = [(amount_msat, 0, target)]
        while queue:
            amount, hops, node = heapq.heappop(queue)
            if best.get(node, (None,))[0] != amount:
                continue
            if node == source:
                break
            for e in reverse.get(node, []):
                # The fee is charged by the forwarding node (e.target), not on the last hop.
                prev = e.source
                fee = 0 if node == target else self.edge_fee(path[node][0], amount)
                needed = amount + fee
                if needed > e.capacity_msat or hops + 1 > MAX_HOPS:
                    continue
                if prev not in best or needed < best[prev][0]:
                    best[prev] = (needed, hops + 1)
                    path[prev] = [e] + path[node]
                    heapq.heappush(queue, (needed, hops + 1, prev))
        if source not in path or source == target:
            raise RouteError(f"no route from {source.hex()[:16]} to {target.hex()[:16]} "
                             f"for {amount_msat} msat")
        edges = path[source]
        hops: list[Hop] = []
        amount, cltv = amount_msat, final_cltv
        for i in range(len(edges) - 1, -1, -1):
            e = edges[i]
            hops.append(Hop(e.channel_id, e.source, e.target, amount, cltv))
            if i > 0:
                amount += self.edge_fee(e, amount)
                cltv += e.cltv_delta
        hops.reverse()
        return Route(tuple(hops))

    @staticmethod
    def edge_fee(next_edge: ChannelEdge, amount_msat: int) -> int:
        """Fee the source of ``next_edge`` charges for forwarding ``amount_msat`` over it."""
        return next_edge.fee_msat(amount_msat)


def encode_payload(hops: list[tuple[bytes, int, int]]) -> bytes:
    return msgpack.packb([[c, a, t] for c, a, t in hops], use_bin_type=True)


def decode_payload(data: bytes) -> list[tuple[bytes, int, int]]:
    """The remaining hops of a route payload; raises :class:`RouteError` on bad input."""
    if not data:
        return []
    try:
        raw = msgpack.unpackb(data, raw=False, max_array_len=MAX_HOPS * 3, max_bin_len=64)
    except Exception as exc:  # msgpack raises several exception types
        raise RouteError(f"undecodable route payload: {exc}") from exc
    if not isinstance(raw, list) or len(raw) > MAX_HOPS:
        raise RouteError("route payload is not a list of at most 20 hops")
    out = []
    for item in raw:
        if (not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], bytes)
                or len(item[0]) != 32 or not all(isinstance(x, int) and 0 <= x < 2**64
                                                  for x in item[1:])):
            raise RouteError("bad hop in route payload")
        out.append((item[0], item[1], item[2]))
    return out


@dataclass(frozen=True)
class Failure:
    """Why a payment failed, and where."""

    code: str
    node: bytes
    channel_id: bytes = b""

    def encode(self) -> bytes:
        return msgpack.packb({"code": self.code, "node": self.node, "ch": self.channel_id},
                             use_bin_type=True)

    @classmethod
    def decode(cls, data: bytes) -> "Failure":
        try:
            raw = msgpack.unpackb(data, raw=False, max_bin_len=64, max_str_len=64)
            return cls(str(raw["code"]), bytes(raw["node"]), bytes(raw["ch"]))
        except Exception:  # noqa: BLE001 - any garbage from a peer is "unreadable"
            return cls("unreadable_failure", b"")
