"""The gas meter: every runtime operation is paid for before it happens.

Charging first means a call can never do work it could not pay for; running out raises
:class:`OutOfGas` with the meter pinned at the limit (an out-of-gas output pays its whole
gas limit, as in the EVM and Qtum).
"""

from __future__ import annotations

from wattchain.contracts.errors import OutOfGas


class GasMeter:
    """Counts gas used against a limit. Amounts are non-negative ints."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("negative gas limit")
        self.limit = limit
        self.used = 0

    @property
    def remaining(self) -> int:
        return self.limit - self.used

    def charge(self, amount: int, what: str = "") -> None:
        if amount < 0:
            raise ValueError("negative gas charge")
        if self.used + amount > self.limit:
            self.used = self.limit
            raise OutOfGas(f"out of gas{' in ' + what if what else ''}")
        self.used += amount
