"""``wattchain node``: one validator process — chainstate, mempool, P2P, wallet, staker, RPC.

Start-up order matters for consistency: the datadir lock first (a second node on the same
datadir refuses to start), then the chainstate (which finishes any interrupted work on open),
the mempool (reloaded from ``mempool.dat`` and re-validated), the wallet (caught up to the
chain *before* anything else can move the tip), then networking, staking and the RPC server.
Shutdown (SIGINT, SIGTERM or the ``stop`` RPC) runs the same list backwards and flushes state:
the mempool is saved, the wallet and the chainstate are closed (coins cache + best block in one
batch), and the lock is released last. A node killed at any instant instead restarts from what
the atomic batches left (see node/chainstate.py).

Threading: the chainstate, mempool, wallet and staker are touched only on the P2P node's single
chainstate thread (:meth:`P2PNode.run`), from the RPC server, the P2P layer and the staking
loop alike; the event loop itself never blocks on validation.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattchain.channels.service import ChannelService
from wattchain.consensus.params import ChainParams
from wattchain.consensus.script_checks import ScriptVerifier
from wattchain.node.chainstate import Chainstate
from wattchain.node.config import WALLET_DIRNAME, NodeConfig
from wattchain.node.datadir_lock import DataDirLock
from wattchain.node.mempool import Mempool
from wattchain.node.policy import MempoolPolicy
from wattchain.node.services import NodeServices
from wattchain.node.staker import Staker
from wattchain.p2p.node import P2PNode
from wattchain.rpc.server import RpcServer
from wattchain.script import sigcore
from wattchain.script.sigcache import SignatureCache
from wattchain.wallet.wallet import Wallet

log = logging.getLogger(__name__)

MEMPOOL_FILENAME = "mempool.dat"
#: Progress lines while catching up: one per this many blocks (and every block near the tip).
PROGRESS_EVERY = 100


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    return host, int(port)


class _ProgressLogger:
    """Chain listener printing Core-style ``UpdateTip`` lines (on the chainstate thread)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock

    def tip_changed(self, tip: Any) -> None:
        behind = self.clock() - tip.header.time
        if tip.height % PROGRESS_EVERY and behind > 120:
            return
        log.info("UpdateTip", extra={"fields": {
            "height": tip.height, "best": tip.hash[::-1].hex(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tip.header.time)),
            "behind_s": max(0, int(behind))}})


