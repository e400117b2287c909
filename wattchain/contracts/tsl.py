"""TSL: the ecosystem token that buys battery storage. Fixed supply, created once.

Exactly 1,000,000,000 TSL (x 10^8 base units) are minted to the creator by the constructor,
which the runtime runs once per contract id. No method mints: :class:`Token` has no public
supply operation and this class adds none, so the supply can never change.
"""

from __future__ import annotations

from typing import Any

from wattchain.contracts.errors import ContractError
from wattchain.contracts.token import Token

TSL_DECIMALS = 8
TSL_TOTAL_SUPPLY = 1_000_000_000 * 10**TSL_DECIMALS


class TslToken(Token):
    NAME = "TslToken"
    VERSION = 1
    #: One per chain (runtime.singleton_key records its id).
    SINGLETON = True
    TOKEN_NAME = "TSL"
    TOKEN_SYMBOL = "TSL"
    TOKEN_DECIMALS = TSL_DECIMALS

    def init(self, args: dict[str, Any]) -> None:
        if args:
            raise ContractError("TslToken takes no creation arguments")
        self._mint(self.sender, TSL_TOTAL_SUPPLY)
