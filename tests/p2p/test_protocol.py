"""The sans-I/O peer state machine, driven without sockets."""

from __future__ import annotations

from wattchain.consensus.params import ChainParams, regtest_params, test_params
from wattchain.p2p.messages import (INV_TX, Inv, Message, Ping, Pong, SendHeaders, Verack,
                                    Version, encode, max_frame_size)
from wattchain.p2p.protocol import (Close, Deliver, LocalInfo, Misbehaved, PeerProtocol,
                                    PongReceived, Ready, State)

PARAMS = regtest_params()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(inbound: bool, nonce: int = 1,
         params: ChainParams = PARAMS) -> tuple[PeerProtocol, list[Message], Clock]:
    sent: list[Message] = []
    clock = Clock()
    proto = PeerProtocol(params, LocalInfo(nonce, 5, 9000), inbound=inbound, send=sent.append,
                         clock=clock, max_frame=max_frame_size(params))
    return proto, sent, clock


def shuttle(a: PeerProtocol, a_out: list[Message], b: PeerProtocol,
            b_out: list[Message]) -> list[tuple[str, object]]:
    """Deliver queued messages both ways (through the codec) until both queues are empty."""
    events: list[tuple[str, object]] = []
    while a_out or b_out:
        while a_out:
            events += [("b", e) for e in b.frame_received(encode(a_out.pop(0)))]
        while b_out:
            events += [("a", e) for e in a.frame_received(encode(b_out.pop(0)))]
    return events


def test_handshake_completes_both_ways() -> None:
    dialer, d_out, _ = make(inbound=False, nonce=1)
    listener, l_out, _ = make(inbound=True, nonce=2)
    dialer.start()
    listener.start()
    assert [type(m) for m in d_out] == [Version] and l_out == []
    events = shuttle(dialer, d_out, listener, l_out)
    assert sorted(side for side, e in events if isinstance(e, Ready)) == ["a", "b"]
    assert dialer.state is State.READY and listener.state is State.READY
    assert listener.peer_version is not None and listener.peer_version.nonce == 1
    assert listener.peer_version.listen_port == 9000


def test_wrong_network_and_self_connection_close() -> None:
    dialer, d_out, _ = make(inbound=False, nonce=1, params=test_params())
    listener, l_out, _ = make(inbound=True, nonce=2)
    dialer.start()
    events = listener.frame_received(encode(d_out.pop()))
    assert events == [Close("wrong network")] and listener.state is State.CLOSED and not l_out

    me, out, _ = make(inbound=False, nonce=7)
    me.start()
    mirror, m_out, _ = make(inbound=True, nonce=7)
    assert mirror.frame_received(encode(out.pop())) == [Close("connected to self")]


def test_messages_before_handshake_are_misbehaviour_not_delivered() -> None:
    listener, l_out, _ = make(inbound=True)
    events = listener.frame_received(encode(Inv(((INV_TX, bytes(32)),))))
    assert events == [Misbehaved(10, "inv before handshake")]
    assert listener.frame_received(encode(Verack())) == [Misbehaved(10, "unexpected verack")]


def _ready_pair() -> tuple[PeerProtocol, list[Message], Clock, PeerProtocol, list[Message]]:
    dialer, d_out, clock = make(inbound=False, nonce=1)
    listener, l_out, _ = make(inbound=True, nonce=2)
    dialer.start()
    shuttle(dialer, d_out, listener, l_out)
    return dialer, d_out, clock, listener, l_out


def test_ping_pong_measures_latency() -> None:
    dialer, d_out, clock, listener, l_out = _ready_pair()
    dialer.send_ping()
    ping = d_out.pop()
    assert isinstance(ping, Ping)
    assert listener.frame_received(encode(ping)) == []
    pong = l_out.pop()
    assert pong == Pong(ping.nonce)
    clock.now += 0.25
    assert dialer.frame_received(encode(pong)) == [PongReceived(0.25)]
    assert dialer.latency == 0.25
    assert dialer.frame_received(encode(Pong(999))) == [Misbehaved(1, "unsolicited pong")]


def test_ready_peer_delivers_messages_and_records_sendheaders() -> None:
    dialer, _, _, listener, _ = _ready_pair()
    inv = Inv(((INV_TX, bytes(32)),))
    assert listener.frame_received(encode(inv)) == [Deliver(inv)]
    assert not listener.wants_headers
    assert listener.frame_received(encode(SendHeaders())) == []
    assert listener.wants_headers


def test_bad_frames_score_by_kind() -> None:
    _, _, _, listener, _ = _ready_pair()
    [unknown] = listener.frame_received(b"\x82\xa4type\xa4nope\xa7payload\xc0")
    assert isinstance(unknown, Misbehaved) and unknown.points == 10
    [bad] = listener.frame_received(b"\x82\xa4type\xa4ping\xa7payload\xff")
    assert isinstance(bad, Misbehaved) and bad.points == 50
    events = listener.frame_received(b"\xc1")
    assert isinstance(events[0], Misbehaved) and events[0].points == 100
    assert isinstance(events[1], Close) and listener.state is State.CLOSED
    assert listener.frame_received(encode(Ping(1))) == []   # closed: ignored
