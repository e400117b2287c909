"""Mempool acceptance: what enters, and every refusal with Core's exact reject reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from wattchain.consensus.assemble import build_coinbase
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.consensus.params import ChainParams
from wattchain.node.chaingen import Branch, Key, Spendable, far_future_now, generated_params
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool, MempoolRejectError
from wattchain.node.policy import dust_threshold
from wattchain.script.opcodes import Op
from wattchain.script.standard import null_data, p2wsh

from .mempool_helpers import (NO_RBF, NOW, RBF, Wallet, chainstate, make_pool,  # noqa: F401
                              pool, wallet)


def _reject(pool: Mempool, tx: Transaction, *, pooled: bool = False) -> MempoolRejectError:
    """Both accept and test_accept refuse ``tx`` with the same reason; nothing changes."""
    before = pool.txids()
    orphans = pool.orphans.txids()
    with pytest.raises(MempoolRejectError) as test_info:
        pool.test_accept(tx)
    with pytest.raises(MempoolRejectError) as info:
        pool.accept(tx)
    assert test_info.value.reason == info.value.reason
    assert pool.txids() == before
    assert pool.contains(tx.txid) == pooled and pool.orphans.txids() == orphans
    pool.graph.check()
    return info.value


def test_accept_and_entry(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    tx = wallet.pay([coin], 1000)
    checked = pool.test_accept(tx)
    assert checked.accepted and checked.fee == 1000 and len(pool) == 0
    result = pool.accept(tx)
    assert result.accepted and not result.orphan and result.fee == 1000
    assert pool.contains(tx.txid) and pool.get(tx.txid) == tx and pool.txids() == [tx.txid]
    entry = pool.get_entry(tx.txid)
    assert entry is not None
    assert (entry.fee, entry.vsize, entry.weight, entry.time, entry.height) == (
        1000, tx.vsize, tx.weight, NOW, 0)
    assert entry.ancestor_count == entry.descendant_count == 1
    info = pool.info()
    assert (info.size, info.bytes, info.total_fee, info.minrelaytxfee) == (1, tx.vsize, 1000, 1000)
    assert info.usage > 0 and info.mempoolminfee == 1000
    assert _reject(pool, tx, pooled=True).reason == "txn-already-in-mempool"


def test_child_spends_pooled_output_and_links(pool: Mempool, wallet: Wallet) -> None:
    parent = wallet.pay([wallet.coin()], 1000, n_outputs=2)
    child = wallet.pay([wallet.outputs_of(parent)[1]], 2000)
    pool.accept(parent)
    pool.accept(child)
    p, c = pool.get_entry(parent.txid), pool.get_entry(child.txid)
    assert p is not None and c is not None
    assert p.children == {child.txid} and c.parents == {parent.txid}
    assert (c.ancestor_count, c.ancestor_fees, c.ancestor_size) == (
        2, 3000, parent.vsize + child.vsize)
    assert (p.descendant_count, p.descendant_fees) == (2, 3000)
    pool.graph.check()
    bad_index = wallet.build([replace(wallet.outputs_of(parent)[0],
                                      outpoint=OutPoint(parent.txid, 5))], [10_000])
    assert _reject(pool, bad_index).reason == "bad-txns-inputs-missingorspent"


def test_min_relay_fee(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    low = wallet.pay([coin], 109)
    assert low.vsize == 110
    assert _reject(pool, low).reason == "min relay fee not met"
    assert pool.accept(wallet.pay([coin], 110)).accepted


def test_dust_threshold_is_cores(pool: Mempool, wallet: Wallet) -> None:
    key_script = wallet.keys[0].script_pubkey
    assert dust_threshold(TxOut(0, key_script), 3000) == 294  # P2WPKH, as in Core
    assert dust_threshold(TxOut(0, b"\x76\xa9\x14" + bytes(20) + b"\x88\xac"), 3000) == 546
    coin = wallet.coin()
    rest = coin.output.value - 10_000
    dusty = wallet.build([coin], [rest - 293, 293])
    assert _reject(pool, dusty).reason == "dust"
    assert pool.accept(wallet.build([coin], [rest - 294, 294])).accepted


@pytest.mark.parametrize("case", ["scriptpubkey", "multi-op-return", "version", "tx-size",
                                  "scriptsig-not-pushonly", "bad-txns-in-belowout",
                                  "bad-txns-vout-negative", "coinstake", "coinbase",
                                  "non-final", "non-BIP68-final"])
def test_policy_and_consensus_reasons(chainstate: Chainstate, wallet: Wallet, case: str) -> None:
    pool = make_pool(chainstate, max_tx_weight=600 if case == "tx-size" else 400_000)
    coin = wallet.coin()
    value = coin.output.value - 10_000
    key_script = wallet.keys[0].script_pubkey
    if case == "scriptpubkey":
        tx = wallet.build([coin], [value], scripts=[bytes((Op.OP_1,))])
    elif case == "multi-op-return":
        tx = wallet.build([coin], [value, 0, 0],
                          scripts=[key_script, null_data(b"a"), null_data(b"b")])
    elif case == "version":
        tx = wallet.build([coin], [value], version=3)
    elif case == "tx-size":
        tx = wallet.pay([coin], 10_000, n_outputs=10)
        assert tx.weight > 600
    elif case == "scriptsig-not-pushonly":
        signed = wallet.build([coin], [value])
        txin = replace(signed.inputs[0], script_sig=bytes((Op.OP_DUP,)))
        tx = replace(signed, inputs=(txin,))
    elif case == "bad-txns-in-belowout":
        tx = wallet.build([coin], [coin.output.value + 1])
    elif case == "bad-txns-vout-negative":
        tx = wallet.build([coin], [value, -1])
    elif case == "coinstake":
        tx = wallet.build([coin], [0, value], scripts=[b"", key_script])
    elif case == "coinbase":
        tx = build_coinbase(1, [TxOut(value, key_script)], witness_reserved=None)
    elif case == "non-final":
        tx = wallet.build([coin], [value], locktime=2)  # next block is height 1
    else:  # relative lock of 2 blocks on a coin from height 0: first valid at height 2
        tx = wallet.build([coin], [value], sequence=2)
    assert _reject(pool, tx).reason == case
    if case == "non-final":
        assert pool.accept(wallet.build([coin], [value], locktime=0)).accepted


def test_script_failures_mandatory_and_not(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    wrong_key = replace(coin, key=wallet.keys[1])
    bad_sig = wallet.build([wrong_key], [coin.output.value - 1000])
    assert _reject(pool, bad_sig).reason == (
        "mandatory-script-verify-flag-failed (EQUALVERIFY)")
    # A witness script using an upgradable NOP: valid by consensus, refused by policy.
    nop_script = bytes((Op.OP_NOP1, Op.OP_1))
    fund = wallet.build([coin], [coin.output.value - 1000], scripts=[p2wsh(nop_script)])
    pool.accept(fund)
    spend = Transaction(2, (TxIn(OutPoint(fund.txid, 0), b"", RBF, (nop_script,)),),
                        (TxOut(fund.outputs[0].value - 1000, wallet.keys[0].script_pubkey),))
    assert _reject(pool, spend).reason == (
        "non-mandatory-script-verify-flag (DISCOURAGE_UPGRADABLE_NOPS)")


def test_sigops_limit(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = make_pool(chainstate, max_tx_sigops_cost=100)
    script = bytes((Op.OP_CHECKMULTISIG,)) * 6  # 6 x 20 witness sigops = 120
    coin = wallet.coin()
    fund = wallet.build([coin], [coin.output.value - 1000], scripts=[p2wsh(script)])
    pool.accept(fund)
    spend = Transaction(2, (TxIn(OutPoint(fund.txid, 0), b"", RBF, (script,)),),
                        (TxOut(fund.outputs[0].value - 1000, wallet.keys[0].script_pubkey),))
    assert _reject(pool, spend).reason == "bad-txns-too-many-sigops"


def test_first_seen_conflict(pool: Mempool, wallet: Wallet) -> None:
    coin = wallet.coin()
    first = wallet.pay([coin], 1000, sequence=NO_RBF)
    pool.accept(first)
    second = wallet.pay([coin], 50_000, sequence=NO_RBF)
    assert _reject(pool, second).reason == "txn-mempool-conflict"
    assert pool.txids() == [first.txid]


def test_ancestor_and_descendant_limits(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = make_pool(chainstate, max_ancestors=3, max_descendants=3)
    chain = wallet.chain(wallet.coin(), 4)
    for tx in chain[:3]:
        pool.accept(tx)
    error = _reject(pool, chain[3])
    assert error.reason == "too-long-mempool-chain" and "ancestors" in error.detail
    fan = wallet.pay([wallet.coin()], 1000, n_outputs=3)
    pool.accept(fan)
    kids = [wallet.pay([out], 1000) for out in wallet.outputs_of(fan)]
    pool.accept(kids[0])
    pool.accept(kids[1])
    error = _reject(pool, kids[2])
    assert error.reason == "too-long-mempool-chain" and "descendants" in error.detail


def test_ancestor_size_limit(chainstate: Chainstate, wallet: Wallet) -> None:
    pool = make_pool(chainstate, max_ancestor_size=250)
    chain = wallet.chain(wallet.coin(), 3)
    pool.accept(chain[0])
    pool.accept(chain[1])
    assert _reject(pool, chain[2]).reason == "too-long-mempool-chain"


def _chainstate_with(tmp_path: Path, keys: list[Key], *, maturity: int,
                     extra: tuple[tuple[bytes, int], ...] = ()) -> tuple[ChainParams, Chainstate]:
    params = generated_params(keys, coinbase_maturity=maturity)
    params = replace(params, premine=params.premine + tuple(extra))
    return params, Chainstate.open(tmp_path / f"m{maturity}", params, sync=False)


def test_premature_coinstake_spend(tmp_path: Path, keys: list[Key]) -> None:
    params, cs = _chainstate_with(tmp_path, keys, maturity=5)
    with cs:
        branch = Branch(params, keys)
        # Genesis outputs are mature at once (they are the first stake), so stake one and
        # try to spend the fresh coinstake output.
        block = branch.add(branch.make_block())
        assert cs.process_block(block, far_future_now(params)).accepted
        staked = branch.coins[OutPoint(block.transactions[1].txid, 1)]
        assert staked.is_coinbase  # chaingen: "subject to maturity"
        tx = Wallet(branch).pay([staked], 1000)
        pool = make_pool(cs)
        assert _reject(pool, tx).reason == "bad-txns-premature-spend-of-coinstake"
        premine = next(c for c in branch.coins.values() if c.height == 0)
        assert pool.accept(Wallet(branch).pay([premine], 1000)).accepted


def test_nonstandard_input(tmp_path: Path, keys: list[Key]) -> None:
    bare_true = bytes((Op.OP_1,))
    params, cs = _chainstate_with(tmp_path, keys, maturity=1, extra=((bare_true, 50 * COIN),))
    with cs:
        genesis_cb = params.genesis_block.transactions[0]
        index = len(params.premine) - 1
        assert genesis_cb.outputs[index].script_pubkey == bare_true
        wallet = Wallet(Branch(params, keys))
        coin = Spendable(OutPoint(genesis_cb.txid, index), genesis_cb.outputs[index], 0, True,
                         None)
        tx = wallet.build([coin], [50 * COIN - 1000], sign=False)
        assert _reject(make_pool(cs), tx).reason == "bad-txns-nonstandard-inputs"


def test_test_accept_leaves_no_orphan(pool: Mempool, wallet: Wallet) -> None:
    parent = wallet.pay([wallet.coin()], 1000)
    child = wallet.pay(wallet.outputs_of(parent), 1000)
    result = pool.test_accept(child)
    assert not result.accepted and result.orphan and result.reason == "missing-inputs"
    assert len(pool.orphans) == 0 and len(pool) == 0


def test_same_txid_other_witness(pool: Mempool, wallet: Wallet) -> None:
    tx = wallet.pay([wallet.coin()], 1000)
    pool.accept(tx)
    sig, pubkey = tx.inputs[0].witness
    malleated = replace(tx, inputs=(replace(tx.inputs[0], witness=(sig, pubkey, b"x")),))
    assert malleated.txid == tx.txid and malleated.wtxid != tx.wtxid
    assert _reject(pool, malleated, pooled=True).reason == "txn-same-nonwitness-data-in-mempool"
    assert pool.get_by_wtxid(tx.wtxid) == tx and pool.get_by_wtxid(malleated.wtxid) is None
