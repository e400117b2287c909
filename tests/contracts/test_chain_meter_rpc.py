"""Meter helper RPCs: sign a reading as a meter would, submit it from a wallet coin, read the
registry record — on a real chainstate with the wallet and mempool."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wattchain.contracts.meters import meter_id
from wattchain.node.mempool import Mempool
from wattchain.rpc.errors import RPCError
from wattchain.rpc.methods import all_methods
from wattchain.rpc.methods.base import RpcContext
from wattchain.script.address import encode_wif
from wattchain.wallet import Wallet

from chain_support import ContractChain, account_of, operator_sigs


class _Node:
    def __init__(self, chain: ContractChain, wallet: Any, mempool: Any) -> None:
        self.chainstate, self.params = chain.cs, chain.params
        self.wallet, self.mempool, self.p2p = wallet, mempool, None

    async def call(self, fn: Any, *args: Any) -> Any:
        return fn(*args)


@pytest.fixture
def chain(tmp_path):
    c = ContractChain(tmp_path)
    yield c
    c.close()


def test_sign_submit_and_read_meter_readings(chain, tmp_path) -> None:
    ops = chain.keys[:3]
    owner, meter = chain.keys[3], chain.keys[2]
    registry = chain.create(ops[0], "MeterRegistry",
                            {"operators": [k.pubkey for k in ops], "threshold": 2})
    watt = chain.create(ops[0], "WattToken", {"registry": registry})
    action = ["certify", meter.pubkey, account_of(owner), "meter"]
    assert chain.call(ops[1], registry, "certify", meter.pubkey, account_of(owner), "meter", 0,
                      operator_sigs(ops, [0, 2], registry, registry, 0, action)).ok
    pool = Mempool(chain.cs)
    wallet = Wallet.create(tmp_path / "wallet", chain.params, sync=False)
    node = _Node(chain, wallet, pool)
    methods = all_methods()

    def rpc(method: str, *params: Any) -> Any:
        return asyncio.run(methods[method].invoke(RpcContext(node, methods),  # type: ignore
                                                  list(params)))

    def mine_pool() -> None:
        chain.mine(*pool.select_for_block(chain.params.max_block_weight,
                                          chain.params.max_block_sigops_cost))
    try:
        wallet.attach(chain.cs, pool)
        wallet.import_privkey(encode_wif(owner.secret, chain.params.address_format))
        start = chain.branch.tip.header.time
        record = rpc("getmeter", registry.hex(), meter_id(meter.pubkey).hex())
        assert record is not None and "0x" + account_of(owner).hex() in str(record)
        signed = rpc("signmeterreading", watt.hex(), meter.secret.hex(), "production",
                     start, 900, 7000, 1)
        assert signed["device"] == meter_id(meter.pubkey).hex()
        rpc("submitmeterreading", watt.hex(), signed["device"], "production", start, 900,
            7000, 1, signed["signature"])
        mine_pool()
        assert chain.view(watt, "balanceOf", account_of(owner)) == 7000
        # a consumption reading of the owner's meter burns the owner's WATT
        burn = rpc("signmeterreading", watt.hex(), meter.secret.hex(), "consumption",
                   start + 900, 900, 2500, 2, account_of(owner).hex())
        rpc("submitmeterreading", watt.hex(), burn["device"], "consumption", start + 900, 900,
            2500, 2, burn["signature"], account_of(owner).hex())
        mine_pool()
        assert chain.view(watt, "balanceOf", account_of(owner)) == 4500
        assert chain.view(watt, "totalSupply") == 4500
        # a reading signed by a key that is not a certified meter mints nothing
        rogue = rpc("signmeterreading", watt.hex(), ops[0].secret.hex(), "production",
                    start + 1800, 900, 10**9, 3)
        rpc("submitmeterreading", watt.hex(), rogue["device"], "production", start + 1800,
            900, 10**9, 3, rogue["signature"])
        mine_pool()
        assert chain.view(watt, "totalSupply") == 4500
        with pytest.raises(RPCError):
            rpc("signmeterreading", watt.hex(), "00" * 32, "production", start, 900, 1, 1)
        with pytest.raises(RPCError):
            rpc("signmeterreading", watt.hex(), meter.secret.hex(), "sunshine", start, 900, 1, 1)
    finally:
        wallet.close()
