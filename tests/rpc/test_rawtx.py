"""Raw-transaction and mempool RPCs over HTTP: decode/create round trips, broadcast, errors."""

from __future__ import annotations

import hashlib
import random
from decimal import Decimal

import pytest

from wattchain.core.hashes import hash160
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import Spendable
from wattchain.script.address import address_from_script
from wattchain.script.standard import multisig, p2sh, p2wpkh

from .helpers import RpcFailure, RunningNode


def wsh(script: bytes) -> bytes:
    """P2WSH output computed by hand (BIP141: OP_0 <SHA256(witness script)>)."""
    return bytes((0, 32)) + hashlib.sha256(script).digest()


def display(h: bytes) -> str:
    return h[::-1].hex()


def spendable(node: RunningNode, n: int = 1) -> list[Spendable]:
    coins = [c for c in node.chain.branch.mature_coins() if c.key is not None]
    coins.sort(key=lambda c: (c.outpoint.txid, c.outpoint.index))
    return coins[:n]


def signed_spend(node: RunningNode, coins: list[Spendable], fee: int = 2000,
                 seed: int = 1) -> Transaction:
    return node.chain.branch.spend(coins, 2, random.Random(seed), fee=fee)


def test_decoderawtransaction_round_trip_and_errors(node: RunningNode) -> None:
    tx = node.chain.blocks[2].transactions[1]
    decoded = node.call("decoderawtransaction", tx.to_hex())
    assert decoded["txid"] == display(tx.txid) and decoded["hash"] == display(tx.wtxid)
    assert decoded["size"] == len(tx.serialize()) and decoded["vsize"] == tx.vsize
    assert [v["value"] for v in decoded["vout"]] == [Decimal(o.value) / COIN for o in tx.outputs]
    assert decoded["vin"][0]["txinwitness"] == [w.hex() for w in tx.inputs[0].witness]
    for bad in ("00", "zz", "0100000000"):
        with pytest.raises(RpcFailure) as info:
            node.call("decoderawtransaction", bad)
        assert (info.value.code, info.value.message) == (-22, "TX decode failed")
    with pytest.raises(RpcFailure) as info:  # a witness tx is not valid without witness
        node.call("decoderawtransaction", tx.to_hex(), False)
    assert info.value.code == -22


def test_decodescript(node: RunningNode) -> None:
    fmt = node.chain.params.address_format
    key = node.chain.keys[0]
    result = node.call("decodescript", key.script_pubkey.hex())
    assert result["type"] == "witness_v0_keyhash"
    assert result["address"] == address_from_script(key.script_pubkey, fmt)
    assert result["p2sh"] == address_from_script(p2sh(hash160(key.script_pubkey)), fmt)
    assert "segwit" not in result
    ms = multisig(2, [k.pubkey for k in node.chain.keys])
    result = node.call("decodescript", ms.hex())
    assert result["type"] == "multisig" and result["asm"].startswith("2 ")
    assert result["p2sh"] == address_from_script(p2sh(hash160(ms)), fmt)
    assert result["segwit"]["hex"] == wsh(ms).hex()
    assert result["segwit"]["address"] == address_from_script(wsh(ms), fmt)
    assert result["segwit"]["p2sh-segwit"] == address_from_script(
        p2sh(hash160(wsh(ms))), fmt)
    with pytest.raises(RpcFailure) as info:
        node.call("decodescript", "abc")
    assert info.value.code == -8


