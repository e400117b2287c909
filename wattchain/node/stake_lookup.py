"""Finding a block's staked coin before the block is stored (the "Fake Stake" defence).

A PoS block must prove its stake *before* a node spends disk or memory on it (pos.md,
"Defences"): otherwise anyone can fill a node with blocks that only fail once connected. The
stake check needs the staked coin as it stands on the block's own branch, which is not always
the active UTXO set. :class:`StakeCoinFinder` answers for a parent entry ``P`` whose fork point
with the active chain is ``F``:

1. walk the stored blocks of the side branch from ``P`` down to ``F`` (exclusive): a spend of
   the outpoint there means it is gone on this branch, its creation there gives the coin;
2. otherwise the coin must have existed at ``F``: if the active UTXO set holds it with height
   ``<= F``, that is it;
3. otherwise it may have been spent on the active chain above ``F``: the undo data of those
   blocks holds the coin as it was.

Steps 1 and 3 read at most ``max_reorg_depth`` blocks (deeper forks are refused earlier) and
only run for blocks off the tip, which honest peers rarely send; the common case (a child of
the tip) is one UTXO lookup.

Two further rules live here because they need the index, not a single branch:

- *stake already used*: a coin staked by an active-chain block above the fork may not stake a
  competing block (the same coin signing two branches is the nothing-at-stake equivocation).
  Honest stakers only restake a coin on a branch after their node moved to it, when that branch
  already has more work, so this never holds back an honest reorg;
- *duplicate stake*: one (outpoint, time) pair may back only one stored block. A winning kernel
  covers neither the transactions nor the signature bytes, so without this a staker could
  sign unlimited distinct blocks from one kernel (Peercoin's setStakeSeen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wattchain.consensus.connect import BlockUndo
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.pos import StakeCoin
from wattchain.core.errors import DecodeError
from wattchain.core.tx import OutPoint
from wattchain.node import schema
from wattchain.node.block_index import BlockIndexEntry
from wattchain.node.errors import StorageError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.chainstate import Chainstate


class StakeCoinFinder:
    """Stake lookups and the stake-reuse rules over one chainstate (see module docstring)."""

    def __init__(self, chainstate: "Chainstate") -> None:
        self.cs = chainstate
        #: (staked outpoint, block time) -> hash of the stored block that used it.
        self._seen: dict[tuple[OutPoint, int], bytes] = {}

    # ------------------------------------------------------------------ seen stakes
    def remember(self, entry: BlockIndexEntry) -> None:
        header = entry.header
        if header.is_proof_of_stake():
            self._seen.setdefault((header.prevout_stake, header.time), entry.hash)

    def check_reuse(self, block_hash: bytes, prevout: OutPoint, time: int,
                    parent: BlockIndexEntry) -> None:
        """Raise ``duplicate-stake`` / ``stake-already-used`` (see the module docstring)."""
        other = self._seen.get((prevout, time))
        if other is not None and other != block_hash:
            raise BlockValidationError("duplicate-stake",
                                       f"stake {prevout} at time {time} already backs block "
                                       f"{other[::-1].hex()}")
        chain = self.cs.chain
        fork = chain.find_fork(parent)
        assert fork is not None
        tip = chain.tip
        assert tip is not None
        for height in range(tip.height, fork.height, -1):
            if chain[height].header.prevout_stake == prevout:
                raise BlockValidationError("stake-already-used",
                                           f"stake {prevout} already staked active block at "
                                           f"height {height}")

    # ------------------------------------------------------------------ coin lookup
    def find(self, prevout: OutPoint, parent: BlockIndexEntry) -> StakeCoin | None:
        """The coin at ``prevout`` as unspent on the branch ending at ``parent``, or None."""
        chain = self.cs.chain
        fork = chain.find_fork(parent)
        assert fork is not None
        walk: BlockIndexEntry | None = parent
        while walk is not None and walk is not fork:
            block = self.cs.read_block(walk)
            if any(txin.prevout == prevout for tx in block.transactions[1:]
                   for txin in tx.inputs):
                return None  # spent on this branch (at or above where it was made)
            for tx in block.transactions:
                if tx.txid == prevout.txid:
                    if prevout.index >= len(tx.outputs):
                        return None
                    return StakeCoin(tx.outputs[prevout.index], walk.height, walk.header.time)
            walk = walk.parent
        coin = self.cs.get_coin(prevout)
        if coin is not None:
            if coin.height > fork.height:
                return None  # created on the active chain after the fork: not on this branch
            return StakeCoin(coin.output, coin.height, chain[coin.height].header.time)
        return self._spent_above_fork(prevout, fork)

    def _spent_above_fork(self, prevout: OutPoint, fork: BlockIndexEntry) -> StakeCoin | None:
        chain = self.cs.chain
        tip = chain.tip
        assert tip is not None
        for height in range(tip.height, fork.height, -1):
            entry = chain[height]
            block = self.cs.read_block(entry)
            for position, tx in enumerate(block.transactions[1:], start=1):
                for index, txin in enumerate(tx.inputs):
                    if txin.prevout != prevout:
                        continue
                    coin = self._undo_coin(entry, position, index)
                    if coin.height > fork.height:
                        return None
                    return StakeCoin(coin.output, coin.height, chain[coin.height].header.time)
        return None

    def _undo_coin(self, entry: BlockIndexEntry, position: int, index: int):  # type: ignore[no-untyped-def]
        raw = self.cs.store.get(schema.undo_key(entry.hash))
        if raw is None:
            raise StorageError(f"undo data missing for {entry!r}")
        try:
            undo = BlockUndo.deserialize(raw)
            return undo.tx_undo[position - 1][index]
        except (DecodeError, IndexError) as exc:
            raise StorageError(f"corrupt undo data for {entry!r}: {exc}") from exc
