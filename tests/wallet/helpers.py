"""A real chainstate (LevelDB in tmp_path) driven by chaingen's PoS branch, for wallet tests."""

from __future__ import annotations

from pathlib import Path

from wattchain.consensus.params import ChainParams
from wattchain.core.header import StakeBlock
from wattchain.core.tx import COIN, Transaction, TxIn, TxOut
from wattchain.node.chaingen import Branch, far_future_now, generated_params, make_keys, \
    sign_transaction
from wattchain.node.chainstate import Chainstate
from wattchain.wallet.crypto import ScryptParams
from wattchain.wallet.wallet import Wallet

#: Cheap scrypt for tests (the default costs ~0.1 s per derivation).
FAST_SCRYPT = ScryptParams(n=1 << 10, r=8, p=1)

MNEMONIC_A = ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
              "abandon about")
MNEMONIC_B = "legal winner thank year wave sausage worth useful legal winner thank yellow"
MNEMONIC_C = ("letter advice cage absurd amount doctor acoustic avoid letter advice cage above")


class Chain:
    """Stakers' keys hold the premine; :meth:`pay` moves coins to any script in a block."""

    def __init__(self, root: Path) -> None:
        self.keys = make_keys(2, seed=7)
        self.params: ChainParams = generated_params(self.keys, outputs_per_key=6)
        self.branch = Branch(self.params, self.keys)
        self.cs = Chainstate.open(root / "node", self.params, sync=False)
        self.now = far_future_now(self.params)

    def close(self) -> None:
        self.cs.close()

    def mine(self, txs: list[Transaction] = (), branch: Branch | None = None) -> StakeBlock:
        branch = branch or self.branch
        block = branch.add(branch.make_block(list(txs)))
        result = self.cs.process_block(block, self.now)
        assert result.accepted, (result.reason, result.detail)
        return block

    def payment(self, script: bytes, value: int, branch: Branch | None = None) -> Transaction:
        """A signed tx paying ``value`` to ``script`` from a staker coin (not yet mined)."""
        branch = branch or self.branch
        coin = next(c for c in branch.mature_coins() if c.key is not None
                    and c.output.value > value + COIN
                    and c.outpoint not in branch.staked)
        rest = coin.output.value - value - 10_000
        unsigned = Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),),
                               (TxOut(value, script), TxOut(rest, coin.key.script_pubkey)), 0)
        tx = sign_transaction(unsigned, [coin])
        branch.coins.pop(coin.outpoint)  # do not pick it again before it is mined
        return tx


def open_wallet(path: Path, chain: Chain, mnemonic: str | None = MNEMONIC_A,
                **kwargs: object) -> Wallet:
    import random
    wallet = Wallet.create(path, chain.params, mnemonic=mnemonic, sync=False,
                           rng=random.Random(5), clock=lambda: chain.params.genesis_time + 10**6,
                           **kwargs)  # type: ignore[arg-type]
    return wallet