def test_createrawtransaction_round_trip(node: RunningNode) -> None:
    fmt = node.chain.params.address_format
    a0 = address_from_script(node.chain.keys[0].script_pubkey, fmt)
    a1 = address_from_script(node.chain.keys[1].script_pubkey, fmt)
    txid = "11" * 32
    hex_ = node.call("createrawtransaction", [{"txid": txid, "vout": 3}],
                     [{a0: "1.5"}, {a1: Decimal("0.00000001")}, {"data": "cafe"}], 7)
    tx = Transaction.from_hex(hex_)
    assert tx.inputs[0].prevout == OutPoint(bytes.fromhex(txid)[::-1], 3)
    assert tx.inputs[0].sequence == 0xFFFFFFFE  # locktime set -> non-final sequence
    assert tx.locktime == 7
    assert [o.value for o in tx.outputs] == [150_000_000, 1, 0]
    assert tx.outputs[0].script_pubkey == node.chain.keys[0].script_pubkey
    assert tx.outputs[2].script_pubkey.hex() == "6a02cafe"
    rbf = Transaction.from_hex(node.call("createrawtransaction", [{"txid": txid, "vout": 0}],
                                         {a0: 1}, 0, True))
    assert rbf.inputs[0].sequence == 0xFFFFFFFD
    plain = Transaction.from_hex(node.call("createrawtransaction",
                                           [{"txid": txid, "vout": 0, "sequence": 5}], {a0: 1}))
    assert plain.inputs[0].sequence == 5
    cases = [
        (([{"txid": txid}], {a0: 1}), -8, "Invalid parameter, missing vout key"),
        (([{"txid": txid, "vout": -1}], {a0: 1}), -8,
         "Invalid parameter, vout cannot be negative"),
        (([], [{a0: 1}, {a0: 2}]), -8, f"Invalid parameter, duplicated address: {a0}"),
        (([], {a0: "x"}), -3, "Invalid amount"),
        (([], {a0: -1}), -3, "Amount out of range"),
        (([], {a0: "0.000000001"}), -3, "Invalid amount"),
    ]
    for params, code, message in cases:
        with pytest.raises(RpcFailure) as info:
            node.call("createrawtransaction", *params)
        assert (info.value.code, info.value.message) == (code, message), params
    with pytest.raises(RpcFailure) as info:
        node.call("createrawtransaction", [], {"bc1qnotours": 1})
    assert info.value.code == -5


