"""The compiled block loop with a signature cache, against the Python path.

A running node always hands its ``SignatureCache`` to block validation, so the compiled loop
takes P2WPKH and P2WSH multisig inputs with a cache too. These tests connect the same block with
the compiled loop (two threads, compiled walks) and with ``WATTCHAIN_PURE=1`` (the reference),
sharing one cache, and require the same result, coins, undo data and
statistics (inputs, comparisons, cache hits): with a cold cache, a cache warmed the way the
mempool warms it, a cache holding entries for a different digest (which must not let a bad
signature through), and caches holding arbitrary (signature, key) pairs, which pins down which
comparisons of a CHECKMULTISIG walk consult the cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_connect_fast import KEYS, VALUE, WITNESS_SCRIPT, build, outcome, world
from wattchain.consensus.connect_fast import compiled_available
from wattchain.core.keys import sign_ecdsa
from wattchain.core.tx import TxOut
from wattchain.node.mempool_validate import MempoolRejectError, caching_verifier, verify_scripts
from wattchain.script import sigcore
from wattchain.script.sigcache import SignatureCache
from wattchain.script.sighash import (SIGHASH_ALL, PrecomputedTransactionData,
                                      segwit_v0_signature_hash)

pytestmark = pytest.mark.skipif(not compiled_available() or not sigcore.compiled_available(),
                                reason="compiled extensions are not built")

PLAN = [("msig", 1, 2), ("msig", 2, 1), ("wpkh", 1, 2), ("msig", 1, 3), ("optrue", 1, 1)]
MSIG_KEYS = [k.pubkey for k in KEYS[:3]]


def fresh_cache() -> SignatureCache:
    return SignatureCache(salt=b"salt" * 8)


def both(block, cache: SignatureCache):
    """The compiled outcome, checked equal to the Python one. Block validation adds nothing to
    the cache on either path (Core's policy: a confirmed transaction is not seen again)."""
    before = dict(cache.entries)
    fast = outcome(*block, fast=True, sigcache=cache)
    assert cache.entries == before
    slow = outcome(*block, fast=False, sigcache=cache)
    assert cache.entries == before
    assert fast == slow
    return fast


def warm_like_the_mempool(block, cache: SignatureCache) -> None:
    """Verify every transaction as mempool acceptance does, storing successes in ``cache``."""
    _, coins, _, stake_block = block
    spent = dict(coins)
    verify = caching_verifier(cache, sigcore.get_backend(pure=True).verify_ecdsa)
    for tx in stake_block.transactions[2:]:
        try:
            verify_scripts(tx, [spent[txin.prevout] for txin in tx.inputs], verify)
        except MempoolRejectError:
            pass  # a bad tx leaves in the cache what it verified before failing


def msig_inputs(stake_block):
    """(digest, [DER without hash type, in stack order]) of every 2-of-3 input of the block."""
    found = []
    for tx in stake_block.transactions[2:]:
        pre = PrecomputedTransactionData(tx)
        for index, txin in enumerate(tx.inputs):
            if len(txin.witness) == 4 and txin.witness[-1] == WITNESS_SCRIPT:
                digest = segwit_v0_signature_hash(WITNESS_SCRIPT, tx, index, SIGHASH_ALL,
                                                  VALUE, pre)
                found.append((digest, [sig[:-1] for sig in txin.witness[1:3]]))
    return found


@pytest.mark.parametrize("mutation", ["none", "bad_sig", "bad_msig", "below_out"])
def test_cold_cache(mutation):
    result = both(build(PLAN, mutation, 1, seed=21), fresh_cache())
    if mutation == "none":
        # 4 msig inputs of 3 comparisons each, 1 P2WPKH and the coinstake; nothing cached
        assert result[0][0] == "ok" and result[3][1:] == (4 * 3 + 2, 0)
    else:
        assert result[0][0] == "error"


@pytest.mark.parametrize("mutation", ["none", "bad_sig", "bad_msig"])
def test_cache_warmed_by_the_mempool(mutation):
    block = build(PLAN, mutation, 1, seed=22)
    cache = fresh_cache()
    warm_like_the_mempool(block, cache)
    result = both(block, cache)
    if mutation == "none":
        # each walk: 2nd signature vs 3rd key (a mismatch, never cached), then two hits
        assert result[0][0] == "ok" and result[3][1:] == (4 * 3 + 2, 4 * 2 + 1)
    else:
        assert result[0][:2] == ("error", "mandatory-script-verify-flag-failed (EVAL_FALSE)")


def test_entries_for_another_digest_do_not_pass_a_changed_transaction():
    """The mempool verified a transaction; the block carries it with one output changed and
    the same witnesses. Every (key, signature) pair is in the cache, under the old digest."""
    params, coins, ctx, stake_block = good = build(PLAN, "none", 0, seed=23)
    cache = fresh_cache()
    warm_like_the_mempool(good, cache)
    txs = list(stake_block.transactions[2:])
    tx = txs[1]  # the two-input multisig spend
    first = tx.outputs[0]
    txs[1] = replace(tx, outputs=(TxOut(first.value - 1, first.script_pubkey),
                                  *tx.outputs[1:]))
    bad = (params, coins, ctx, world()[1].make_block(txs))
    result = both(bad, cache)
    assert result[0][:2] == ("error", "mandatory-script-verify-flag-failed (EVAL_FALSE)")
    assert result[0][2].startswith(f"input 0 of tx {txs[1].txid_hex}:")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=st.lists(st.sets(st.tuples(st.integers(0, 1), st.integers(0, 2))),
                      min_size=4, max_size=4),
       mutation=st.sampled_from(["none", "bad_sig", "bad_msig"]), seed=st.integers(0, 50))
