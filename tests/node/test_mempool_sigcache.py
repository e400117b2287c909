"""Signatures verified on acceptance go to the shared cache, so the block skips them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wattchain.consensus.script_checks import ScriptVerifier
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool, MempoolRejectError
from wattchain.script.sigcache import SignatureCache
from wattchain.script.sighash import SIGHASH_ALL, segwit_v0_signature_hash

from .mempool_helpers import NOW, Wallet, chainstate, wallet  # noqa: F401


def test_accepted_signatures_are_cached(chainstate: Chainstate, wallet: Wallet) -> None:
    cache = SignatureCache(salt=b"test")
    pool = Mempool(chainstate, clock=lambda: NOW, sigcache=cache)
    coin = wallet.coin()
    forged = wallet.pay([replace(coin, key=wallet.keys[1])], 1000)
    with pytest.raises(MempoolRejectError):
        pool.accept(forged)
    assert len(cache) == 0  # failures are never stored
    tx = wallet.pay([coin], 1000)
    pool.accept(tx)
    sig, pubkey = tx.inputs[0].witness
    assert coin.key is not None
    digest = segwit_v0_signature_hash(coin.key.script_code, tx, 0, SIGHASH_ALL,
                                      coin.output.value)
    assert len(cache) == 1 and cache.contains(digest, pubkey, sig[:-1])
    coins = [chainstate.get_coin(txin.prevout) for txin in tx.inputs]
    with ScriptVerifier(threads=1, sigcache=cache) as verifier:
        verifier.verify_block([(tx, coins)])  # type: ignore[list-item]
        assert verifier.last_stats.cache_hits == 1
