"""Wallet RPCs over HTTP against a real wattchain.wallet.Wallet following a real chainstate."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from wattchain.core.tx import Transaction
from wattchain.script.address import address_from_script, encode_wif, script_from_address
from wattchain.wallet import Wallet
from wattchain.wallet.crypto import ScryptParams

from .helpers import ChainData, RpcFailure, RunningNode, start_node, stop_node

FAST_SCRYPT = ScryptParams(n=1 << 10, r=8, p=1)


@pytest.fixture
def wnode(tmp_path: Path, chain: ChainData) -> Iterator[RunningNode]:
    node = start_node(tmp_path / "node", chain)
    wallet = Wallet.create(tmp_path / "wallet", chain.params, sync=False)
    node.run(node.services.call(wallet.attach, node.services.chainstate))
    node.services.wallet = wallet
    try:
        yield node
    finally:
        stop_node(node)
        wallet.close()


def fund(node: RunningNode) -> int:
    """Import chaingen key 0 (its premine coins); returns its unspent total in base units."""
    key = node.chain.keys[0]
    wif = encode_wif(key.secret, node.chain.params.address_format)
    assert node.call("importprivkey", wif) is None
    return sum(c.output.value for c in node.chain.branch.coins.values()
               if c.output.script_pubkey == key.script_pubkey)


def test_addresses_info_and_balances(wnode: RunningNode) -> None:
    fmt = wnode.chain.params.address_format
    address = wnode.call("getnewaddress")
    assert address.startswith(fmt.bech32_hrp + "1")
    assert wnode.call("validateaddress", address)["witness_version"] == 0
    assert wnode.call("getnewaddress") != address
    info = wnode.call("getwalletinfo")
    assert info["txcount"] == 0 and info["balance"] == Decimal(0)
    total = fund(wnode)
    balances = wnode.call("getbalances")
    assert balances["mine"]["trusted"] == Decimal(total) / 10**8
    assert wnode.call("getbalance") == Decimal(total) / 10**8
    unspent = wnode.call("listunspent")
    assert sum(Decimal(u["amount"]) for u in unspent) == Decimal(total) / 10**8
    key_address = address_from_script(wnode.chain.keys[0].script_pubkey, fmt)
    assert wnode.call("listunspent", 1, 9999999, [key_address]) == unspent
    assert wnode.call("listunspent", 1, 9999999, [address]) == []
    wif = wnode.call("dumpprivkey", key_address)
    assert wif == encode_wif(wnode.chain.keys[0].secret, fmt)
    with pytest.raises(RpcFailure) as info_:
        wnode.call("importprivkey", "notawif")
    assert info_.value.code == -5


def test_sendtoaddress_reaches_the_mempool(wnode: RunningNode) -> None:
    fund(wnode)
    target = wnode.call("getnewaddress")
    txid = wnode.call("sendtoaddress", target, "1.25")
    assert wnode.call("getrawmempool") == [txid]
    tx = Transaction.from_hex(wnode.call("getrawtransaction", txid))
    script = script_from_address(target, wnode.chain.params.address_format)
    assert any(o.script_pubkey == script and o.value == 125_000_000 for o in tx.outputs)
    assert all(i.sequence == 0xFFFFFFFD for i in tx.inputs)  # RBF by default
    rows = wnode.call("listtransactions")
    assert any(r["txid"] == txid and r["category"] == "receive" for r in rows)
    many = wnode.call("sendmany", "", {wnode.call("getnewaddress"): 1,
                                      wnode.call("getnewaddress"): "0.5"})
    assert set(wnode.call("getrawmempool")) == {txid, many}
    with pytest.raises(RpcFailure) as info:
        wnode.call("sendtoaddress", target, 10**6)
    assert info.value.code == -6
    with pytest.raises(RpcFailure) as info:
        wnode.call("sendtoaddress", "wcrt1qnotanaddress", 1)
    assert info.value.code == -5


def test_psbt_round_trip(wnode: RunningNode) -> None:
    fund(wnode)
    target = wnode.call("getnewaddress")
    created = wnode.call("walletcreatefundedpsbt", [], [{target: 2}], 0, {"fee_rate": 2})
    assert created["changepos"] in (0, 1) and created["fee"] > 0
    decoded = wnode.call("decodepsbt", created["psbt"])
    assert decoded["fee"] == created["fee"] and len(decoded["tx"]["vout"]) == 2
    unsigned = wnode.call("finalizepsbt", created["psbt"])
    assert unsigned["complete"] is False and "psbt" in unsigned
    processed = wnode.call("walletprocesspsbt", created["psbt"], True, "ALL", True, False)
    assert processed["complete"] is False  # signed but not finalized (Core's meaning)
    assert all(i.get("partial_signatures") for i in wnode.call(
        "decodepsbt", processed["psbt"])["inputs"])
    combined = wnode.call("combinepsbt", [created["psbt"], processed["psbt"]])
    final = wnode.call("finalizepsbt", combined)
    assert final["complete"] is True
    txid = wnode.call("sendrawtransaction", final["hex"])
    assert wnode.call("getrawmempool") == [txid]
    with pytest.raises(RpcFailure) as info:
        wnode.call("walletprocesspsbt", created["psbt"], True, "EVERYTHING")
    assert info.value.code == -8


def test_encryption_passphrase_and_lock(wnode: RunningNode) -> None:
    fund(wnode)
    wallet = wnode.services.wallet
    wnode.run(wnode.services.call(wallet.encrypt, "correct horse", FAST_SCRYPT))
    target = wnode.call("getnewaddress")
    with pytest.raises(RpcFailure) as info:
        wnode.call("sendtoaddress", target, 1)
    assert info.value.code == -13
    with pytest.raises(RpcFailure) as info:
        wnode.call("walletpassphrase", "wrong", 60)
    assert info.value.code == -14
    with pytest.raises(RpcFailure) as info:
        wnode.call("walletpassphrase", "correct horse", -1)
    assert info.value.code == -8
    assert wnode.call("walletpassphrase", "correct horse", 60) is None
    assert wnode.call("getwalletinfo")["unlocked_until"] > 0
    assert len(wnode.call("sendtoaddress", target, 1)) == 64
    assert wnode.call("walletlock") is None
    assert wnode.call("getwalletinfo")["unlocked_until"] == 0
    with pytest.raises(RpcFailure) as info:
        wnode.call("dumpprivkey", target)
    assert info.value.code == -13


def test_addmultisigaddress_and_signrawtransaction(wnode: RunningNode) -> None:
    fund(wnode)
    pubkeys = [k.pubkey.hex() for k in wnode.chain.keys]
    added = wnode.call("addmultisigaddress", 2, pubkeys)
    assert added == wnode.call("createmultisig", 2, pubkeys)
    coin = sorted((c for c in wnode.chain.branch.coins.values()
                   if c.output.script_pubkey == wnode.chain.keys[0].script_pubkey),
                  key=lambda c: (c.outpoint.txid, c.outpoint.index))[0]
    raw = wnode.call("createrawtransaction",
                     [{"txid": coin.outpoint.txid[::-1].hex(), "vout": coin.outpoint.index}],
                     {added["address"]: Decimal(coin.output.value - 10_000) / 10**8})
    signed = wnode.call("signrawtransactionwithwallet", raw)
    assert signed["complete"] is True and signed["hex"] != raw
    assert wnode.call("testmempoolaccept", [signed["hex"]])[0]["allowed"] is True
