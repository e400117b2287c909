"""A tiny chain for contract tests: blocks of contract transactions over an in-memory state.

Each helper call builds real transactions with OP_CREATE/OP_CALL outputs (so scripts, payload
encoding, sender rules and refunds are exercised end to end) and executes them as a block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wattchain.contracts import abi
from wattchain.contracts.accounts import contract_id
from wattchain.contracts.executor import BlockExecution, call_view, execute_block
from wattchain.contracts.params import ContractParams
from wattchain.contracts.receipts import Receipt
from wattchain.contracts.registry import default_registry
from wattchain.contracts.base import Contract, external, uint
from wattchain.contracts.errors import ContractError
from wattchain.contracts.runtime import BlockContext, ContractRegistry
from wattchain.contracts.script import call_script, create_script
from wattchain.contracts.state import BlockStateUndo, ContractState, MemoryStore
from wattchain.core.hashes import hash160, sha256
from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.standard import p2pkh

GAS = 2_000_000
PRICE = 40
START_TIME = 1_700_000_000


class Sink(Contract):
    """A test-only contract: payable entry points and a gas-burning loop."""

    NAME = "Sink"
    VERSION = 1

    @external(payable=True)
    def pay(self) -> int:
        self.store_int(b"paid", self.load_int(b"paid") + self.frame.value)
        return self.frame.value

    @external(payable=True)
    def work(self, rounds: int) -> int:
        for i in range(uint(rounds, "rounds")):
            self.step()
            self.store_int(b"w" + i.to_bytes(4, "big"), i + 1)
        return rounds

    @external
    def fail_after_write(self) -> None:
        self.store_int(b"x", 1)
        self.emit("Transfer", note="never seen")
        raise ContractError("deliberate")

    @external
    def buggy(self) -> None:
        self.store_int(b"y", 1)
        {}[b"missing"]  # a contract bug: a plain KeyError

    @external
    def recurse(self, depth: int) -> int:
        return self.call(self.this, "recurse", depth + 1) if depth < 100 else depth


@dataclass(frozen=True)
class User:
    secret: bytes
    pubkey: bytes
    account: bytes
    script: bytes

    def sign(self, digest: bytes) -> bytes:
        return sign_ecdsa(self.secret, digest)


def make_user(seed: int | str) -> User:
    secret = sha256(f"contract-test-key-{seed}".encode())
    pubkey = public_key(secret)
    return User(secret, pubkey, hash160(pubkey), p2pkh(hash160(pubkey)))


@dataclass
class Harness:
    params: ContractParams = field(default_factory=ContractParams)

    def __post_init__(self) -> None:
        self.store = MemoryStore()
        self.nodes = MemoryStore()
        self.state = ContractState(self.store, self.nodes)
        self.registry = ContractRegistry([*default_registry().classes(), Sink])
        self.height = 0
        self.time = START_TIME
        self._nonce = 0
        self._senders: dict[bytes, bytes] = {}
        self.undos: list[BlockStateUndo] = []

    # ------------------------------------------------------------------ transactions
    def tx(self, user: User, *outputs: TxOut) -> Transaction:
        self._nonce += 1
        prevout = OutPoint(sha256(self._nonce.to_bytes(8, "big")), 0)
        tx = Transaction(2, (TxIn(prevout),), tuple(outputs))
        self._senders[tx.txid] = user.script
        return tx

    def create_output(self, name: str, args: dict[str, Any], version: int = 1,
                      gas: int = GAS, value: int = 0) -> TxOut:
        return TxOut(value, create_script(0, gas, PRICE, abi.encode_create(name, version, args)))

    def call_output(self, cid: bytes, method: str, *args: Any, gas: int = GAS,
                    value: int = 0) -> TxOut:
        return TxOut(value, call_script(0, gas, PRICE, abi.encode_call(method, list(args)), cid))

    def block(self, *txs: Transaction, time: int | None = None) -> BlockExecution:
        self.height += 1
        if time is not None:
            self.time = time
        coinbase = Transaction(2, (TxIn(OutPoint.null(), b"\x01" + bytes([self.height % 256])),),
                               (TxOut(0, b"\x51"),))
        result = execute_block([coinbase, *txs], lambda tx: self._senders[tx.txid], self.state,
                               self.height, self.time, self.params, self.registry)
        self.undos.append(result.undo)
        return result

    def disconnect(self) -> None:
        self.state.undo_block(self.undos.pop())
        self.height -= 1

    # ------------------------------------------------------------------ one-output shortcuts
    def create(self, user: User, name: str, args: dict[str, Any], **kw: Any) -> bytes:
        tx = self.tx(user, self.create_output(name, args, **kw))
        receipt = self.block(tx).receipts[0]
        assert receipt.ok, receipt.excepted
        return contract_id(tx.txid, 0)

    def call(self, user: User, cid: bytes, method: str, *args: Any, time: int | None = None,
             **kw: Any) -> Receipt:
        tx = self.tx(user, self.call_output(cid, method, *args, **kw))
        return self.block(tx, time=time).receipts[0]

    def ok(self, user: User, cid: bytes, method: str, *args: Any, **kw: Any) -> Receipt:
        receipt = self.call(user, cid, method, *args, **kw)
        assert receipt.ok, receipt.excepted
        return receipt

    def view(self, cid: bytes, method: str, *args: Any, sender: bytes = bytes(20)) -> Any:
        context = BlockContext(self.height, self.time, self.params, self.registry)
        result = call_view(self.state, cid, method, list(args), sender, context, 10**7)
        assert result.status == "ok", result.excepted
        return result.result


# ---------------------------------------------------------------------- energy helpers
def operator_signatures(operators: list[User], indices: list[int], registry: bytes,
                        target: bytes, nonce: int, action: list[Any]) -> list[list[Any]]:
    from wattchain.contracts.meters import operation_digest
    digest = operation_digest(registry, target, nonce, action)
    return [[i, operators[i].sign(digest)] for i in indices]


@dataclass
class Energy:
    """A chain with the four energy contracts deployed; operators are a 2-of-3 set."""

    h: Harness
    operators: list[User]
    registry: bytes
    watt: bytes
    tsl: bytes
    battery: bytes
    platform: User
    nonce: int = 0

    def governed(self, method: str, action: list[Any], *args: Any, target: bytes | None = None,
                 indices: tuple[int, ...] = (0, 2), nonce: int | None = None,
                 contract: bytes | None = None, sender: User | None = None) -> Receipt:
        nonce = self.nonce if nonce is None else nonce
        sigs = operator_signatures(self.operators, list(indices), self.registry,
                                   target or self.registry, nonce, action)
        receipt = self.h.call(sender or self.operators[0], contract or self.registry, method,
                              *args, nonce, sigs)
        if receipt.ok:
            self.nonce += 1
        return receipt

    def certify(self, device: User, owner: User, kind: str = "meter") -> Receipt:
        return self.governed("certify", ["certify", device.pubkey, owner.account, kind],
                             device.pubkey, owner.account, kind)

    def revoke(self, device: User) -> Receipt:
        from wattchain.contracts.meters import meter_id
        return self.governed("revoke", ["revoke", meter_id(device.pubkey)],
                             meter_id(device.pubkey))

    def reading(self, device: User, kind: str, start: int, seconds: int, energy: int,
                counter: int, consumer: bytes = b"") -> list[Any]:
        from wattchain.contracts.meters import meter_id
        from wattchain.contracts.watt import reading_digest
        mid = meter_id(device.pubkey)
        sig = device.sign(reading_digest(self.watt, kind, mid, start, seconds, energy, counter,
                                         consumer))
        if kind == "production":
            return [mid, start, seconds, energy, counter, sig]
        return [mid, consumer, start, seconds, energy, counter, sig]

    def produce(self, device: User, start: int, seconds: int, energy: int, counter: int,
                sender: User | None = None) -> Receipt:
        args = self.reading(device, "production", start, seconds, energy, counter)
        return self.h.call(sender or device, self.watt, "mint_production", *args)

    def consume(self, device: User, consumer: User, start: int, seconds: int, energy: int,
                counter: int, sender: User | None = None) -> Receipt:
        args = self.reading(device, "consumption", start, seconds, energy, counter,
                            consumer.account)
        return self.h.call(sender or consumer, self.watt, "burn_consumption", *args)


def deploy_energy(grant: int = 1_000) -> Energy:
    h = Harness()
    operators = [make_user(f"operator-{i}") for i in range(3)]
    creator = make_user("creator")
    platform = make_user("platform")
    registry = h.create(creator, "MeterRegistry",
                        {"operators": [o.pubkey for o in operators], "threshold": 2})
    watt = h.create(creator, "WattToken", {"registry": registry})
    tsl = h.create(creator, "TslToken", {})
    battery = h.create(creator, "BatteryStorage", {"tsl": tsl, "watt": watt,
                                                   "registry": registry,
                                                   "platform": platform.account,
                                                   "grant": grant})
    return Energy(h, operators, registry, watt, tsl, battery, platform)
