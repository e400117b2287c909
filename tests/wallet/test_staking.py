"""The wallet as the staker's key source: a real Staker stakes the wallet's coin on a real
chainstate, only while the wallet is unlocked (staking-only is enough)."""

from __future__ import annotations

import random
from pathlib import Path

from wattchain.core.tx import COIN
from wattchain.node.staker import Staker
from wattchain.script.address import script_from_address
from wattchain.wallet.wallet import Wallet

from .helpers import FAST_SCRYPT, MNEMONIC_B, Chain


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:  # pragma: no cover - the loop is not run
        self.now += delay


def test_wallet_stakes_only_when_unlocked(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    clock = Clock(float(chain.params.genesis_time))
    wallet = Wallet.create(tmp_path / "w", chain.params, mnemonic=MNEMONIC_B, sync=False,
                           clock=clock, rng=random.Random(2))
    wallet.attach(chain.cs)
    script = script_from_address(wallet.get_new_address(), wallet.fmt)
    chain.mine([chain.payment(script, 40 * COIN)])
    chain.mine()
    wallet.encrypt("pw", FAST_SCRYPT)
    staker = Staker(chain.cs, wallet.staking_keys(), clock=clock, sleep=clock.sleep)
    # Locked: nothing to stake with.
    assert staker.stakeable_coins() == []
    wallet.unlock("pw", None, staking_only=True)
    [(outpoint, coin)] = staker.stakeable_coins()
    assert coin.output.script_pubkey == script and coin.output.value == 40 * COIN
    clock.now = float(chain.branch.tip.header.time)
    block = None
    for _ in range(5000):
        clock.now += 1
        block = staker.try_stake(clock.now)
        if block is not None:
            break
    assert block is not None and block.header.prevout_stake == outpoint
    result = chain.cs.process_block(block, int(clock.now))
    assert result.accepted and result.became_tip
    balances = wallet.get_balances()["mine"]
    reward = chain.params.block_subsidy(chain.cs.tip.height)
    staked = sum(o.value for o in block.transactions[1].outputs)
    assert staked == 40 * COIN + reward
    # Maturity 1 on generated chains: the coinstake output is already spendable.
    assert balances["trusted"] * COIN == staked
    generated = [r for r in wallet.list_transactions() if r.get("generated")]
    assert generated[-1]["amount"] * COIN == reward
    wallet.close()
    chain.close()


def test_staker_leaves_coins_the_wallet_already_spends(tmp_path: Path) -> None:
    """A payment built by the wallet but not yet in the mempool (the RPC's create-then-submit
    window) must not lose its input to our own stake."""
    chain = Chain(tmp_path)
    wallet = Wallet.create(tmp_path / "w", chain.params, mnemonic=MNEMONIC_B, sync=False,
                           rng=random.Random(3))
    wallet.attach(chain.cs)
    script = script_from_address(wallet.get_new_address(), wallet.fmt)
    chain.mine([chain.payment(script, 40 * COIN), chain.payment(script, 30 * COIN)])
    chain.mine()
    staker = Staker(chain.cs, wallet.staking_keys())
    assert len(staker.stakeable_coins()) == 2
    # built, signed and recorded by the wallet; not submitted anywhere
    tx = wallet.send_to_address(wallet.get_new_address(), 5 * COIN, 1000)
    spent = {txin.prevout for txin in tx.inputs}
    left = [outpoint for outpoint, _ in staker.stakeable_coins()]
    assert left and not spent & set(left)