class Node:
    """A running node; ``await Node(config).run()`` until a signal or the ``stop`` RPC."""

    def __init__(self, config: NodeConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.params: ChainParams = config.chain_params()
        self.datadir = Path(config.datadir)
        self.lock = DataDirLock(self.datadir)
        self.shutdown = asyncio.Event()
        self.chainstate: Chainstate | None = None
        self.mempool: Mempool | None = None
        self.wallet: Wallet | None = None
        self.p2p: P2PNode | None = None
        self.staker: Staker | None = None
        self.rpc: RpcServer | None = None
        self.services: NodeServices | None = None
        self.channels: ChannelService | None = None
        self._verifier: ScriptVerifier | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        config, params = self.config, self.params
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        log.info("starting", extra={"fields": {
            "network": params.name, "datadir": str(self.datadir),
            "genesis": params.genesis_hash[::-1].hex(),
            "signature_backend": sigcore.backend_name()}})
        sigcache = SignatureCache()
        self._verifier = ScriptVerifier(sigcache=sigcache)
        self.chainstate = Chainstate.open(self.datadir, params,
                                          cache_bytes=config.dbcache * 1024 * 1024,
                                          script_verifier=self._verifier)
        self.chainstate.subscribe(_ProgressLogger(self.clock))
        policy = MempoolPolicy(max_bytes=config.maxmempool * 1_000_000)
        self.mempool = Mempool(self.chainstate, policy, clock=self.clock, sigcache=sigcache,
                               verifier=sigcore.verify_ecdsa)
        mempool_file = self.datadir / MEMPOOL_FILENAME
        if mempool_file.exists():
            try:
                log.info("mempool reloaded", extra={"fields": {
                    "transactions": self.mempool.load(mempool_file)}})
            except Exception:  # noqa: BLE001 - a bad mempool file must not stop the node
                log.exception("could not reload %s; starting with an empty mempool",
                              mempool_file)
        if config.wallet:
            self.wallet = self._open_wallet()
            self.wallet.attach(self.chainstate, self.mempool)  # also hears mempool txs
        self.p2p = P2PNode(self.chainstate, self.mempool, params, host=config.bind,
                           port=config.p2p_port if config.listen else 0,
                           datadir=self.datadir, clock=self.clock,
                           max_outbound=config.maxoutbound,
                           max_inbound=max(0, config.maxconnections - config.maxoutbound),
                           discover=config.discover and not config.connect)
        await self.p2p.start()
        for peer in config.connect or config.addnode:
            host, port = split_host_port(peer, params.default_port)
            try:
                await self.p2p.connect(host, port, persistent=True)
            except Exception as exc:  # noqa: BLE001 - persistent peers are redialled
                log.info("peer not reachable yet, will retry", extra={"fields": {
                    "peer": peer, "error": str(exc)}})
        if self.wallet is not None:
            self.staker = Staker(self.chainstate, self.wallet.staking_keys(),
                                 source=self.mempool, clock=self.clock)
            if not config.staking:
                self.staker.disable()
        if config.channels:
            self.channels = await ChannelService.start(
                self.datadir, self.p2p, self.chainstate, self.wallet, host=config.bind,
                port=config.channelport)
        self.services = NodeServices(params, self.chainstate, self.mempool, self.p2p,
                                     self.wallet, self.staker, shutdown=self.shutdown,
                                     clock=self.clock, channels=self.channels)
        self.rpc = RpcServer(self.services, host=config.rpcbind, port=config.rpc_port,
                             datadir=self.datadir, rpcuser=config.rpcuser,
                             rpcpassword=config.rpcpassword, rest=config.rest)
        await self.rpc.start()
        if self.staker is not None:
            self._tasks.append(asyncio.create_task(self._stake_loop()))
        log.info("node started", extra={"fields": {
            "p2p_port": self.p2p.port, "rpc_port": self.rpc.port,
            "height": self.chainstate.tip.height, "staking": bool(config.staking)}})

    def _open_wallet(self) -> Wallet:
        path = self.datadir / WALLET_DIRNAME
        if path.exists():
            wallet = Wallet.open(path, self.params, clock=self.clock)
        else:
            wallet = Wallet.create(path, self.params, clock=self.clock)
            log.info("created a new HD wallet; back up the wallet directory",
                     extra={"fields": {"path": str(path)}})
        if self.config.walletpassphrase and wallet.is_encrypted:
            wallet.unlock(self.config.walletpassphrase, None, staking_only=True)
        return wallet

    async def run(self) -> None:
        """Start, then wait for SIGINT/SIGTERM or the ``stop`` RPC, then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.shutdown.set)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests)
                pass
        try:
            await self.start()
            await self.shutdown.wait()
            log.info("shutdown requested")
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop everything that started, in reverse order, flushing state; idempotent."""
        self.shutdown.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.rpc is not None:
            await self.rpc.stop()
            self.rpc = None
        if self.channels is not None:
            try:
                await self.channels.stop()  # needs the P2P node's chainstate thread
            except Exception:  # noqa: BLE001 - keep shutting down
                log.exception("could not stop the channel node cleanly")
            self.channels = None
        if self.p2p is not None:
            await self.p2p.stop()  # after this no other thread touches the chainstate
            self.p2p = None
        if self.mempool is not None and self.chainstate is not None:
            try:
                self.mempool.save(self.datadir / MEMPOOL_FILENAME)
            except Exception:  # noqa: BLE001 - keep shutting down
                log.exception("could not save the mempool")
            self.mempool = None
        if self.services is not None:
            self.services.close()
            self.services = None
        if self.wallet is not None:
            self.wallet.close()
            self.wallet = None
        if self._verifier is not None:
            self._verifier.close()
            self._verifier = None
        if self.chainstate is not None:
            self.chainstate.close()
            self.chainstate = None
            log.info("chain state flushed; node stopped")
        self.lock.release()

    # ------------------------------------------------------------------ staking
    async def _stake_loop(self) -> None:
        """One stake attempt per time slot, on the chainstate thread; won blocks go through
        the P2P node so peers hear of them."""
        assert self.p2p is not None and self.staker is not None
        p2p, staker = self.p2p, self.staker
        step = self.params.stake_timestamp_mask + 1
        while not self.shutdown.is_set():
            now = self.clock()
            try:
                block = await p2p.run(staker.try_stake, int(now))
                if block is not None:
                    result = await p2p.submit_block(block)
                    log.info("staked block", extra={"fields": {
                        "hash": block.hash[::-1].hex(), "accepted": result.accepted,
                        "reason": result.reason, "txs": len(block.transactions)}})
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one failed attempt must not stop staking
                log.exception("stake attempt failed")
            next_slot = (int(now) // step + 1) * step
            try:
                await asyncio.wait_for(self.shutdown.wait(), max(0.05, next_slot - self.clock()))
            except asyncio.TimeoutError:
                pass


def run_node(config: NodeConfig) -> int:
    """Blocking entry point of ``wattchain node``; returns the process exit status."""
    from wattchain.node.datadir_lock import DataDirLockedError
    from wattchain.node.logsetup import remove_logging, setup_logging

    Path(config.datadir).mkdir(parents=True, exist_ok=True)
    handlers = setup_logging(config.datadir, config.loglevel, config.logformat,
                             config.printtoconsole)
    try:
        asyncio.run(Node(config).run())
        return 0
    except DataDirLockedError as exc:
        log.error(str(exc))
        return 1
    except OSError as exc:  # e.g. port in use
        log.error("could not start: %s", exc)
        return 1
    finally:
        remove_logging(handlers)
