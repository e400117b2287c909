"""Receipts and events: what each executed contract output did, in a stable binary form.

A receipt is written for every contract output of a connected block, failed or not. Event data
is canonical msgpack of a map, so ``searchlogs`` can filter by contract id and topic without
knowing the contract. Topics used by the built-in contracts are listed in :data:`TOPICS`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from wattchain.contracts import abi

TOPICS = ("Transfer", "Approval", "Mint", "Burn", "Deposit", "Withdraw", "FeeSplit",
          "MeterCertified", "MeterRevoked", "BatteryRegistered", "CoOwnerChanged", "Claim",
          "MarketingGrant", "MarketingFunded", "PlatformWithdraw")

STATUS_OK = "ok"


class ReceiptFormatError(ValueError):
    """Stored receipt bytes that do not decode."""


@dataclass(frozen=True)
class Event:
    contract_id: bytes
    topic: str
    data: bytes  # canonical msgpack map

    def fields(self) -> dict[str, Any]:
        return abi.unpack(self.data)


@dataclass(frozen=True)
class Receipt:
    """Result of one contract output. ``refund`` is paid to the sender's script."""

    txid: bytes
    output_index: int
    contract_id: bytes
    sender: bytes
    gas_limit: int
    gas_price: int
    gas_used: int
    status: str               # "ok", "revert", "out_of_gas", "bad_call_data"
    excepted: str = ""        # failure reason ("" on success)
    refund: int = 0           # unused gas + returned value, in base units
    events: tuple[Event, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def serialize(self) -> bytes:
        return msgpack.packb(
            [self.txid, self.output_index, self.contract_id, self.sender, self.gas_limit,
             self.gas_price, self.gas_used, self.status, self.excepted, self.refund,
             [[e.contract_id, e.topic, e.data] for e in self.events]], use_bin_type=True)

    @classmethod
    def deserialize(cls, data: bytes) -> "Receipt":
        try:
            (txid, index, cid, sender, limit, price, used, status, excepted, refund,
             events) = msgpack.unpackb(data, raw=False)
            return cls(txid, index, cid, sender, limit, price, used, status, excepted, refund,
                       tuple(Event(e[0], e[1], e[2]) for e in events))
        except Exception as exc:
            raise ReceiptFormatError(f"bad receipt: {exc}") from exc


def matching_events(receipts: Iterable[Receipt], contract_ids: Collection[bytes] | None = None,
                    topics: Collection[str] | None = None) -> list[tuple[Receipt, Event]]:
    """Events of ``receipts`` from any of ``contract_ids`` with any of ``topics`` (None: any),
    in block order with their receipt: the core of ``searchlogs``."""
    return [(receipt, event) for receipt in receipts for event in receipt.events
            if (contract_ids is None or event.contract_id in contract_ids)
            and (topics is None or event.topic in topics)]
