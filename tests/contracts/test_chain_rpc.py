"""The read-side contract RPCs over a real chainstate (handlers called directly)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wattchain.contracts import contract_id
from wattchain.core.tx import txid_to_hex
from wattchain.rpc.errors import RPCError
from wattchain.rpc.methods import all_methods
from wattchain.rpc.methods.base import RpcContext
from wattchain.script.address import address_from_script

from chain_support import ContractChain, account_of, create_out


class _Node:
    """What the handlers use of NodeServices: the chainstate, params and ``call``."""

    def __init__(self, chain: ContractChain) -> None:
        self.chainstate = chain.cs
        self.params = chain.params

    async def call(self, fn: Any, *args: Any) -> Any:
        return fn(*args)


def _rpc(chain: ContractChain, method: str, *params: Any) -> Any:
    methods = all_methods()
    ctx = RpcContext(_Node(chain), methods)  # type: ignore[arg-type]
    return asyncio.run(methods[method].invoke(ctx, list(params)))


@pytest.fixture
def chain(tmp_path):
    c = ContractChain(tmp_path)
    yield c
    c.close()


def test_contract_rpcs(chain) -> None:
    alice, bob = chain.keys[0], chain.keys[1]
    tx = chain.contract_tx(alice, create_out("TslToken", {}))
    chain.mine(tx)
    tsl = contract_id(tx.txid, 0)
    [receipt] = _rpc(chain, "gettransactionreceipt", txid_to_hex(tx.txid))
    assert receipt["contractAddress"] == tsl.hex() and receipt["status"] == "ok"
    assert receipt["from"] == account_of(alice).hex()
    assert receipt["log"][0]["topic"] == "Transfer"
    assert _rpc(chain, "gettransactionreceipt", "00" * 32) == []
    transfer = chain.call(alice, tsl, "transfer", account_of(bob), 99)
    assert transfer.ok
    bob_address = address_from_script(bob.script_pubkey, chain.params.address_format)
    assert _rpc(chain, "tokenbalance", tsl.hex(), bob_address) == 99
    assert _rpc(chain, "tokenbalance", tsl.hex(), account_of(bob).hex()) == 99
    call = _rpc(chain, "callcontract", tsl.hex(), "balanceOf", ["0x" + account_of(bob).hex()])
    assert call["executionResult"]["output"] == 99
    assert call["executionResult"]["status"] == "ok"
    logs = _rpc(chain, "searchlogs", 0, -1, [tsl.hex()], ["Transfer"])
    assert [item["transactionHash"] for item in logs] == [txid_to_hex(tx.txid),
                                                          txid_to_hex(transfer.txid)]
    assert logs[1]["blockNumber"] == chain.cs.tip.height
    assert _rpc(chain, "searchlogs", 0, -1, [tsl.hex()], ["Burn"]) == []
    with pytest.raises(RPCError):
        _rpc(chain, "tokenbalance", tsl.hex(), "not-an-address")


class _WalletNode(_Node):
    def __init__(self, chain: ContractChain, wallet: Any, mempool: Any) -> None:
        super().__init__(chain)
        self.wallet = wallet
        self.mempool = mempool
        self.p2p = None


def test_wallet_creates_and_calls_contracts(chain, tmp_path) -> None:
    from wattchain.node.mempool import Mempool
    from wattchain.script.address import encode_wif
    from wattchain.wallet import Wallet

    key = chain.keys[1]
    pool = Mempool(chain.cs)
    wallet = Wallet.create(tmp_path / "wallet", chain.params, sync=False)
    node = _WalletNode(chain, wallet, pool)
    methods = all_methods()

    def rpc(method: str, *params: Any) -> Any:
        return asyncio.run(methods[method].invoke(RpcContext(node, methods),  # type: ignore
                                                  list(params)))
    try:
        wallet.attach(chain.cs, pool)
        wallet.import_privkey(encode_wif(key.secret, chain.params.address_format))
        created = rpc("createcontract", "TslToken", {})
        assert created["sender"] == account_of(key).hex()
        mempool_txs = pool.select_for_block(chain.params.max_block_weight,
                                            chain.params.max_block_sigops_cost)
        assert [t.txid_hex for t in mempool_txs] == [created["txid"]]
        chain.mine(*mempool_txs)
        [receipt] = _rpc(chain, "gettransactionreceipt", created["txid"])
        assert receipt["status"] == "ok" and receipt["contractAddress"] == created["address"]
        to = chain.keys[2]
        sent = rpc("tokentransfer", created["address"], account_of(to).hex(), 31)
        mempool_txs = pool.select_for_block(chain.params.max_block_weight,
                                            chain.params.max_block_sigops_cost)
        assert [t.txid_hex for t in mempool_txs] == [sent["txid"]]
        chain.mine(*mempool_txs)
        assert _rpc(chain, "tokenbalance", created["address"], account_of(to).hex()) == 31
        call = rpc("sendtocontract", created["address"], "approve",
                   ["0x" + account_of(to).hex(), 5])
        assert call["sender"] == account_of(key).hex()
    finally:
        wallet.close()
