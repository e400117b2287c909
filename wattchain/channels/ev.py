"""Pay-per-increment EV charging: a simulated smart outlet and a car that pays it.

The outlet sells energy in small increments (default 0.01 kWh) at a price per kWh. For each
increment it issues an invoice (a fresh payment hash) and its relay delivers that increment
only once the HTLC paying it is irrevocably committed and fulfilled — so the outlet is never
owed more than nothing, and when payments stop the power stops at the end of the increment
being delivered (the "cut within one increment" rule). The car asks for the next invoice, pays
it over its channel (or through a hub), and keeps one increment paid ahead so power flows
without gaps.

Time is simulated: the meter advances when :meth:`SmartOutlet.tick` is called with an energy
amount (the demo drives it from the charging power; tests drive it step by step), so every
behaviour is deterministic and testable without clocks.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wattchain.channels.errors import ChannelError

if TYPE_CHECKING:  # pragma: no cover
    from wattchain.channels.node import ChannelNode

#: Energy is counted in watt-hours x 1000 (milli-Wh) to stay in integers.
MWH_PER_KWH = 1_000_000


class OutletError(ChannelError):
    """An invoice the outlet did not issue, or a request the outlet refuses."""


@dataclass(frozen=True)
class Invoice:
    payment_hash: bytes
    amount_msat: int
    energy_mwh: int
    sequence: int


@dataclass
class Meter:
    """What the outlet's meter shows: energy delivered and the relay state."""

    delivered_mwh: int = 0
    paid_mwh: int = 0
    relay_on: bool = False
    #: Each time the relay opened because paid energy ran out: delivered_mwh at that moment.
    cutoffs: list[int] = field(default_factory=list)

    @property
    def delivered_kwh(self) -> float:
        return self.delivered_mwh / MWH_PER_KWH


class SmartOutlet:
    """A metered outlet on a channel node that delivers only paid-for increments."""

    def __init__(self, node: "ChannelNode", *, price_msat_per_kwh: int = 30_000_000,
                 increment_mwh: int = 10_000) -> None:
        """Defaults: 30,000 sat per kWh, sold in 0.01 kWh increments (300 sat each)."""
        self.node = node
        self.price_msat_per_kwh = price_msat_per_kwh
        self.increment_mwh = increment_mwh
        self.meter = Meter()
        self._issued: dict[bytes, Invoice] = {}
        self._paid: set[bytes] = set()
        self._sequence = 0
        self._paid_event = asyncio.Event()
        node.payments.on_received.append(self._on_payment)

    @property
    def increment_price_msat(self) -> int:
        return self.price_msat_per_kwh * self.increment_mwh // MWH_PER_KWH

    def next_invoice(self) -> Invoice:
        """A new payment hash for the next increment (the car fetches this, e.g. over NFC
        or HTTP in the pilot)."""
        preimage = os.urandom(32)
        payment_hash = self.node.payments.add_invoice(preimage, self.increment_price_msat)
        invoice = Invoice(payment_hash, self.increment_price_msat, self.increment_mwh,
                          self._sequence)
        self._sequence += 1
        self._issued[payment_hash] = invoice
        return invoice

    def _on_payment(self, payment_hash: bytes, amount_msat: int) -> None:
        invoice = self._issued.get(payment_hash)
        if invoice is None or payment_hash in self._paid or amount_msat < invoice.amount_msat:
            return
        self._paid.add(payment_hash)
        self.meter.paid_mwh += invoice.energy_mwh
        if self.meter.paid_mwh > self.meter.delivered_mwh:
            self.meter.relay_on = True
        self._paid_event.set()

    async def wait_paid(self, payment_hash: bytes) -> None:
        while payment_hash not in self._paid:
            self._paid_event.clear()
            await self._paid_event.wait()

    def tick(self, energy_mwh: int) -> int:
        """The car draws ``energy_mwh``; the relay passes at most what is paid for and opens
        the moment paid energy is used up. Returns the energy actually delivered."""
        m = self.meter
        if not m.relay_on:
            return 0
        delivered = min(energy_mwh, m.paid_mwh - m.delivered_mwh)
        m.delivered_mwh += delivered
        if m.delivered_mwh >= m.paid_mwh:
            m.relay_on = False
            m.cutoffs.append(m.delivered_mwh)
        return delivered

    @property
    def payments_received(self) -> int:
        return len(self._paid)


@dataclass
class ChargeReport:
    increments_paid: int
    energy_mwh: int
    paid_msat: int
    latencies_s: list[float]


class Car:
    """A car paying an outlet per increment over its channel node (route via the graph)."""

    def __init__(self, node: "ChannelNode", outlet: SmartOutlet) -> None:
        self.node = node
        self.outlet = outlet
        self.latencies_s: list[float] = []
        self.paid_msat = 0
        self.increments_paid = 0

    async def pay_increment(self) -> Invoice:
        """Fetch the next invoice and pay it; returns once the outlet was paid."""
        invoice = self.outlet.next_invoice()
        start = time.perf_counter()
        await self.node.payments.pay_to(self.outlet.node.node_id, invoice.amount_msat,
                                        invoice.payment_hash)
        self.latencies_s.append(time.perf_counter() - start)
        self.paid_msat += invoice.amount_msat
        self.increments_paid += 1
        return invoice

    async def charge(self, energy_mwh: int, draw_per_tick_mwh: int | None = None,
                     stop_paying_after: int | None = None) -> ChargeReport:
        """Draw ``energy_mwh``, paying one increment ahead of consumption; with
        ``stop_paying_after`` the car stops paying after that many increments (the outlet
        must then cut the power)."""
        draw = draw_per_tick_mwh or self.outlet.increment_mwh // 4
        drawn = 0
        while drawn < energy_mwh:
            m = self.outlet.meter
            if m.paid_mwh - m.delivered_mwh < draw and (
                    stop_paying_after is None or self.increments_paid < stop_paying_after):
                invoice = await self.pay_increment()
                await self.outlet.wait_paid(invoice.payment_hash)
            got = self.outlet.tick(draw)
            if got == 0:
                break  # power cut: the outlet stopped delivering
            drawn += got
        return ChargeReport(self.increments_paid, drawn, self.paid_msat, self.latencies_s)

