"""A real chainstate (LevelDB on tmp_path) fed with chaingen blocks of contract transactions.

Contract transactions spend one P2WPKH coin of a chaingen key (so the key's hash160 is the
sender account), carry the contract outputs, pay exactly the gas plus ``EXTRA_FEE`` and send
the change back to the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wattchain.contracts import abi, call_script, contract_id, create_script
from wattchain.core.hashes import hash160
from wattchain.core.header import StakeBlock
from wattchain.core.keys import sign_ecdsa
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.node.activation import ProcessResult
from wattchain.node.chaingen import (Branch, Key, Spendable, far_future_now, generated_params,
                                     make_keys, sign_transaction)
from wattchain.node.chainstate import Chainstate

GAS = 1_000_000
PRICE = 40
EXTRA_FEE = 5_000


def account_of(key: Key) -> bytes:
    return hash160(key.pubkey)


def create_out(name: str, args: dict[str, Any], gas: int = GAS, value: int = 0) -> TxOut:
    return TxOut(value, create_script(0, gas, PRICE, abi.encode_create(name, 1, args)))


def call_out(cid: bytes, method: str, *args: Any, gas: int = GAS, value: int = 0) -> TxOut:
    return TxOut(value, call_script(0, gas, PRICE, abi.encode_call(method, list(args)), cid))


class ContractChain:
    """Keys 0..3; the chainstate is reopened with :meth:`reopen`."""

    def __init__(self, datadir: Path, n_keys: int = 4, cache_bytes: int = 0) -> None:
        self.keys = make_keys(n_keys, seed=808)
        self.params = generated_params(self.keys, outputs_per_key=12)
        self.branch = Branch(self.params, self.keys)
        self.datadir = datadir
        self.cache_bytes = cache_bytes
        self.cs = Chainstate.open(datadir, self.params, cache_bytes=cache_bytes, sync=False)
        self.now = far_future_now(self.params)
        self._used: set[OutPoint] = set()

    def reopen(self) -> None:
        self.cs.close()
        self.cs = Chainstate.open(self.datadir, self.params, cache_bytes=self.cache_bytes,
                                  sync=False)

    def close(self) -> None:
        self.cs.close()

    # ------------------------------------------------------------------ transactions
    def coin_of(self, key: Key, branch: Branch | None = None) -> Spendable:
        branch = branch or self.branch
        for coin in sorted(branch.mature_coins(), key=lambda c: (c.height, c.outpoint.txid,
                                                                  c.outpoint.index)):
            if coin.key == key and coin.outpoint not in self._used:
                self._used.add(coin.outpoint)
                return coin
        raise AssertionError("no spendable coin left for the key")

    def contract_tx(self, key: Key, *outputs: TxOut, fee: int | None = None,
                    branch: Branch | None = None) -> Transaction:
        coin = self.coin_of(key, branch)
        gas = sum(_gas_fee(out) for out in outputs)
        fee = gas + EXTRA_FEE if fee is None else fee
        change = coin.output.value - sum(out.value for out in outputs) - fee
        unsigned = Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),),
                               (*outputs, TxOut(change, key.script_pubkey)), 0)
        return sign_transaction(unsigned, [coin])

    # ------------------------------------------------------------------ blocks
    def submit(self, block: StakeBlock) -> ProcessResult:
        return self.cs.process_block(block, self.now)

    def mine(self, *txs: Transaction, branch: Branch | None = None) -> StakeBlock:
        branch = branch or self.branch
        block = branch.make_block(txs)
        result = self.submit(block)
        assert result.accepted, (result.reason, result.detail)
        branch.add(block)
        return block

    def create(self, key: Key, name: str, args: dict[str, Any]) -> bytes:
        tx = self.contract_tx(key, create_out(name, args))
        self.mine(tx)
        [receipt] = self.cs.get_receipt(tx.txid)
        assert receipt.ok, receipt.excepted
        return contract_id(tx.txid, 0)

    def call(self, key: Key, cid: bytes, method: str, *args: Any, **kw: Any):  # noqa: ANN201
        tx = self.contract_tx(key, call_out(cid, method, *args, **kw))
        self.mine(tx)
        [receipt] = self.cs.get_receipt(tx.txid)
        return receipt

    def view(self, cid: bytes, method: str, *args: Any) -> Any:
        result = self.cs.call_contract(cid, method, list(args))
        assert result.status == "ok", result.excepted
        return result.result


def _gas_fee(out: TxOut) -> int:
    from wattchain.contracts import parse_contract_output
    from wattchain.contracts.params import ContractParams
    return parse_contract_output(out.script_pubkey, ContractParams()).gas_fee


def operator_sigs(operators: Sequence[Key], indices: Sequence[int], registry: bytes,
                  target: bytes, nonce: int, action: list[Any]) -> list[list[Any]]:
    from wattchain.contracts.meters import operation_digest
    digest = operation_digest(registry, target, nonce, action)
    return [[i, sign_ecdsa(operators[i].secret, digest)] for i in indices]


__all__ = ["ContractChain", "GAS", "PRICE", "EXTRA_FEE", "account_of", "call_out",
           "create_out", "operator_sigs"]
