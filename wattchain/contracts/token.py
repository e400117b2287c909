"""QRC20 / ERC20 token semantics shared by WATT and TSL.

Methods and events follow ERC20 (and so Qtum's QRC20): ``name``, ``symbol``, ``decimals``,
``totalSupply``, ``balanceOf``, ``transfer``, ``approve``, ``allowance``, ``transferFrom``;
``Transfer`` and ``Approval`` events. Amounts are integers in the token's base units.

Subclasses decide how supply is created (:meth:`_mint` / :meth:`_burn` are internal only). The
invariant every subclass keeps: the sum of all balances equals ``totalSupply``. Transfers to the
burn address (all zero bytes) are refused: burning is an explicit operation that removes the
amount from the supply, so nothing ever sits at the burn address.
"""

from __future__ import annotations

from typing import ClassVar

from wattchain.contracts.accounts import BURN_ADDRESS
from wattchain.contracts.base import Contract, account, external, require, uint

_SUPPLY = b"supply"


def _balance_key(owner: bytes) -> bytes:
    return b"bal" + owner


def _allowance_key(owner: bytes, spender: bytes) -> bytes:
    return b"alw" + owner + spender


class Token(Contract):
    """An ERC20 token without any public way to create supply."""

    TOKEN_NAME: ClassVar[str] = ""
    TOKEN_SYMBOL: ClassVar[str] = ""
    TOKEN_DECIMALS: ClassVar[int] = 8

    # ------------------------------------------------------------------ views
    @external(view=True)
    def name(self) -> str:
        return self.TOKEN_NAME

    @external(view=True)
    def symbol(self) -> str:
        return self.TOKEN_SYMBOL

    @external(view=True)
    def decimals(self) -> int:
        return self.TOKEN_DECIMALS

    @external(view=True)
    def totalSupply(self) -> int:  # noqa: N802 - ERC20's name
        return self.load_int(_SUPPLY)

    @external(view=True)
    def balanceOf(self, owner: bytes) -> int:  # noqa: N802
        return self.load_int(_balance_key(account(owner, "owner")))

    @external(view=True)
    def allowance(self, owner: bytes, spender: bytes) -> int:
        return self.load_int(_allowance_key(account(owner, "owner"),
                                            account(spender, "spender")))

    # ------------------------------------------------------------------ transfers
    @external
    def transfer(self, to: bytes, amount: int) -> bool:
        self._move(self.sender, account(to, "to"), uint(amount, "amount"))
        return True

    @external
    def approve(self, spender: bytes, amount: int) -> bool:
        spender = account(spender, "spender")
        amount = uint(amount, "amount")
        self.store_int(_allowance_key(self.sender, spender), amount)
        self.emit("Approval", owner=self.sender, spender=spender, value=amount)
        return True

    @external
    def transferFrom(self, source: bytes, to: bytes, amount: int) -> bool:  # noqa: N802
        source = account(source, "from")
        amount = uint(amount, "amount")
        key = _allowance_key(source, self.sender)
        allowed = self.load_int(key)
        require(allowed >= amount, "allowance exceeded")
        self.store_int(key, allowed - amount)
        self._move(source, account(to, "to"), amount)
        return True

    # ------------------------------------------------------------------ internals
    def _move(self, source: bytes, to: bytes, amount: int) -> None:
        require(to != BURN_ADDRESS, "transfer to the burn address")
        balance = self.load_int(_balance_key(source))
        require(balance >= amount, "insufficient balance")
        if source != to:
            self.store_int(_balance_key(source), balance - amount)
            self.store_int(_balance_key(to), self.load_int(_balance_key(to)) + amount)
        self.emit("Transfer", **{"from": source, "to": to, "value": amount})

    def _mint(self, to: bytes, amount: int) -> None:
        require(to != BURN_ADDRESS, "mint to the burn address")
        self.store_int(_SUPPLY, self.load_int(_SUPPLY) + amount)
        self.store_int(_balance_key(to), self.load_int(_balance_key(to)) + amount)
        self.emit("Transfer", **{"from": BURN_ADDRESS, "to": to, "value": amount})

    def _burn(self, source: bytes, amount: int) -> None:
        balance = self.load_int(_balance_key(source))
        require(balance >= amount, "insufficient balance to burn")
        self.store_int(_balance_key(source), balance - amount)
        self.store_int(_SUPPLY, self.load_int(_SUPPLY) - amount)
        self.emit("Transfer", **{"from": source, "to": BURN_ADDRESS, "value": amount})
