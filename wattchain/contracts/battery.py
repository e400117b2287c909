"""BatteryStorage: community batteries that store WATT for a storage fee paid in TSL.

Created with ``{"tsl": id, "watt": id, "registry": id, "platform": account, "grant": amount}``.

Batteries
  ``register_battery(capacity, fee_rate)`` makes the sender the battery's owner and its first
  co-owner with weight ``capacity``. ``capacity`` is in WATT base units (10^-8 kWh);
  ``fee_rate`` is TSL base units per kWh (10^8 WATT units) per started 15-minute slot. The
  owner may add, change or remove co-owners with ``set_co_owner(battery, who, weight)``: a
  co-owner is someone who contributed storage (weight = the WATT base units of capacity they
  brought); the battery's capacity is the sum of the weights.

Deposits
  ``deposit(battery, amount)`` pulls WATT with ``transferFrom`` (approve the battery first)
  and opens the sender's position (one per user and battery). ``withdraw(battery, amount)``
  settles the whole position: ``slots = max(1, ceil((now - since) / 900))`` with ``now`` the
  block time (an earlier block time counts as 0 s, so one slot) and
  ``fee = ceil(position x fee_rate x slots / 10^8)`` TSL, pulled with ``transferFrom``; then
  ``amount`` WATT is returned and any remainder stays deposited from ``now``.

Who earns (the "owner side")
  The fee a depositor pays is priced by *their* stored energy x started slots. The 80 % owner
  side of it is earned by the battery's co-owners: the accounts whose storage capacity held
  that energy (the registrant, plus anyone the owner adds as a co-owner), each in proportion
  to the capacity (kWh, as WATT base units) they contributed. Depositors earn nothing from
  their own fees; the marketing pool and the platform are separate recipients.

Fee split (exact; no unit is created or lost)
  ``owner_part = fee * 80 // 100``, ``marketing = fee * 10 // 100``,
  ``platform = fee - owner_part - marketing``. The owner part is the owner side's: it is
  shared at once among the battery's co-owners (at most :data:`MAX_CO_OWNERS`) in proportion
  to their weight when the fee is paid: co-owner ``i`` is credited
  ``owner_part * weight_i // total_weight``, and what the floors leave over goes to the
  platform with its own share (so every rounding remainder goes to the platform). Over time a
  co-owner therefore earns in proportion to (capacity contributed) x (slots of stored energy
  paid for while that capacity was part of the battery). Credits accumulate per account
  across batteries; ``claim()`` pays them out, the platform account ``withdraw_platform()``.
  At every moment the TSL held by this contract equals
  ``marketing pool + platform + sum(unclaimed credits)`` (:meth:`accounted_tsl`).

Marketing pool
  Funded by its 10 % and by ``fund_marketing(amount)``. ``grant(user, nonce, signatures)``
  pays ``grant`` TSL once per user, authorized by the operators of the MeterRegistry (their
  signatures over ``["grant", user]`` for this contract, see :mod:`meters`).
"""

from __future__ import annotations

from typing import Any

from wattchain.contracts.base import Contract, account, external, positive, require, uint

SLOT_SECONDS = 900
KWH = 10**8  # WATT base units per kWh
OWNER_PERCENT = 80
MARKETING_PERCENT = 10
#: Co-owners per battery: bounds the work (and gas) of splitting one fee.
MAX_CO_OWNERS = 16