def test_any_cached_pairs_are_consulted_like_the_python_walk(pairs, mutation, seed):
    """Arbitrary (signature s, key j) entries, true or not (the cache is trusted): the compiled
    walk must consult exactly the comparisons the Python walk consults, with the same effect
    on the verdict and the statistics."""
    block = build(PLAN, mutation, seed % len(PLAN), seed)
    cache = fresh_cache()
    for (digest, sigs), chosen in zip(msig_inputs(block[3]), pairs):
        for s, j in chosen:
            cache.add(digest, MSIG_KEYS[j], sigs[s])
    both(block, cache)


def test_a_cache_subclass_is_asked_through_contains():
    """A cache that is not a plain SignatureCache is consulted through its ``contains``."""

    class Counting(SignatureCache):
        asked = 0

        def contains(self, msg: bytes, pubkey: bytes, sig: bytes) -> bool:
            type(self).asked += 1
            return super().contains(msg, pubkey, sig)

    block = build(PLAN, "none", 0, seed=24)
    cache = Counting(salt=b"x" * 100)
    warm_like_the_mempool(block, cache)
    Counting.asked = 0
    fast = outcome(*block, fast=True, sigcache=cache)
    assert Counting.asked > 0
    slow = outcome(*block, fast=False, sigcache=cache)
    assert fast == slow and fast[3][2] == 4 * 2 + 1


# ------------------------------------------------------------------------------ the C walk
@settings(max_examples=60, deadline=None)
@given(n_keys=st.integers(1, 4), data=st.data())
def test_walk_batch_with_cached_pairs_matches_the_multisig_walk(n_keys, data):
    """``WalkBatch`` with marked pairs against ``MultisigWalk`` fed by a cache oracle."""
    from wattchain.consensus.script_templates import MultisigWalk
    keys = [KEYS[i] for i in data.draw(st.permutations(range(5)))[:n_keys]]
    m = data.draw(st.integers(1, n_keys))
    digest = hashlib.sha256(data.draw(st.binary(max_size=8))).digest()
    signers = data.draw(st.lists(st.sampled_from(KEYS), min_size=m, max_size=m))
    sigs = [(sign_ecdsa(k.secret, digest), digest) for k in signers]
    cached = [data.draw(st.sets(st.integers(0, n_keys - 1))) for _ in range(m)]
    pubkeys = [k.pubkey for k in keys]
    backend = sigcore.get_backend(pure=False)
    walks = backend.walk_batch()
    walks.add_walk(3, pubkeys, sigs, cached)
    walks.seal()
    checks = walks.run(backend.core)
    walk = MultisigWalk(list(sigs), pubkeys)
    expected = hits = 0
    pure = sigcore.get_backend(pure=True)
    while True:
        batch = walk.next_checks()
        if not batch:
            break
        expected += 1
        if walk.key_at in cached[walk.sig_at]:
            hits += 1
            walk.feed([True])
        else:
            walk.feed([pure.verify_ecdsa(*batch[0])])
    assert (checks, walks.hits) == (expected, hits)
    assert walks.failed_owners() == ([3] if walk.failed else [])


def test_multisig_with_a_cache_stays_on_the_compiled_path(monkeypatch):
    """With a (warm) cache, P2WPKH and multisig inputs are walked by the compiled loop: only
    the coinstake and the OP_TRUE spend reach ``BlockScripts.add``."""
    from wattchain.consensus.script_checks import BlockScripts
    block = build(PLAN, "none", 0, seed=25)
    cache = fresh_cache()
    warm_like_the_mempool(block, cache)
    added = []
    original = BlockScripts.add
    monkeypatch.setattr(BlockScripts, "add",
                        lambda self, tx, coins: (added.append(tx.txid), original(self, tx, coins)))
    result = outcome(*block, fast=True, sigcache=cache)
    assert result[0][0] == "ok"
    transactions = block[3].transactions
    assert added == [transactions[1].txid, transactions[-1].txid]