def test_send_and_mempool_queries(node: RunningNode) -> None:
    coins = spendable(node, 2)
    tx = signed_spend(node, coins[:1], fee=2000)
    tested = node.call("testmempoolaccept", [tx.to_hex()])
    assert tested == [{"txid": display(tx.txid), "wtxid": display(tx.wtxid), "allowed": True,
                       "vsize": tx.vsize,
                       "fees": {"base": Decimal("0.00002000"),
                                "effective-feerate": Decimal(2000 * 1000 // tx.vsize) / COIN,
                                "effective-includes": [display(tx.wtxid)]}}]
    assert node.call("getrawmempool") == []
    assert node.call("sendrawtransaction", tx.to_hex()) == display(tx.txid)
    assert node.call("sendrawtransaction", tx.to_hex()) == display(tx.txid)  # idempotent
    assert node.call("getrawmempool") == [display(tx.txid)]
    entry = node.call("getmempoolentry", display(tx.txid))
    assert entry["fees"]["base"] == Decimal("0.00002000") and entry["vsize"] == tx.vsize
    assert entry["wtxid"] == display(tx.wtxid) and entry["depends"] == []
    assert tx.inputs[0].sequence == 0xFFFFFFFE  # chaingen's spends do not signal BIP125
    assert entry["bip125-replaceable"] is False
    verbose = node.call("getrawmempool", True)
    assert verbose == {display(tx.txid): entry}
    info = node.call("getmempoolinfo")
    assert info["size"] == 1 and info["bytes"] == tx.vsize and info["loaded"] is True
    assert info["total_fee"] == Decimal("0.00002000")
    assert info["minrelaytxfee"] == Decimal("0.00001000")
    got = node.call("getrawtransaction", display(tx.txid))
    assert got == tx.to_hex()
    assert node.call("getrawtransaction", display(tx.txid), True)["hex"] == tx.to_hex()
    # the spent coin is gone from gettxout with the mempool, present without it
    spent = coins[0].outpoint
    assert node.call("gettxout", display(spent.txid), spent.index) is None
    assert node.call("gettxout", display(spent.txid), spent.index, False) is not None
    unconfirmed = node.call("gettxout", display(tx.txid), 0)
    assert unconfirmed["confirmations"] == 0
    # a conflicting spend of the same coin is rejected (-26), testmempoolaccept says why
    conflict = signed_spend(node, coins[:1], fee=2000, seed=99)
    assert conflict.txid != tx.txid
    rejected = node.call("testmempoolaccept", [conflict.to_hex()])[0]
    assert rejected["allowed"] is False
    assert rejected["reject-reason"] == "txn-mempool-conflict"
    with pytest.raises(RpcFailure) as info:
        node.call("sendrawtransaction", conflict.to_hex())
    assert info.value.code == -26 and info.value.message.startswith("txn-mempool-conflict")
    with pytest.raises(RpcFailure) as info:
        node.call("getmempoolentry", "22" * 32)
    assert (info.value.code, info.value.message) == (-5, "Transaction not in mempool")
    estimate = node.call("estimatesmartfee", 2)
    assert estimate == {"feerate": Decimal(2000 * 1000 // tx.vsize) / COIN, "blocks": 2}


def test_send_errors(node: RunningNode) -> None:
    coin = spendable(node, 3)[2]
    # missing inputs -> -25
    orphan = Transaction(2, (TxIn(OutPoint(b"\x33" * 32, 0), b"", 0xFFFFFFFD, (b"\x01",)),),
                         (TxOut(1000, p2wpkh(b"\x01" * 20)),), 0)
    with pytest.raises(RpcFailure) as info:
        node.call("sendrawtransaction", orphan.to_hex())
    assert (info.value.code, info.value.message) == (-25, "bad-txns-inputs-missingorspent")
    assert node.call("testmempoolaccept", [orphan.to_hex()])[0]["reject-reason"] == \
        "missing-inputs"
    # fee above maxfeerate -> -25 and max-fee-exceeded
    greedy = signed_spend(node, [coin], fee=coin.output.value // 2)
    with pytest.raises(RpcFailure) as info:
        node.call("sendrawtransaction", greedy.to_hex())
    assert info.value.code == -25 and "Fee exceeds maximum" in info.value.message
    assert node.call("testmempoolaccept", [greedy.to_hex()])[0]["reject-reason"] == \
        "max-fee-exceeded"
    assert node.call("testmempoolaccept", [greedy.to_hex()], 0)[0]["allowed"] is True
    # a confirmed tx whose outputs are unspent -> -27 (the tip's coinstake)
    confirmed = node.chain.blocks[-1].transactions[1]
    with pytest.raises(RpcFailure) as info:
        node.call("sendrawtransaction", confirmed.to_hex())
    assert (info.value.code, info.value.message) == (-27,
                                                     "Transaction outputs already in utxo set")
    # undecodable -> -22; too many / too few txs -> -8
    with pytest.raises(RpcFailure) as info:
        node.call("sendrawtransaction", "deadbeef")
    assert info.value.code == -22
    with pytest.raises(RpcFailure) as info:
        node.call("testmempoolaccept", [])
    assert info.value.code == -8
    assert node.call("estimatesmartfee", 6) == {
        "errors": ["Insufficient data or no feerate found"], "blocks": 6}
    with pytest.raises(RpcFailure) as info:
        node.call("estimatesmartfee", 0)
    assert info.value.code == -8


def test_getrawtransaction_needs_blockhash_for_confirmed(node: RunningNode) -> None:
    blocks = node.chain.blocks
    block = blocks[2]
    tx = block.transactions[1]
    with pytest.raises(RpcFailure) as info:
        node.call("getrawtransaction", display(tx.txid))
    assert info.value.code == -5 and "provide a block hash" in info.value.message
    assert node.call("getrawtransaction", display(tx.txid), 0, display(block.hash)) == \
        tx.to_hex()
    verbose = node.call("getrawtransaction", display(tx.txid), True, display(block.hash))
    assert verbose["in_active_chain"] is True and verbose["blockhash"] == display(block.hash)
    assert verbose["confirmations"] == len(blocks) - 2 and verbose["hex"] == tx.to_hex()
    assert verbose["blocktime"] == block.header.time
    with pytest.raises(RpcFailure) as info:
        node.call("getrawtransaction", display(tx.txid), 0, display(blocks[3].hash))
    assert info.value.code == -5 and "provided block" in info.value.message
    with pytest.raises(RpcFailure) as info:
        node.call("getrawtransaction", display(tx.txid), 0, "44" * 32)
    assert (info.value.code, info.value.message) == (-5, "Block hash not found")


def test_validateaddress_and_createmultisig(node: RunningNode) -> None:
    fmt = node.chain.params.address_format
    key = node.chain.keys[0]
    address = address_from_script(key.script_pubkey, fmt)
    result = node.call("validateaddress", address)
    assert result == {"isvalid": True, "address": address,
                      "scriptPubKey": key.script_pubkey.hex(), "isscript": False,
                      "iswitness": True, "witness_version": 0,
                      "witness_program": hash160(key.pubkey).hex()}
    bad = node.call("validateaddress", address[:-1] + ("q" if address[-1] != "q" else "p"))
    assert bad["isvalid"] is False and bad["error"]
    pubkeys = [k.pubkey.hex() for k in node.chain.keys]
    ms = node.call("createmultisig", 2, pubkeys)
    script = multisig(2, [k.pubkey for k in node.chain.keys])
    assert ms == {"address": address_from_script(wsh(script), fmt),
                  "redeemScript": script.hex()}
    legacy = node.call("createmultisig", 2, pubkeys, "legacy")
    assert legacy["address"] == address_from_script(p2sh(hash160(script)), fmt)
    with pytest.raises(RpcFailure) as info:
        node.call("createmultisig", 4, pubkeys)
    assert info.value.code == -8
    with pytest.raises(RpcFailure) as info:
        node.call("createmultisig", 1, ["02abcd"])
    assert info.value.code == -5


def test_disabled_components_answer_core_errors(node: RunningNode) -> None:
    for method, params in (("getnewaddress", []), ("getbalance", []), ("getwalletinfo", []),
                           ("listunspent", []), ("walletlock", []),
                           ("walletpassphrase", ["pw", 10]),
                           ("sendtoaddress", ["x", 1])):
        with pytest.raises(RpcFailure) as info:
            node.call(method, *params)
        assert (info.value.code, info.value.message) == (
            -18, "Requested wallet does not exist or is not loaded"), method
    assert node.call("getpeerinfo") == [] and node.call("getconnectioncount") == 0
    with pytest.raises(RpcFailure) as info:
        node.call("addnode", "127.0.0.1:1", "add")
    assert info.value.code == -31
    with pytest.raises(RpcFailure) as info:
        node.call("addnode", "127.0.0.1:1", "bogus")
    assert info.value.code == -1
    net = node.call("getnetworkinfo")
    assert net["signaturebackend"] in ("compiled", "pure") and net["connections"] == 0
    assert net["subversion"].startswith("/wattchain:") and net["networkactive"] is False
    staking = node.call("getstakinginfo")
    assert staking["enabled"] is False and staking["weight"] == 0
    with pytest.raises(RpcFailure) as info:
        node.call("setstaking", True)
    assert info.value.code == -4


def test_psbt_methods_without_wallet(node: RunningNode) -> None:
    for method, params in (("decodepsbt", ["notbase64!"]), ("finalizepsbt", ["AAAA"]),
                           ("combinepsbt", [["cHNidP8="]])):
        with pytest.raises(RpcFailure) as info:
            node.call(method, *params)
        assert info.value.code == -22, method
