"""The wallet as the staker's key source (:class:`wattchain.node.coinstake.StakingKeys`).

Staking needs private keys, so it works while the wallet is unencrypted or unlocked — in either
mode, including "unlocked for staking only" (Qtum's ``walletpassphrase ... true``), which the
wallet refuses for ordinary spending. A locked wallet offers no scripts, so the staker simply
finds nothing to stake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wattchain.node.coinstake import BlockKey
from wattchain.script.sign import SigningProvider

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.core.tx import OutPoint
    from wattchain.wallet.wallet import Wallet


class WalletStakingKeys:
    """Adapter the node passes to ``Staker(chainstate, wallet.staking_keys())``."""

    def __init__(self, wallet: "Wallet") -> None:
        self._wallet = wallet

    def staking_scripts(self) -> set[bytes]:
        """Single-key P2WPKH scripts of our HD and imported keys (compressed), when unlocked."""
        wallet = self._wallet
        if not wallet.can_stake:
            return set()
        return {script for script, info in wallet.keyring.scripts.items()
                if info.kind in ("hd", "imported") and info.pubkey is not None
                and len(info.pubkey) == 33 and script[:2] == b"\x00\x14"}

    def block_key_for_script(self, script_pubkey: bytes) -> BlockKey | None:
        wallet = self._wallet
        if not wallet.can_stake:
            return None
        info = wallet.keyring.scripts.get(script_pubkey)
        if info is None or info.pubkey is None or info.kind not in ("hd", "imported"):
            return None
        secret = wallet.keyring.private_key_for(info.pubkey)
        return BlockKey(secret, info.pubkey) if secret is not None else None

    def is_spent(self, outpoint: "OutPoint") -> bool:
        """A coin a wallet transaction (confirmed or not) already spends: the staker leaves
        it alone, so a payment being built or broadcast is never conflicted by our own stake
        (Qtum stakes only coins the wallet considers unspent)."""
        return self._wallet.ledger.is_spent(outpoint)

    @property
    def signing_provider(self) -> SigningProvider:
        return self._wallet.keyring
