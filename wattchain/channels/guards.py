"""The chain listeners that keep a channel node's money safe, attached in one call.

A :class:`ChannelNode` alone only follows funding confirmations and cooperative closes. Safety
on chain takes three more listeners, each with one job: the breach watcher (revoked
commitments, ``watcher.py``), the unilateral-close resolver (sweeps and HTLC claims,
``resolver.py``) and the HTLC deadline enforcer (``deadline.py``). Every embedding (node
daemon, demo, tests) should attach all of them, in this order, through :func:`guard` — which
also subscribes the node's outbox (re-broadcasts after reorgs) and, given the chainstate,
first catches up with it (``recovery.py``: restart in the middle of a resolution).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wattchain.channels.deadline import DeadlineEnforcer
from wattchain.channels.recovery import ChainReader, catch_up
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
          sweep_script: bytes | None = None, chain: ChainReader | None = None) -> Guards:
    """Subscribe ``node``, its outbox and its three guards with ``subscribe``
    (``Chainstate.subscribe``); sweeps and penalties pay ``sweep_script`` (default: the node's
    close script). With ``chain`` (the chainstate) the guards first catch up with it
    (:func:`recovery.catch_up`: what a node restarted mid-resolution must do)."""
    guards = Guards(BreachWatcher(node, sweep_script), UnilateralResolver(node, sweep_script),
                    DeadlineEnforcer(node))
    if chain is not None:
        catch_up(node, guards, chain)
    subscribe(node.outbox)
    subscribe(node)
    subscribe(guards.watcher)
    subscribe(guards.resolver)
    subscribe(guards.deadlines)
    return guards
