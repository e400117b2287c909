"""A channel funded by the node's HD wallet (``WalletFunding`` over
``Wallet.create_transaction``): the funding tx confirms and the channel becomes usable."""

from __future__ import annotations

import random

import pytest
from harness import make_node, open_ready, run

from wattchain.channels.funding import FundingError, WalletFunding
from wattchain.channels.testchain import TestChain
from wattchain.core.tx import COIN, OutPoint
from wattchain.script.address import script_from_address
from wattchain.wallet.wallet import Wallet


def test_wallet_funds_a_channel(tmp_path) -> None:
    async def scenario() -> None:
        chain = TestChain(tmp_path / "chain")
        wallet = Wallet.create(tmp_path / "wallet", chain.params, sync=False,
                               rng=random.Random(5),
                               clock=lambda: chain.params.genesis_time + 10**6)
        wallet.attach(chain.chainstate)
        address = wallet.get_new_address()
        chain.mine([chain.pay(script_from_address(address, wallet.fmt), 2 * COIN)])
        alice, bob = make_node(chain, tmp_path, "alice"), make_node(chain, tmp_path, "bob")
        alice.funding = WalletFunding(wallet)
        await alice.start(), await bob.start()
        try:
            chan = await open_ready(chain, alice, bob, 1_000_000)
            assert alice.channels[chan.channel_id].usable
            coin = chain.chainstate.get_coin(OutPoint(chan.funding_txid, chan.funding_index))
            assert coin is not None and coin.output.value == 1_000_000
            # the wallet spent its coin for it: what is left is change only
            assert wallet.get_balances()["mine"]["trusted"] < 2
            with pytest.raises(FundingError, match="cannot fund"):
                WalletFunding(wallet).fund(b"\x00\x20" + b"\x01" * 32, 50 * COIN)
        finally:
            await alice.stop(), await bob.stop()
            wallet.close()
            chain.close()
    run(scenario())
