"""connect_block with a parallel ScriptVerifier: same verdicts and reasons as without one."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from wattchain.consensus.coins import CoinsViewCache
from wattchain.consensus.connect import connect_block
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.script_checks import ScriptVerifier
from wattchain.core.tx import COIN, Transaction, TxIn, TxOut
from wattchain.node.chaingen import (Branch, far_future_now, generated_params, make_keys,
                                     sign_transaction)
from wattchain.node.chainstate import Chainstate
from wattchain.node.utxo_db import EmptyCoinsView
from wattchain.script import sigcore
from wattchain.script.sigcache import SignatureCache


def setup_block(n_txs: int, corrupt: int | None):
    keys = make_keys(4, seed=3)
    params = generated_params(keys, outputs_per_key=n_txs // 4 + 3, value=10 * COIN)
    branch = Branch(params, keys)
    base = CoinsViewCache(EmptyCoinsView())
    connect_block(params.genesis_block, base, 0, None, params)
    rng = random.Random(5)
    pool = sorted(branch.mature_coins(1), key=lambda c: (c.outpoint.txid, c.outpoint.index))
    txs = []
    for i, coin in enumerate(pool[:n_txs]):
        value = coin.output.value - 1000
        tx = sign_transaction(Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFE),),
                                          (TxOut(value, rng.choice(keys).script_pubkey),), 0),
                              [coin])
        if i == corrupt:
            sig, pub = tx.inputs[0].witness
            sig = sig[:10] + bytes((sig[10] ^ 1,)) + sig[11:]
            tx = replace(tx, inputs=(replace(tx.inputs[0], witness=(sig, pub)),))
        txs.append(tx)
    ctx = branch.context()
    return params, base, ctx, branch.make_block(txs), txs


def verdict(params, base, ctx, block, verifier):
    try:
        connect_block(block, CoinsViewCache(base), 1, ctx, params, script_verifier=verifier)
    except BlockValidationError as exc:
        return exc.reason, exc.detail
    return None


@pytest.mark.parametrize("pure", [True, False])
def test_parallel_connect_matches_default(pure):
    if not pure and not sigcore.compiled_available():
        pytest.skip("compiled signature core is not built")
    backend = sigcore.get_backend(pure=pure)
    for corrupt in (None, 50):
        params, base, ctx, block, txs = setup_block(90, corrupt)
        expected = verdict(params, base, ctx, block, None)
        if corrupt is None:
            assert expected is None
        else:
            assert expected is not None
            assert expected[0] == "mandatory-script-verify-flag-failed (EVAL_FALSE)"
            assert txs[corrupt].txid_hex in expected[1]
        with ScriptVerifier(2, SignatureCache(), backend) as verifier:
            verifier.chunk_size = 16  # several background chunks for this small block
            assert verdict(params, base, ctx, block, verifier) == expected
            assert verifier.last_stats.template_inputs == len(block.transactions) - 1


def test_chainstate_uses_the_verifier_it_is_given(tmp_path):
    params, base, ctx, block, txs = setup_block(8, None)
    with ScriptVerifier(2) as verifier:
        cs = Chainstate.open(tmp_path, params, sync=False, script_verifier=verifier)
        try:
            result = cs.process_block(block, far_future_now(params))
            assert result.accepted, result.reason
            assert verifier.last_stats.inputs == len(block.transactions) - 1
        finally:
            cs.close()