def storage_slots(since: int, now: int) -> int:
    """Started 15-minute slots between deposit time and now (at least one)."""
    elapsed = max(0, now - since)
    return max(1, -(-elapsed // SLOT_SECONDS))


def storage_fee(amount: int, fee_rate: int, slots: int) -> int:
    """TSL base units for ``amount`` WATT units over ``slots`` slots, rounded up."""
    return -(-(amount * fee_rate * slots) // KWH)


def split_fee(fee: int) -> tuple[int, int, int]:
    """(owner side, marketing, platform): 80/10/10, remainders to the platform."""
    owner = fee * OWNER_PERCENT // 100
    marketing = fee * MARKETING_PERCENT // 100
    return owner, marketing, fee - owner - marketing


def _bid(battery: int) -> bytes:
    return battery.to_bytes(4, "big")


class BatteryStorage(Contract):
    NAME = "BatteryStorage"
    VERSION = 1

    def init(self, args: dict[str, Any]) -> None:
        require(set(args) == {"tsl", "watt", "registry", "platform", "grant"},
                "args: tsl, watt, registry, platform, grant")
        self.store_obj(b"cfg", [account(args["tsl"], "tsl"), account(args["watt"], "watt"),
                                account(args["registry"], "registry"),
                                account(args["platform"], "platform"),
                                uint(args["grant"], "grant")])

    # ------------------------------------------------------------------ helpers
    def _cfg(self) -> list[Any]:
        return self.load_obj(b"cfg")

    def _battery(self, battery: Any) -> list[Any]:
        """[owner, fee_rate, stored, co_owners: [[account, weight], ...] sorted by account]."""
        battery = uint(battery, "battery")
        record = self.load_obj(b"bat" + _bid(battery)) if battery < 2**32 else None
        require(record is not None, "unknown battery")
        return record

    def _credit(self, who: bytes, amount: int) -> None:
        if amount:
            self.store_int(b"earn" + who, self.load_int(b"earn" + who) + amount)

    # ------------------------------------------------------------------ batteries
    @external
    def register_battery(self, capacity: int, fee_rate: int) -> int:
        capacity = positive(capacity, "capacity")
        fee_rate = uint(fee_rate, "fee rate")
        battery = self.load_int(b"nbat")
        require(battery < 2**32, "too many batteries")
        self.store_int(b"nbat", battery + 1)
        self.store_obj(b"bat" + _bid(battery), [self.sender, fee_rate, 0,
                                                [[self.sender, capacity]]])
        self.emit("BatteryRegistered", battery=battery, owner=self.sender, capacity=capacity,
                  fee_rate=fee_rate)
        return battery

    @external
    def set_co_owner(self, battery: int, who: bytes, weight: int) -> bool:
        record = self._battery(battery)
        require(self.sender == record[0], "only the battery owner manages co-owners")
        who, weight = account(who, "co-owner"), uint(weight, "weight")
        shares = {bytes(addr): w for addr, w in record[3]}
        shares[who] = weight
        if not weight:
            del shares[who]
        require(len(shares) <= MAX_CO_OWNERS, f"at most {MAX_CO_OWNERS} co-owners")
        capacity = sum(shares.values())
        require(capacity > 0, "a battery needs capacity")
        require(capacity >= record[2], "capacity below the energy stored")
        record[3] = [[addr, shares[addr]] for addr in sorted(shares)]
        self.store_obj(b"bat" + _bid(battery), record)
        self.emit("CoOwnerChanged", battery=battery, who=who, weight=weight)
        return True

    # ------------------------------------------------------------------ deposits
    @external
    def deposit(self, battery: int, amount: int) -> bool:
        record = self._battery(battery)
        amount = positive(amount, "amount")
        key = b"dep" + _bid(battery) + self.sender
        require(self.load_obj(key) is None, "withdraw the open position first")
        require(record[2] + amount <= sum(w for _, w in record[3]), "battery is full")
        _tsl, watt, *_ = self._cfg()
        self.call(watt, "transferFrom", self.sender, self.this, amount)
        record[2] += amount
        self.store_obj(b"bat" + _bid(battery), record)
        self.store_obj(key, [amount, self.now])
        self.emit("Deposit", battery=battery, user=self.sender, value=amount)
        return True

    @external
    def withdraw(self, battery: int, amount: int) -> int:
        record = self._battery(battery)
        amount = positive(amount, "amount")
        key = b"dep" + _bid(battery) + self.sender
        position = self.load_obj(key)
        require(position is not None, "no open position")
        stored, since = position
        require(amount <= stored, "withdrawing more than deposited")
        slots = storage_slots(since, self.now)
        fee = storage_fee(stored, record[1], slots)
        tsl, watt, *_ = self._cfg()
        if fee:
            self.call(tsl, "transferFrom", self.sender, self.this, fee)
            owner_part, marketing, platform = split_fee(fee)
            total_weight = sum(w for _, w in record[3])
            self.step(len(record[3]))
            distributed = 0
            for addr, weight in record[3]:
                share = owner_part * weight // total_weight
                self._credit(addr, share)
                distributed += share
            platform += owner_part - distributed
            self.store_int(b"mkt", self.load_int(b"mkt") + marketing)
            self.store_int(b"plat", self.load_int(b"plat") + platform)
            self.emit("FeeSplit", battery=battery, fee=fee, owner_side=distributed,
                      marketing=marketing, platform=platform, slots=slots)
        record[2] -= amount
        self.store_obj(b"bat" + _bid(battery), record)
        self.store_obj(key, [stored - amount, self.now] if stored > amount else None)
        self.call(watt, "transfer", self.sender, amount)
        self.emit("Withdraw", battery=battery, user=self.sender, value=amount, fee=fee)
        return fee

    # ------------------------------------------------------------------ payouts
    @external
    def claim(self) -> int:
        owed = self.load_int(b"earn" + self.sender)
        if owed:
            self.store_int(b"earn" + self.sender, 0)
            self.call(self._cfg()[0], "transfer", self.sender, owed)
            self.emit("Claim", who=self.sender, value=owed)
        return owed
    @external
    def withdraw_platform(self) -> int:
        cfg = self._cfg()
        require(self.sender == cfg[3], "only the platform account")
        amount = self.load_int(b"plat")
        self.store_int(b"plat", 0)
        if amount:
            self.call(cfg[0], "transfer", self.sender, amount)
            self.emit("PlatformWithdraw", to=self.sender, value=amount)
        return amount

    @external
    def fund_marketing(self, amount: int) -> bool:
        amount = positive(amount, "amount")
        self.call(self._cfg()[0], "transferFrom", self.sender, self.this, amount)
        self.store_int(b"mkt", self.load_int(b"mkt") + amount)
        self.emit("MarketingFunded", source=self.sender, value=amount)
        return True

    @external
    def grant(self, user: bytes, nonce: int, signatures: list[Any]) -> int:
        user = account(user, "user")
        require(self.load(b"granted" + user) is None, "user already received a grant")
        tsl, _watt, registry, _platform, amount = self._cfg()
        pool = self.load_int(b"mkt")
        require(pool >= amount, "marketing pool is empty")
        self.call(registry, "authorize", ["grant", user], nonce, signatures)
        self.store(b"granted" + user, b"\x01")
        self.store_int(b"mkt", pool - amount)
        if amount:
            self.call(tsl, "transfer", user, amount)
        self.emit("MarketingGrant", user=user, value=amount)
        return amount

    # ------------------------------------------------------------------ views
    @external(view=True)
    def battery(self, battery: int) -> dict[str, Any]:
        owner, fee_rate, stored, co_owners = self._battery(battery)
        return {"owner": owner, "fee_rate": fee_rate, "stored": stored,
                "capacity": sum(w for _, w in co_owners), "co_owners": co_owners}

    @external(view=True)
    def position(self, battery: int, user: bytes) -> list[int] | None:
        self._battery(battery)
        return self.load_obj(b"dep" + _bid(battery) + account(user, "user"))

    @external(view=True)
    def earnings(self, who: bytes) -> int:
        return self.load_int(b"earn" + account(who, "who"))

    @external(view=True)
    def pools(self) -> dict[str, int]:
        return {"marketing": self.load_int(b"mkt"), "platform": self.load_int(b"plat")}

    @external(view=True)
    def accounted_tsl(self, accounts: list[bytes]) -> int:
        """Pools plus the unclaimed credits of ``accounts``; equals this contract's TSL
        balance when every co-owner is listed (the fee-split invariant)."""
        require(isinstance(accounts, list) and len(accounts) <= 256, "accounts: a list")
        self.step(len(accounts))
        return self.load_int(b"mkt") + self.load_int(b"plat") + sum(
            self.earnings(who) for who in accounts)
