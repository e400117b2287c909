"""Wallet errors, each carrying the Bitcoin Core RPC error code the RPC layer should return.

The RPC layer translates ``exc.rpc_code`` and ``str(exc)`` into a JSON-RPC error object; the
messages follow Core's wording where Core has one, so clients matching on text keep working.
"""

from __future__ import annotations

#: Core's RPC error codes used by wallet calls (src/rpc/protocol.h).
RPC_INVALID_PARAMETER = -8
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_DESERIALIZATION_ERROR = -22
RPC_WALLET_ERROR = -4
RPC_WALLET_INSUFFICIENT_FUNDS = -6
RPC_WALLET_UNLOCK_NEEDED = -13
RPC_WALLET_PASSPHRASE_INCORRECT = -14
RPC_WALLET_WRONG_ENC_STATE = -15
RPC_WALLET_ENCRYPTION_FAILED = -16

UNLOCK_NEEDED_MESSAGE = "Error: Please enter the wallet passphrase with walletpassphrase first."


class WalletError(Exception):
    """Base class; ``rpc_code`` is Core's code for the failure (default: generic wallet error)."""

    rpc_code = RPC_WALLET_ERROR


class InvalidParameter(WalletError):
    rpc_code = RPC_INVALID_PARAMETER


class InvalidAddressOrKey(WalletError):
    """A malformed or wrong-network address, script or private key."""

    rpc_code = RPC_INVALID_ADDRESS_OR_KEY


class InsufficientFunds(WalletError):
    rpc_code = RPC_WALLET_INSUFFICIENT_FUNDS

    def __init__(self, message: str = "Insufficient funds") -> None:
        super().__init__(message)


class UnlockNeeded(WalletError):
    """Private keys are needed but the wallet is locked (or unlocked for staking only)."""

    rpc_code = RPC_WALLET_UNLOCK_NEEDED

    def __init__(self, message: str = UNLOCK_NEEDED_MESSAGE) -> None:
        super().__init__(message)


class WrongPassphrase(WalletError):
    rpc_code = RPC_WALLET_PASSPHRASE_INCORRECT

    def __init__(self, message: str = "Error: The wallet passphrase entered was incorrect."
                 ) -> None:
        super().__init__(message)


class WrongEncryptionState(WalletError):
    """walletpassphrase on an unencrypted wallet, encryptwallet on an encrypted one."""

    rpc_code = RPC_WALLET_WRONG_ENC_STATE


class PsbtError(WalletError):
    """A PSBT that violates BIP174 (malformed, duplicate keys, non-empty unsigned scripts...)."""

    rpc_code = RPC_DESERIALIZATION_ERROR


class PsbtMismatch(PsbtError):
    """PSBTs describing different transactions were combined."""

    rpc_code = RPC_INVALID_PARAMETER


class KeyDerivationError(WalletError):
    """BIP32 derivation hit an invalid key (probability ~2^-127) or a malformed extended key."""

    rpc_code = RPC_INVALID_ADDRESS_OR_KEY


class InvalidAmount(WalletError):
    """A non-positive or out-of-range amount (Core's RPC_TYPE_ERROR, "Invalid amount")."""

    rpc_code = -3
