"""The staker's keys and coinstake construction (Qtum's CreateCoinStake, minus the search).

Kept apart from the staking loop because it is pure: given the winning coin, the staker's other
small coins and the reward, it decides the coinstake's inputs and outputs by a
:class:`StakePolicy` and signs it. The policy mirrors Qtum's wallet options:

- **combine**: small outputs of the stake's own script (each below ``combine_threshold``) join
  the stake while the running total is below that threshold, up to ``max_combine_inputs``
  inputs. Many tiny coins each have a tiny kernel chance and cost a signature each time they
  are spent; merging them into a stake that wins anyway costs nothing extra in chances.
- **split**: a total above ``split_threshold`` is paid back as two halves, so one whale output
  does not lock the owner's whole stake for the maturity period after every win.

Only the stake's own script receives outputs (the block signer proves ownership of exactly that
script), and outputs are ``[marker (value 0, empty script), payout...]`` as consensus requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from wattchain.consensus.coins import Coin
from wattchain.core.hashes import hash160
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.script.sign import KeyStore, SigningProvider, sign_transaction
from wattchain.script.standard import p2pk, p2pkh, p2wpkh

__all__ = ["BlockKey", "CoinstakePlan", "KeyStoreStakingKeys", "StakePolicy", "StakingKeys",
           "build_coinstake", "plan_coinstake", "sign_coinstake"]


class CoinstakeError(ValueError):
    """A coinstake cannot be built as asked (no key, bad amounts)."""


@dataclass(frozen=True)
class StakePolicy:
    """How the staker shapes its coinstakes (values in base units)."""

    #: Pay the new total back as two outputs when it is above this.
    split_threshold: int = 200 * COIN
    #: Small outputs (below this) of the stake's script are merged into the stake while the
    #: stake's running total is below it.
    combine_threshold: int = 100 * COIN
    #: Most inputs a coinstake may have (the stake included).
    max_combine_inputs: int = 10

    def __post_init__(self) -> None:
        if self.max_combine_inputs < 1:
            raise ValueError("a coinstake needs at least its stake as input")
        if self.split_threshold < 0 or self.combine_threshold < 0:
            raise ValueError("thresholds are non-negative")


@dataclass(frozen=True)
class BlockKey:
    """The private key that signs a block staked by an output, with the public key encoding
    the output commits to (a P2PKH of an uncompressed key needs an uncompressed recovery)."""

    secret: bytes
    pubkey: bytes

    @property
    def compressed(self) -> bool:
        return len(self.pubkey) == 33


class StakingKeys(Protocol):
    """What the staker needs from a wallet (issue 7 will implement it; tests use
    :class:`KeyStoreStakingKeys`)."""

    def staking_scripts(self) -> set[bytes]:
        """Output scripts whose coins may stake (P2PK, P2PKH or P2WPKH of owned keys)."""

    def block_key_for_script(self, script_pubkey: bytes) -> BlockKey | None:
        """The key that signs blocks staked by an output with ``script_pubkey``."""

    @property
    def signing_provider(self) -> SigningProvider:
        """Signs the coinstake's inputs."""


class KeyStoreStakingKeys:
    """:class:`StakingKeys` over a :class:`KeyStore` and the public keys allowed to stake.

    Each key stakes its P2WPKH (compressed keys only), P2PKH and P2PK outputs.
    """

    def __init__(self, keystore: KeyStore, pubkeys: Iterable[bytes]) -> None:
        self._keystore = keystore
        self._by_script: dict[bytes, BlockKey] = {}
        for pubkey in pubkeys:
            secret = keystore.private_key_for(pubkey)
            if secret is None:
                raise CoinstakeError(f"no private key for {pubkey.hex()}")
            key = BlockKey(secret, pubkey)
            scripts = [p2pk(pubkey), p2pkh(hash160(pubkey))]
            if key.compressed:
                scripts.append(p2wpkh(hash160(pubkey)))
            for script in scripts:
                self._by_script[script] = key

    @classmethod
    def from_secrets(cls, secrets: Iterable[bytes]) -> "KeyStoreStakingKeys":
        """Convenience: a fresh keystore holding ``secrets`` (compressed keys)."""
        store = KeyStore()
        pubkeys = [store.add_key(secret) for secret in secrets]
        return cls(store, pubkeys)

    def staking_scripts(self) -> set[bytes]:
        return set(self._by_script)

    def block_key_for_script(self, script_pubkey: bytes) -> BlockKey | None:
        return self._by_script.get(script_pubkey)

    @property
    def signing_provider(self) -> SigningProvider:
        return self._keystore


@dataclass(frozen=True)
class CoinstakePlan:
    """Inputs of a coinstake: the stake first (consensus: it is the header's outpoint)."""

    inputs: tuple[tuple[OutPoint, Coin], ...]

    @property
    def stake(self) -> tuple[OutPoint, Coin]:
        return self.inputs[0]

    @property
    def script_pubkey(self) -> bytes:
        return self.inputs[0][1].output.script_pubkey

    @property
    def value_in(self) -> int:
        return sum(coin.output.value for _, coin in self.inputs)

    @property
    def spent_outpoints(self) -> frozenset[OutPoint]:
        return frozenset(outpoint for outpoint, _ in self.inputs)


def plan_coinstake(stake: tuple[OutPoint, Coin],
                   spendable: Sequence[tuple[OutPoint, Coin]],
                   policy: StakePolicy) -> CoinstakePlan:
    """The stake plus the small coins of its script the policy merges into it.

    ``spendable`` are the staker's other mature coins (any script; the stake itself and coins
    of other scripts are skipped). Smallest first, so the most dust is swept per block.
    """
    outpoint, coin = stake
    script = coin.output.script_pubkey
    chosen = [stake]
    total = coin.output.value
    threshold = policy.combine_threshold
    candidates = sorted(
        (item for item in spendable
         if item[0] != outpoint and item[1].output.script_pubkey == script
         and item[1].output.value < threshold),
        key=lambda item: (item[1].output.value, item[0].txid, item[0].index))
    for item in candidates:
        if len(chosen) >= policy.max_combine_inputs or total >= threshold:
            break
        chosen.append(item)
        total += item[1].output.value
    return CoinstakePlan(tuple(chosen))


def payout_values(total: int, policy: StakePolicy) -> list[int]:
    """One output, or two halves when ``total`` is above the split threshold."""
    if total <= 0:
        raise CoinstakeError("a coinstake must pay its stake back")
    if total > policy.split_threshold and total >= 2:
        half = total // 2
        return [half, total - half]
    return [total]


def build_coinstake(plan: CoinstakePlan, reward: int, policy: StakePolicy) -> Transaction:
    """The unsigned coinstake of ``plan`` paying the inputs plus ``reward`` (subsidy + fees)
    back to the stake's script: ``[marker, payout...]``."""
    if reward < 0:
        raise CoinstakeError("negative reward")
    script = plan.script_pubkey
    outputs = [TxOut(0, b"")] + [TxOut(value, script)
                                 for value in payout_values(plan.value_in + reward, policy)]
    inputs = tuple(TxIn(outpoint, b"", 0xFFFFFFFF) for outpoint, _ in plan.inputs)
    return Transaction(2, inputs, tuple(outputs), 0)


def sign_coinstake(tx: Transaction, plan: CoinstakePlan, provider: SigningProvider) -> Transaction:
    """``tx`` with every input signed (raises ``IncompleteSigningError`` if a key is missing)."""
    return sign_transaction(tx, [coin.output for _, coin in plan.inputs], provider)
