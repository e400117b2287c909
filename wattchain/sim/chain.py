"""The simulation's chain side: deploy the contracts, send a batch of transactions, wait for
them to confirm, read receipts — all over the gateway's JSON-RPC.

Waiting is event-driven: ``waitfornewblock`` until none of the batch is in the mempool, then
every transaction must have receipts, and every receipt must have succeeded (a failed one is a
:class:`~wattchain.sim.community.SimulationError` naming the contract's reason), so the
community model never runs ahead of the chain.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from wattchain.consensus.params import regtest_params
from wattchain.contracts import sender_account
from wattchain.contracts.meters import meter_id, operation_digest
from wattchain.contracts.watt import reading_digest
from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.script.address import script_from_address
from wattchain.sim.community import SimulationError
from wattchain.sim.network import CHAIN_LIMIT, WAIT_MS, Parties, Rpc

OPERATORS = 3
THRESHOLD = 2
GAS_PRICE = 40
#: A call's gas limit: a withdraw (two token calls, a fee split) uses well under this.
CALL_GAS = 250_000
MAX_ALLOWANCE = 2**63 - 1


def hex_id(data: bytes) -> str:
    return "0x" + data.hex()


def account_of(address: str) -> bytes:
    """The contract account (key hash) of a regtest wallet address."""
    return sender_account(script_from_address(address, regtest_params().address_format))


def derived_secret(seed: int, label: str) -> bytes:
    """A deterministic private key (operators, meters) for the run's seed."""
    return hashlib.sha256(f"wattchain-sim/{seed}/{label}".encode()).digest()


@dataclass
class Contracts:
    registry: bytes
    watt: bytes
    tsl: bytes
    storage: bytes
    battery_ids: dict[str, int] = field(default_factory=dict)   # owner address -> battery


@dataclass
class Meter:
    secret: bytes
    pubkey: bytes
    device: bytes
    counters: dict[str, int] = field(default_factory=lambda: {"production": 0,
                                                              "consumption": 0})

    @classmethod
    def from_secret(cls, secret: bytes) -> Meter:
        pubkey = public_key(secret)
        return cls(secret, pubkey, meter_id(pubkey))

    def sign(self, watt: bytes, kind: str, start: int, seconds: int, energy: int,
             consumer: bytes = b"") -> tuple[int, bytes]:
        """Sign the next reading of ``kind`` as the device would; returns (counter, sig)."""
        self.counters[kind] += 1
        counter = self.counters[kind]
        digest = reading_digest(watt, kind, self.device, start, seconds, energy, counter,
                                consumer)
        return counter, sign_ecdsa(self.secret, digest)


