"""A channel node embedded in a full node (``channels=1``): the adapters between the two.

The channel node is asyncio code on the event loop; the chainstate, mempool and wallet belong
to the P2P node's single chainstate thread (``P2PNode.run``). Three adapters keep each on its
side:

* :class:`P2PBroadcaster` — the channel node's broadcasts (penalties and sweeps are made inside
  chain notifications, on the chainstate thread) are scheduled onto the loop and submitted with
  ``P2PNode.submit_transaction`` (mempool + relay); a refusal is logged, not raised: the
  outbox re-sends what a reorg or a restart needs re-sent.
* :class:`ThreadFunding` — ``WalletFunding`` run on the chainstate thread, awaited by the
  opener.
* :class:`_OnLoop` — chain notifications hop from the chainstate thread to the loop, in order,
  so the node and its guards only ever run on the loop. At start the recent chain is read on
  the chainstate thread in the same call that subscribes the hops, replayed on the loop
  (:mod:`.recovery`), and only then are the hops released.

:class:`ChannelService` builds it all — ``ChannelStore`` under ``DATADIR/channels``, a node
identity kept in that store, sweeps and closes paying a wallet address — and stops it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattchain.channels.funding import WalletFunding
from wattchain.channels.guards import Guards, guard
from wattchain.channels.node import ChannelNode, NodeConfig
from wattchain.channels.recovery import ReplayPlan, read_replay, replay
from wattchain.channels.store import ChannelStore
from wattchain.core.tx import Transaction
from wattchain.script.address import script_from_address

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry
    from wattchain.node.chainstate import Chainstate
    from wattchain.p2p.node import P2PNode
    from wattchain.wallet.wallet import Wallet

log = logging.getLogger(__name__)

CHANNELS_DIRNAME = "channels"
#: The channel port when ``channelport`` is not set (Lightning's).
DEFAULT_CHANNEL_PORT = 9735


class P2PBroadcaster:
    """``Broadcaster`` over ``P2PNode.submit_transaction``, callable from any thread."""

    def __init__(self, p2p: "P2PNode", loop: asyncio.AbstractEventLoop) -> None:
        self.p2p = p2p
        self.loop = loop

    def broadcast(self, tx: Transaction) -> None:
        self.loop.call_soon_threadsafe(self._spawn, tx)

    def _spawn(self, tx: Transaction) -> None:
        self.p2p.spawn(self._submit(tx))

    async def _submit(self, tx: Transaction) -> None:
        try:
            result = await self.p2p.submit_transaction(tx)
        except Exception as exc:  # noqa: BLE001 - MempoolRejectError and storage errors alike
            log.warning("channel tx %s refused by the mempool: %s", tx.txid_hex, exc)
            return
        if not result.accepted:
            log.info("channel tx %s not accepted: %s", tx.txid_hex, result.reason)


class ThreadFunding:
    """``FundingSource`` running :class:`WalletFunding` on the chainstate thread."""

    def __init__(self, p2p: "P2PNode", wallet: "Wallet") -> None:
        self.p2p = p2p
        self.inner = WalletFunding(wallet)

    async def fund(self, script_pubkey: bytes, amount_sat: int) -> Transaction:
        return await self.p2p.run(self.inner.fund, script_pubkey, amount_sat)


class _Gate:
    """Shared by the hops of one service: holds every notification (in emission order, across
    listeners) until the start-up replay ran, and drops them once the service stopped."""

    def __init__(self) -> None:
        self.closed = False
        self.held: list[tuple["_OnLoop", str, tuple[Any, ...]]] | None = []

    def release(self) -> None:
        held, self.held = self.held or [], None
        for hop, method, args in held:
            hop._deliver(method, args)


class _OnLoop:
    """A chain listener that re-delivers notifications to ``listener`` on ``loop``."""

    def __init__(self, listener: Any, loop: asyncio.AbstractEventLoop, gate: _Gate) -> None:
        self.listener = listener
        self.loop = loop
        self.gate = gate

    def _post(self, method: str, *args: Any) -> None:
        self.loop.call_soon_threadsafe(self._deliver, method, args)

    def _deliver(self, method: str, args: tuple[Any, ...]) -> None:
        if self.gate.closed:
            return
        if self.gate.held is not None:
            self.gate.held.append((self, method, args))
            return
        try:
            getattr(self.listener, method)(*args)
        except Exception:  # noqa: BLE001 - as Chainstate's event loop does
            log.exception("channel listener %r failed in %s", self.listener, method)

    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        self._post("block_connected", block, entry)

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        self._post("block_disconnected", block, entry)

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        self._post("tip_changed", tip)


class ChannelService:
    """The channel node of a daemon, its guards and their chain subscriptions."""

    def __init__(self, node: ChannelNode, guards: Guards, hops: list[_OnLoop], gate: _Gate,
                 p2p: "P2PNode", chainstate: "Chainstate") -> None:
        self.node = node
        self.guards = guards
        self._hops = hops
        self._gate = gate
        self._p2p = p2p
        self._chainstate = chainstate

    @classmethod
    async def start(cls, datadir: Path, p2p: "P2PNode", chainstate: "Chainstate",
                    wallet: "Wallet | None", *, host: str = "127.0.0.1",
                    port: int | None = None, config: NodeConfig = NodeConfig()
                    ) -> "ChannelService":
        """Open the store, catch up with the chain (on its thread), subscribe, listen."""
        loop = asyncio.get_running_loop()
        store = ChannelStore(Path(datadir) / CHANNELS_DIRNAME)
        close_script = None
        if wallet is not None:
            address = await p2p.run(wallet.get_new_address)
            close_script = script_from_address(address, wallet.fmt)
        node = ChannelNode(store.node_secret(), store,
                           funding=ThreadFunding(p2p, wallet) if wallet is not None else None,
                           broadcaster=P2PBroadcaster(p2p, loop), config=config,
                           height=await p2p.run(lambda: chainstate.tip.height),
                           close_script=close_script)
        hops: list[_OnLoop] = []
        gate = _Gate()

        def subscribe(listener: Any) -> None:
            hop = _OnLoop(listener, loop, gate)
            hops.append(hop)
            chainstate.subscribe(hop)

        def read_and_subscribe() -> tuple[ReplayPlan, Guards]:
            # One chainstate-thread call: no block connects between the read and the
            # subscription (later ones are held by the hops until the replay ran).
            return read_replay(node, chainstate), guard(node, subscribe)

        try:
            plan, guards = await p2p.run(read_and_subscribe)
            replay(node, guards, plan)
            gate.release()
            service = cls(node, guards, hops, gate, p2p, chainstate)
            await node.start(host, DEFAULT_CHANNEL_PORT if port is None else port)
        except BaseException:
            gate.closed = True
            for hop in hops:
                chainstate.events.unsubscribe(hop)
            store.close()
            raise
        log.info("channel node started", extra={"fields": {
            "node_id": node.node_id.hex(), "port": node.port,
            "channels": len(node.channels)}})
        return service

    async def stop(self) -> None:
        """Unsubscribe (on the chainstate thread), stop the node, close the store."""
        def unsubscribe() -> None:
            for hop in self._hops:
                self._chainstate.events.unsubscribe(hop)
        await self._p2p.run(unsubscribe)
        self._gate.closed = True
        await self.node.stop()
        self.node.store.close()
