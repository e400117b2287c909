"""The chain listeners that keep a channel node's money safe, attached in one call.

A :class:`ChannelNode` alone only follows funding confirmations and cooperative closes. Safety
on chain takes three more listeners, each with one job: the breach watcher (revoked
commitments, ``watcher.py``), the unilateral-close resolver (sweeps and HTLC claims,
``resolver.py``) and the HTLC deadline enforcer (``deadline.py``). Every embedding (node
daemon, demo, tests) should attach all of them, in this order, through :func:`guard`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wattchain.channels.deadline import DeadlineEnforcer
from wattchain.channels.resolver import UnilateralResolver
from wattchain.channels.watcher import BreachWatcher

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.node import ChannelNode


@dataclass(frozen=True)
class Guards:
    watcher: BreachWatcher
    resolver: UnilateralResolver
    deadlines: DeadlineEnforcer


def guard(node: "ChannelNode", subscribe: Callable[[Any], None],
          sweep_script: bytes | None = None) -> Guards:
    """Subscribe ``node`` and its three guards with ``subscribe`` (``Chainstate.subscribe``);
    sweeps and penalties pay ``sweep_script`` (default: the node's close script)."""
    guards = Guards(BreachWatcher(node, sweep_script), UnilateralResolver(node, sweep_script),
                    DeadlineEnforcer(node))
    subscribe(node)
    subscribe(guards.watcher)
    subscribe(guards.resolver)
    subscribe(guards.deadlines)
    return guards
