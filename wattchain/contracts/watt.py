"""WATT: the energy token. 1 WATT = 1 kWh; 8 decimals, so one base unit is 10^-8 kWh.

Supply is created only by :meth:`WattToken.mint_production` and destroyed only by
:meth:`WattToken.burn_consumption`, both against a reading signed by a device certified (and
not revoked) in the :class:`MeterRegistry` named at creation (``{"registry": contract id}``).

A reading is ``(meter id, interval start, interval seconds, energy, counter)`` (consumption
adds the consumer's account); energy is in WATT base units. The device signs (DER ECDSA) the
digest :func:`reading_digest`, which names this WATT contract and the reading's kind, so a
production reading can never be replayed as consumption or against another token. Per device
and kind the token keeps the last counter and interval end: a reading must have a strictly
larger counter *and* start no earlier than the previous interval's end, so replayed,
out-of-order and overlapping readings are all rejected.

Consumption: from a certified *meter* the consumer must be the meter's owner (anyone may
submit it: the grid settles a household's consumption); from a charging *station* the consumer
must be the transaction's sender (a station cannot burn a stranger's WATT). The burned amount
leaves the supply (a Transfer to the burn address, a Burn event, ``totalSupply`` decreases).
Invariant: ``totalSupply == totalMinted - totalBurned``.
"""

from __future__ import annotations

from typing import Any

from wattchain.contracts import abi
from wattchain.contracts.base import account, blob, external, positive, require, uint
from wattchain.contracts.errors import ContractError
from wattchain.contracts.token import Token
from wattchain.core.hashes import sha256

WATT_DECIMALS = 8
MAX_INTERVAL_SECONDS = 86_400
_DOMAIN = b"wattchain/meter-reading/v1"


def reading_digest(watt: bytes, kind: str, device: bytes, interval_start: int,
                   interval_seconds: int, energy: int, counter: int,
                   consumer: bytes = b"") -> bytes:
    """What a meter signs for one reading (kind: "production" or "consumption")."""
    return sha256(_DOMAIN + watt + abi.pack([kind, device, interval_start, interval_seconds,
                                             energy, counter, consumer]))


class WattToken(Token):
    NAME = "WattToken"
    VERSION = 1
    #: One per chain (runtime.singleton_key records its id).
    SINGLETON = True
    TOKEN_NAME = "WATT"
    TOKEN_SYMBOL = "WATT"
    TOKEN_DECIMALS = WATT_DECIMALS

    def init(self, args: dict[str, Any]) -> None:
        require(set(args) == {"registry"}, "args: registry")
        self.store(b"registry", account(args["registry"], "registry"))

    def _accept_reading(self, kind: str, device: bytes, interval_start: Any,
                        interval_seconds: Any, energy: Any, counter: Any, signature: Any,
                        consumer: bytes = b"") -> list[Any]:
        """Checks shared by mint and burn; returns the device record, advances its counter."""
        device = account(device, "meter id")
        interval_start = uint(interval_start, "interval start")
        interval_seconds = positive(interval_seconds, "interval seconds")
        require(interval_seconds <= MAX_INTERVAL_SECONDS, "interval too long")
        energy = positive(energy, "energy")
        counter = uint(counter, "counter")
        blob(signature, "signature", 80)
        record = self.call(self.load(b"registry"), "meter", device)
        require(record is not None, "unknown meter")
        pubkey, _owner, _device_kind, active = record
        require(active, "meter revoked")
        key = b"ctr" + kind[:1].encode() + device
        last = self.load_obj(key)
        if last is not None:
            last_counter, last_end = last
            require(counter > last_counter, "replayed or out-of-order reading (counter)")
            require(interval_start >= last_end, "reading interval overlaps the previous one")
        digest = reading_digest(self.this, kind, device, interval_start, interval_seconds,
                                energy, counter, consumer)
        if not self.verify_signature(pubkey, signature, digest):
            raise ContractError("bad meter signature")
        self.store_obj(key, [counter, interval_start + interval_seconds])
        return record

    @external
    def mint_production(self, device: bytes, interval_start: int, interval_seconds: int,
                        energy: int, counter: int, signature: bytes) -> int:
        record = self._accept_reading("production", device, interval_start, interval_seconds,
                                      energy, counter, signature)
        require(record[2] == "meter", "only meters report production")
        owner = record[1]
        self._mint(owner, energy)
        self.store_int(b"minted", self.load_int(b"minted") + energy)
        self.emit("Mint", meter=device, to=owner, value=energy, counter=counter,
                  start=interval_start)
        return energy

    @external
    def burn_consumption(self, device: bytes, consumer: bytes, interval_start: int,
                         interval_seconds: int, energy: int, counter: int,
                         signature: bytes) -> int:
        consumer = account(consumer, "consumer")
        record = self._accept_reading("consumption", device, interval_start, interval_seconds,
                                      energy, counter, signature, consumer)
        if record[2] == "meter":
            require(consumer == record[1], "a meter reports its owner's consumption")
        else:
            require(consumer == self.sender, "station consumption must be sent by the consumer")
        self._burn(consumer, energy)
        self.store_int(b"burned", self.load_int(b"burned") + energy)
        self.emit("Burn", meter=device, source=consumer, value=energy, counter=counter,
                  start=interval_start)
        return energy

    @external(view=True)
    def totalMinted(self) -> int:  # noqa: N802
        return self.load_int(b"minted")

    @external(view=True)
    def totalBurned(self) -> int:  # noqa: N802
        return self.load_int(b"burned")

    @external(view=True)
    def registry(self) -> bytes:
        return self.load(b"registry")
