"""A hostile peer: garbage frames and messages for channels it does not share are answered
with an ``error`` naming the problem, the connection is dropped, and no state changes."""

from __future__ import annotations

import aiohttp
from harness import make_node, open_ready, run

from wattchain.channels import messages as m
from wattchain.channels.peer import WS_PATH
from wattchain.channels.testchain import TestChain

K33 = b"\x02" + b"\x55" * 32


async def _exchange(port: int, frames: list[bytes]) -> list[m.Message]:
    """Send init + frames from a raw client; collect what comes back until closed."""
    got: list[m.Message] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}{WS_PATH}") as ws:
            await ws.send_bytes(m.Init(K33).encode())
            for frame in frames:
                await ws.send_bytes(frame)
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.BINARY:
                    got.append(m.decode(msg.data))
    return got


def test_hostile_frames_get_errors_and_leave_state_alone(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, 1_000_000)
            before = bob.channels[chan.channel_id].header_record()
            got = await _exchange(bob.port, [b"\xc1garbage"])
            assert isinstance(got[0], m.Init) and isinstance(got[-1], m.Error)
            assert got[-1].data == b"decode: malformed"
            # A stranger signing for Alice's channel is refused: not its channel.
            forged = m.CommitmentSigned(chan.channel_id, b"\x30" + b"\x01" * 70, [])
            got = await _exchange(bob.port, [forged.encode()])
            assert isinstance(got[-1], m.Error) and b"unknown channel" in got[-1].data
            assert bob.channels[chan.channel_id].header_record() == before
            assert bob.store.load(chan.channel_id).header_record() == before
            # Alice's own session is unaffected: the channel still pays.
            h = bob.payments.add_invoice(b"\x07" * 32, 1000)
            assert await alice.payments.pay_to(bob.node_id, 1000, h) == b"\x07" * 32
        finally:
            await alice.stop(), await bob.stop()
            chain.close()
    run(scenario())
