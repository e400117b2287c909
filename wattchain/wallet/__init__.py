"""The wallet: HD keys (BIP39/BIP32/BIP84), multisig, PSBT, coin selection, encryption at rest.

Layout (one concern per module): :mod:`.errors` (typed errors carrying Core's RPC codes),
:mod:`.hd` and :mod:`.mnemonic` (key derivation), :mod:`.crypto` (scrypt + AES-GCM),
:mod:`.keyring` (what the wallet owns and can sign for), :mod:`.store` (LevelDB records),
:mod:`.ledger` (transactions, coins and balances following the chain), :mod:`.coinselect`,
:mod:`.fees` and :mod:`.spend` (building transactions), :mod:`.psbt`, :mod:`.psbt_roles` and
:mod:`.psbt_json` (BIP174), :mod:`.staking` (the staker's key adapter), and the facade the RPC
layer calls, :mod:`.wallet`, with its parts :mod:`.addresses`, :mod:`.tracking` (chain events,
rescan) and :mod:`.spending` (send*, PSBT calls).
"""

from wattchain.wallet.errors import WalletError
from wattchain.wallet.wallet import Wallet

__all__ = ["Wallet", "WalletError"]
