"""The node's components, handed to the RPC server (and anything else that serves requests).

One container instead of globals: the daemon builds it, the RPC methods read it. Components that
are switched off (no wallet, no networking, no staking) are None, and each RPC method answers
those cases with Core's "disabled" error.

Threading: the chainstate, mempool and wallet are not thread-safe, so every call into them goes
through :meth:`NodeServices.call`, which runs it on ONE worker thread. When a started
:class:`~wattchain.p2p.node.P2PNode` is present its chainstate thread is used instead, so the P2P
layer and the RPC server never touch the chainstate from two threads at once.
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from wattchain import __version__ as _package_version

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.channels.service import ChannelService
    from wattchain.consensus.params import ChainParams
    from wattchain.node.chainstate import Chainstate
    from wattchain.node.mempool import Mempool
    from wattchain.node.staker import Staker
    from wattchain.p2p.node import P2PNode

T = TypeVar("T")

def _numeric_version(text: str) -> int:
    """Client version as Core encodes it (major*10000 + minor*100 + patch): 0.1.0 -> 100."""
    parts = [int(p) for p in (text.split(".") + ["0", "0"])[:3] if p.isdigit()]
    while len(parts) < 3:
        parts.append(0)
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


@dataclass
class NodeServices:
    """Everything a request handler may use (see the module docstring)."""

    params: "ChainParams"
    chainstate: "Chainstate"
    mempool: "Mempool | None" = None
    p2p: "P2PNode | None" = None
    wallet: Any = None
    staker: "Staker | None" = None
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="node"))
    #: When the node started, on ``clock`` (None: now, at construction).
    started_at: float | None = None
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    version: str = _package_version
    user_agent: str = f"/wattchain:{_package_version}/"
    #: The node's clock ("now" for mempool acceptance and uptime); tests pass a fixed one.
    clock: Callable[[], float] = time.time
    #: The payment-channel service (``channels=1``), or None.
    channels: "ChannelService | None" = None

    def __post_init__(self) -> None:
        if self.started_at is None:
            self.started_at = self.clock()

    @property
    def numeric_version(self) -> int:
        return _numeric_version(self.version)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the node's single chainstate thread."""
        bound = functools.partial(fn, *args, **kwargs)
        p2p = self.p2p
        if p2p is not None and getattr(p2p, "loop", None) is not None:
            return await p2p.run(bound)
        return await asyncio.get_running_loop().run_in_executor(self.executor, bound)

    def close(self) -> None:
        """Stop the worker thread (after the server stopped using it)."""
        self.executor.shutdown(wait=True)