class Ledger:
    """Batches of transactions through one node, with the receipts of everything sent."""

    def __init__(self, rpc: Rpc) -> None:
        self.rpc = rpc
        self.sent: list[dict[str, Any]] = []   # {"txid", "kind", "phase"} in send order
        self.receipts: dict[str, list[dict[str, Any]]] = {}

    async def confirm(self, txids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Wait until every txid is mined; return their receipts (all must have succeeded).

        A transaction counts as mined when the node has its receipts. One that is neither in
        the mempool nor mined may be in flight through a reorg (its block disconnected, the
        mempool not yet refilled): it is reported lost only if a second look, after the next
        block, still finds it nowhere."""
        pending = set(txids)
        receipts: dict[str, list[dict[str, Any]]] = {}
        suspects: set[str] = set()
        while pending:
            mempool = set(await self.rpc("getrawmempool"))
            for txid in sorted(pending - mempool):
                got = await self.rpc("gettransactionreceipt", txid)
                if got:
                    receipts[txid] = got
                    pending.discard(txid)
            if not pending:
                break
            lost = (pending - mempool) - set(receipts)
            if lost & suspects:
                raise SimulationError(f"transaction {min(lost & suspects)} left the mempool "
                                      "unconfirmed")
            suspects = lost
            await self.rpc("waitfornewblock", WAIT_MS)
        for txid in txids:
            for receipt in receipts[txid]:
                if receipt["excepted"] != "None":
                    raise SimulationError(f"transaction {txid} failed: {receipt['excepted']}")
        self.receipts.update(receipts)
        return receipts

    def record(self, txid: str, kind: str, phase: str) -> str:
        self.sent.append({"txid": txid, "kind": kind, "phase": phase})
        return txid

    async def call(self, sender: str, contract: bytes, method: str, args: list[Any],
                   kind: str, phase: str) -> str:
        result = await self.rpc("sendtocontract", address=contract.hex(), method=method,
                                args=args, gaslimit=CALL_GAS, gasprice=GAS_PRICE,
                                senderaddress=sender)
        return self.record(result["txid"], kind, phase)

    async def view(self, contract: bytes, method: str, *args: Any) -> Any:
        result = await self.rpc("callcontract", contract.hex(), method, list(args))
        if result["executionResult"]["excepted"] != "None":
            raise SimulationError(f"{method}: {result['executionResult']['excepted']}")
        return result["executionResult"]["output"]


async def deploy(ledger: Ledger, parties: Parties, meters: list[Meter], seed: int,
                 batteries: list[tuple[int, int]], tsl_per_house: int) -> Contracts:
    """Create the four contracts, register the batteries (capacity, fee rate), certify one
    meter per household (2-of-3 operators), give every household TSL and let the storage
    contract pull its WATT and TSL."""
    rpc = ledger.rpc
    operators = [derived_secret(seed, f"operator{i}") for i in range(OPERATORS)]
    created = {}
    args: dict[str, dict[str, Any]] = {
        "MeterRegistry": {"operators": [hex_id(public_key(k)) for k in operators],
                          "threshold": THRESHOLD},
        "TslToken": {}}
    for name in ("MeterRegistry", "TslToken"):
        created[name] = await rpc("createcontract", name=name, args=args[name],
                                  senderaddress=parties.platform)
    registry = bytes.fromhex(created["MeterRegistry"]["address"])
    tsl = bytes.fromhex(created["TslToken"]["address"])
    created["WattToken"] = await rpc("createcontract", name="WattToken",
                                     args={"registry": hex_id(registry)},
                                     senderaddress=parties.platform)
    watt = bytes.fromhex(created["WattToken"]["address"])
    created["BatteryStorage"] = await rpc(
        "createcontract", name="BatteryStorage",
        args={"tsl": hex_id(tsl), "watt": hex_id(watt), "registry": hex_id(registry),
              "platform": hex_id(account_of(parties.platform)), "grant": 0},
        senderaddress=parties.platform)
    storage = bytes.fromhex(created["BatteryStorage"]["address"])
    for item in created.values():
        ledger.record(item["txid"], "create", "setup")
    await ledger.confirm([c["txid"] for c in created.values()])
    contracts = Contracts(registry, watt, tsl, storage)

    # batteries, TSL for the households, certifications (nonce order: one chained sender)
    txids = [await ledger.call(owner, storage, "register_battery", [capacity, rate],
                               "register_battery", "setup")
             for owner, (capacity, rate) in zip(parties.owners, batteries)]
    for house in parties.houses:
        result = await rpc("tokentransfer", token=tsl.hex(), to=house, amount=tsl_per_house,
                           senderaddress=parties.platform)
        txids.append(ledger.record(result["txid"], "tsl_transfer", "setup"))
    for nonce, (house, meter) in enumerate(zip(parties.houses, meters)):
        owner = account_of(house)
        action = ["certify", meter.pubkey, owner, "meter"]
        digest = operation_digest(registry, registry, nonce, action)
        sigs = [[i, hex_id(sign_ecdsa(operators[i], digest))] for i in range(THRESHOLD)]
        txids.append(await ledger.call(
            parties.registrar, registry, "certify",
            [hex_id(meter.pubkey), hex_id(owner), "meter", nonce, sigs], "certify", "setup"))
        if len(txids) >= CHAIN_LIMIT:
            await ledger.confirm(txids)
            txids = []
    await ledger.confirm(txids)
    for txid, receipts in ledger.receipts.items():
        for receipt in receipts:
            for event in receipt["log"]:
                if event["topic"] == "BatteryRegistered":
                    owner = next(o for o in parties.owners
                                 if account_of(o).hex() == event["data"]["owner"][2:])
                    contracts.battery_ids[owner] = event["data"]["battery"]
    # allowances: the storage contract pulls deposits (WATT) and fees (TSL)
    txids = []
    for house in parties.houses:
        for token in (watt, tsl):
            txids.append(await ledger.call(house, token, "approve",
                                           [hex_id(storage), MAX_ALLOWANCE], "approve",
                                           "setup"))
    await ledger.confirm(txids)
    return contracts


__all__ = ["CALL_GAS", "Contracts", "Ledger", "Meter", "OPERATORS", "THRESHOLD", "account_of",
           "deploy", "derived_secret", "hex_id"]
