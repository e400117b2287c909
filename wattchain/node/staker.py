"""The staker: once per stake slot, try the kernel of every mature owned coin and, on a win,
build, sign and hand over a block (Qtum's ThreadStakeMiner / CreateCoinStake).

Library API::

    staker = Staker(chainstate, keys, source=mempool, policy=StakePolicy())
    block = staker.try_stake(now)           # a signed block, or None (no win / not allowed)
    chainstate.process_block(block, now)    # the caller submits it like any other block
    await staker.run(stop_event, submit)    # the loop: one try per slot, submit(block) on a win
    staker.staking_info()                   # getstakinginfo (weight, netstakeweight, ...)

Rules it keeps so its blocks are valid and honest:

- the slot time ``now & ~mask`` must be after the tip and after the tip's median time past
  (a later slot simply waits for the clock);
- a coin stakes only at depth >= ``stake_min_depth`` and, if it came from a coinbase or
  coinstake, after ``coinbase_maturity`` (the coinstake spends it);
- one attempt per (parent, slot): the kernel depends on nothing else, and signing two blocks
  for the same slot on the same parent would be equivocation (the chainstate also refuses a
  second block for the same stake and time, "duplicate-stake");
- staked coins are spent by the coinstake, so the same coin never stakes twice on one chain.

The set of candidate coins is kept current through the chainstate's events: an initial scan of
the UTXO set for the keys' scripts, incremental updates when blocks connect, and a rescan after
a block is disconnected (reorgs are rare; a rescan is simple and obviously right).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from wattchain.consensus.assemble import build_block
from wattchain.consensus.coins import Coin
from wattchain.consensus.pos import StakeKernel, next_target_bits, sign_block
from wattchain.consensus.target import bits_to_target, block_proof
from wattchain.consensus.tx_verify import is_coinstake, transaction_sigop_cost
from wattchain.core.header import StakeBlock
from wattchain.contracts import ContractFormatError
from wattchain.core.tx import OutPoint, Transaction, TxOut
from wattchain.node.block_index import BlockIndexEntry, EntryChainContext
from wattchain.node.coinstake import (CoinstakePlan, StakePolicy, StakingKeys, build_coinstake,
                                      plan_coinstake, sign_coinstake)
from wattchain.node.stake_fill import NoTransactions, TransactionSource, fill_transactions
from wattchain.script.flags import CONSENSUS_FLAGS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.chainstate import Chainstate

__all__ = ["StakeAttempt", "Staker", "StakingInfo", "DIFFICULTY_1_TARGET", "POS_INTERVAL"]

log = logging.getLogger(__name__)

#: Target of difficulty 1 (Bitcoin's 0x1d00ffff), the unit of the reported difficulty.
DIFFICULTY_1_TARGET = 0xFFFF << 208
#: Blocks averaged by the network stake weight estimate (Qtum's GetPoSKernelPS: 72).
POS_INTERVAL = 72
#: Weight kept free beyond the coinbase + coinstake block for what is added after the
#: transactions are chosen: the 65-byte block signature, a witness commitment, a longer
#: transaction count and a one-byte-longer signature per coinstake input.
_WEIGHT_MARGIN = 4 * 200


@dataclass(frozen=True)
class StakingInfo:
    """getstakinginfo's numbers (Qtum's field names in :meth:`to_dict`)."""

    enabled: bool
    staking: bool
    #: Sum of the values of coins that may stake the next block (base units).
    weight: int
    #: Estimated stake of the whole network (base units), Qtum's GetPoSKernelPS.
    netstakeweight: int
    #: Expected seconds to this staker's next block: spacing x netweight / weight.
    expectedtime: int
    difficulty: float
    #: Seconds covered by the last search (slot time minus the previous searched slot time).
    search_interval: int
    last_stake_time: int | None
    last_stake_height: int | None
    candidates: int
    blocks_staked: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StakeAttempt:
    """What the last :meth:`Staker.try_stake` call looked at (for logs and tests)."""

    parent_hash: bytes
    slot: int
    coins_tried: int
    won: bool


class Staker:
    """Produces PoS blocks for the coins of ``keys`` on ``chainstate`` (module docstring)."""

    def __init__(self, chainstate: "Chainstate", keys: StakingKeys, *,
                 source: TransactionSource | None = None, policy: StakePolicy = StakePolicy(),
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.chainstate = chainstate
        self.params = chainstate.params
        self.keys = keys
        self.source: TransactionSource = source if source is not None else NoTransactions()
        self.policy = policy
        self.clock = clock
        self.sleep = sleep
        self.enabled = True
        self._coins: dict[OutPoint, Coin] = {}
        self._scripts: frozenset[bytes] = frozenset()
        self._needs_rescan = True
        self._last_attempt: tuple[bytes, int] | None = None
        self._last_search_slot: int | None = None
        self._search_interval = 0
        self.last_attempt: StakeAttempt | None = None
        self.last_stake_time: int | None = None
        self.last_stake_height: int | None = None
        self.blocks_staked = 0
        chainstate.subscribe(self)

    # ------------------------------------------------------------------ control
    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    # ------------------------------------------------------------------ chain events
    def block_connected(self, block: StakeBlock, entry: BlockIndexEntry) -> None:
        if self._needs_rescan:
            return
        height = entry.height
        for position, tx in enumerate(block.transactions):
            if position:
                for txin in tx.inputs:
                    self._coins.pop(txin.prevout, None)
            coinbase = position == 0
            coinstake = position == 1 and height > 0 and is_coinstake(tx)
            txid = tx.txid
            for index, out in enumerate(tx.outputs):
                if out.script_pubkey in self._scripts:
                    self._coins[OutPoint(txid, index)] = Coin(out, height, coinbase, coinstake)

    def block_disconnected(self, block: StakeBlock, entry: BlockIndexEntry) -> None:
        # Coins the block spent come back from undo data we do not see: rescan lazily.
        self._needs_rescan = True

    def tip_changed(self, tip: BlockIndexEntry) -> None:
        """Nothing to do: connects/disconnects already updated the coins."""

    def _refresh(self) -> None:
        scripts = frozenset(self.keys.staking_scripts())
        if scripts != self._scripts:
            self._scripts = scripts
            self._needs_rescan = True
        if not self._needs_rescan:
            return
        self.chainstate.flush()
        self._coins = {outpoint: coin
                       for outpoint, coin in self.chainstate.coins_db.iterate_coins()
                       if coin.output.script_pubkey in scripts}
        self._needs_rescan = False

    # ------------------------------------------------------------------ coins
    def _spendable(self, coin: Coin, height: int) -> bool:
        """Whether ``coin`` may be spent by a transaction of a block at ``height``."""
        if coin.is_coinbase or coin.is_coinstake:
            return self.params.generated_coin_mature(coin.height, height)
        return True

    def _stakeable(self, coin: Coin, height: int) -> bool:
        return (coin.output.value > 0 and self._spendable(coin, height)
                and self.params.stake_deep_enough(coin.height, height))

    def _spent_in_mempool(self, outpoint: OutPoint) -> bool:
        """Spent by a pooled transaction, or by a wallet transaction the keys' owner knows of
        (``StakingKeys.is_spent``, optional) that may not have reached the pool yet."""
        spender_of = getattr(self.source, "spender_of", None)
        if spender_of is not None and spender_of(outpoint) is not None:
            return True
        is_spent = getattr(self.keys, "is_spent", None)
        return is_spent is not None and bool(is_spent(outpoint))

    def stakeable_coins(self) -> list[tuple[OutPoint, Coin]]:
        """Coins that may stake the child of the tip, in a fixed (outpoint) order."""
        self._refresh()
        height = self.chainstate.tip_entry.height + 1
        # Never stake a coin a pooled transaction spends (Qtum's AvailableCoinsForStaking
        # skips wallet-spent coins): the block would confirm the coinstake and silently
        # conflict the payment the user just made.
        coins = [(outpoint, coin) for outpoint, coin in self._coins.items()
                 if self._stakeable(coin, height) and not self._spent_in_mempool(outpoint)]
        coins.sort(key=lambda item: (item[0].txid, item[0].index))
        return coins

    def weight(self) -> int:
        return sum(coin.output.value for _, coin in self.stakeable_coins())

    # ------------------------------------------------------------------ staking
    def slot_for(self, now: float) -> int:
        return int(now) & ~self.params.stake_timestamp_mask

    def try_stake(self, now: float | None = None) -> StakeBlock | None:
        """A signed block for the current slot, or None (disabled, slot not after the tip or
        its median time past, slot already tried on this tip, or no winning kernel)."""
        if not self.enabled:
            return None
        now = self.clock() if now is None else now
        slot = self.slot_for(now)
        tip = self.chainstate.tip_entry
        if slot <= tip.time or slot <= tip.median_time_past():
            return None
        if self._last_attempt == (tip.hash, slot):
            return None
        self._last_attempt = (tip.hash, slot)
        if self._last_search_slot is not None:
            self._search_interval = max(0, slot - self._last_search_slot)
        self._last_search_slot = slot
        coins = self.stakeable_coins()
        bits = next_target_bits(EntryChainContext(tip), self.params)
        chain = self.chainstate.chain
        for outpoint, coin in coins:
            kernel = StakeKernel(tip.stake_modifier, chain[coin.height].time, outpoint, slot)
            if not kernel.meets_target(bits, coin.output.value):
                continue
            block = self._build(tip, slot, bits, (outpoint, coin), coins)
            if block is None:
                continue
            self.last_attempt = StakeAttempt(tip.hash, slot, len(coins), True)
            self.last_stake_time = slot
            self.last_stake_height = tip.height + 1
            self.blocks_staked += 1
            return block
        self.last_attempt = StakeAttempt(tip.hash, slot, len(coins), False)
        return None

    def _build(self, tip: BlockIndexEntry, slot: int, bits: int,
               stake: tuple[OutPoint, Coin],
               coins: list[tuple[OutPoint, Coin]]) -> StakeBlock | None:
        params = self.params
        height = tip.height + 1
        block_key = self.keys.block_key_for_script(stake[1].output.script_pubkey)
        if block_key is None:
            log.warning("no block key for stake %s; skipped", stake[0])
            return None
        spendable = [item for item in self._coins.items() if self._spendable(item[1], height)
                     and not self._spent_in_mempool(item[0])]
        plan = plan_coinstake(stake, spendable, self.policy)
        subsidy = params.block_subsidy(height)
        # Room left for transactions: the block without them, with the largest payout
        # (split) shape, plus a margin for what is added after the choice.
        sizing = self._coinstake(plan, max(subsidy, self.policy.split_threshold + 1))
        base = build_block(tip.hash, height, slot, bits, (), params, coinstake=sizing,
                           witness_commitment=True)
        max_weight = params.max_block_weight - base.weight - _WEIGHT_MARGIN
        stake_sigops = transaction_sigop_cost(sizing, [coin for _, coin in plan.inputs],
                                              CONSENSUS_FLAGS)
        max_sigops = params.max_block_sigops_cost - stake_sigops
        selected = self.source.select_for_block(max(0, max_weight), max(0, max_sigops))
        filled = fill_transactions(selected, self.chainstate.get_coin, plan.spent_outpoints,
                                   height, max(0, max_weight), max(0, max_sigops),
                                   contract_params=params.contracts)
        # The contract outputs run on a throwaway copy of the tip state: the header commits
        # to the new root and the coinstake ends with the refunds (contract_rules). Unused
        # gas comes out of the fees claimed; a failed output's value is paid on top.
        try:
            execution = self.chainstate.preview_contracts(filled.transactions, height, slot)
        except ContractFormatError as exc:
            log.warning("candidate block has invalid contract outputs (%s); skipped", exc)
            return None
        gas_refund = sum((r.gas_limit - r.gas_used) * r.gas_price for r in execution.receipts)
        coinstake = self._coinstake(plan, subsidy + filled.fees - gas_refund, execution.refunds)
        block = build_block(tip.hash, height, slot, bits, filled.transactions, params,
                            coinstake=coinstake, state_root=execution.state_root)
        return sign_block(block, block_key.secret, block_key.compressed)

    def _coinstake(self, plan: CoinstakePlan, reward: int,
                   refunds: Sequence[TxOut] = ()) -> Transaction:
        unsigned = build_coinstake(plan, reward, self.policy)
        if refunds:
            unsigned = Transaction(unsigned.version, unsigned.inputs,
                                   unsigned.outputs + tuple(refunds), unsigned.locktime)
        return sign_coinstake(unsigned, plan, self.keys.signing_provider)

    # ------------------------------------------------------------------ loop
    async def run(self, stop_event: asyncio.Event,
                  submit: Callable[[StakeBlock], object]) -> None:
        """Try once per slot until ``stop_event`` is set; ``submit(block)`` (sync or async)
        gets every block won. Errors of one attempt are logged, not fatal."""
        step = self.params.stake_timestamp_mask + 1
        while not stop_event.is_set():
            now = self.clock()
            try:
                block = self.try_stake(now)
            except Exception:  # noqa: BLE001 - one bad attempt must not stop staking
                log.exception("stake attempt failed")
                block = None
            if block is not None:
                outcome = submit(block)
                if inspect.isawaitable(outcome):
                    await outcome
            next_slot = (int(now) // step + 1) * step
            await self._wait(stop_event, max(0.0, next_slot - now))

    async def _wait(self, stop_event: asyncio.Event, delay: float) -> None:
        sleeper = asyncio.ensure_future(self.sleep(delay))
        stopper = asyncio.ensure_future(stop_event.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                if not task.done():
                    task.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)

    # ------------------------------------------------------------------ info
    def net_stake_weight(self) -> int:
        """Qtum's GetPoSKernelPS in exact integers: over the last ``POS_INTERVAL`` block gaps
        (the genesis excluded, its time is a fixed date), the work of the blocks divided by the
        seconds they took, times the slot length. A block of target ``t`` is won per slot with
        probability ``stake x (t + 1) / 2**256``, so ``work x slot / spacing`` is the stake
        that yields the observed pace."""
        walk = self.chainstate.tip_entry
        work = seconds = count = 0
        while count < POS_INTERVAL and walk.parent is not None and walk.parent.height >= 1:
            work += block_proof(walk.header.bits)
            seconds += walk.time - walk.parent.time
            count += 1
            walk = walk.parent
        if seconds <= 0:
            return 0
        return work * (self.params.stake_timestamp_mask + 1) // seconds

    def staking_info(self) -> StakingInfo:
        tip = self.chainstate.tip_entry
        weight = self.weight()
        net = self.net_stake_weight()
        staking = self.enabled and weight > 0 and self._last_search_slot is not None
        expected = self.params.target_spacing * net // weight if staking and weight else 0
        try:
            difficulty = DIFFICULTY_1_TARGET / bits_to_target(tip.header.bits)
        except (ValueError, ZeroDivisionError):
            difficulty = 0.0
        return StakingInfo(enabled=self.enabled, staking=staking, weight=weight,
                           netstakeweight=net, expectedtime=expected, difficulty=difficulty,
                           search_interval=self._search_interval,
                           last_stake_time=self.last_stake_time,
                           last_stake_height=self.last_stake_height,
                           candidates=len(self._coins), blocks_staked=self.blocks_staked)
