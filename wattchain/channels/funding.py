"""Funding channels from the node's HD wallet: the :class:`FundingSource` a daemon uses.

The wallet pays *addresses*, so the funding script (P2WSH of the 2-of-2) is turned into its
bech32 address first; the spent coins are locked in the wallet so a second funding or a send
in the meantime cannot pick them again before the funding tx is broadcast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wattchain.channels.errors import ChannelError
from wattchain.core.tx import Transaction
from wattchain.script.address import address_from_script

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.wallet.wallet import Wallet


class FundingError(ChannelError):
    """The wallet could not pay the funding output (no funds, locked, unencodable script)."""


class WalletFunding:
    """``FundingSource`` over :meth:`Wallet.create_transaction`."""

    def __init__(self, wallet: "Wallet", fee_rate: int = 1_000) -> None:
        """``fee_rate`` in base units per 1000 vbytes, as the wallet takes it."""
        self.wallet = wallet
        self.fee_rate = fee_rate

    def fund(self, script_pubkey: bytes, amount_sat: int) -> Transaction:
        address = address_from_script(script_pubkey, self.wallet.fmt)
        if address is None:
            raise FundingError("funding script has no address form")
        try:
            created = self.wallet.create_transaction([(address, amount_sat)], self.fee_rate,
                                                     lock_unspents=True, rbf=False)
        except Exception as exc:  # the wallet's errors are many types; report them as one
            raise FundingError(f"wallet cannot fund the channel: {exc}") from exc
        return created.tx
