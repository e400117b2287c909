"""Notifications from the chainstate to the parts of a node that follow the active chain.

The mempool (drop confirmed and conflicting transactions, re-add those of disconnected blocks),
the staker (its spendable coins) and the wallet subscribe with :meth:`Chainstate.subscribe`.
Callbacks run synchronously in the thread that called ``process_block``, *after* the change is
committed to disk, so a listener that fails cannot corrupt chain state: its exception is logged
and swallowed. During a reorg the order is: every ``block_disconnected`` (tip first), then every
``block_connected`` (lowest first), then one ``tip_changed`` — the point where Core's
UpdateMempoolForReorg runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.core.header import StakeBlock
    from wattchain.node.block_index import BlockIndexEntry

log = logging.getLogger(__name__)


class ChainListener(Protocol):
    """What a subscriber implements (methods it does not need may simply do nothing)."""

    def block_connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        """``block`` (at ``entry.height``) joined the active chain."""

    def block_disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        """``block`` left the active chain; its parent is the tip now."""

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        """One activation step finished with a different tip (after all connects/disconnects)."""


class ChainEvents:
    """The subscriber list; one per chainstate (no module-level state)."""

    def __init__(self) -> None:
        self._listeners: list[ChainListener] = []

    def subscribe(self, listener: ChainListener) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def unsubscribe(self, listener: ChainListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, method: str, *args: object) -> None:
        for listener in list(self._listeners):
            callback = getattr(listener, method, None)
            if callback is None:
                continue
            try:
                callback(*args)
            except Exception:  # noqa: BLE001 - a listener must never break chain state
                log.exception("chain listener %r failed in %s", listener, method)

    def connected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        self._emit("block_connected", block, entry)

    def disconnected(self, block: "StakeBlock", entry: "BlockIndexEntry") -> None:
        self._emit("block_disconnected", block, entry)

    def tip_changed(self, tip: "BlockIndexEntry") -> None:
        self._emit("tip_changed", tip)
