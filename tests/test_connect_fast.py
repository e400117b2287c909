"""The compiled block loop (``wattchain.consensus._connect_fast``) against the Python path.

Every block here is connected twice: once with the compiled loop, compiled flush and compiled
walks (two threads), once with ``WATTCHAIN_PURE=1`` and the pure signature backend (the
reference). Both must give the same undo data and leave the same cache entries (coin, DIRTY,
FRESH) and usage, or fail with the same reason and detail, whatever single rule the block
breaks.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattchain.consensus import connect as connect_module
from wattchain.consensus.coins import Coin, CoinsViewCache
from wattchain.consensus.connect import connect_block
from wattchain.consensus.connect_fast import compiled_available
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.script_checks import ScriptVerifier
from wattchain.core.keys import sign_ecdsa
from wattchain.core.tx import COIN, OutPoint, Transaction, TxIn, TxOut
from wattchain.node.chaingen import Branch, generated_params, make_keys
from wattchain.node.utxo_db import EmptyCoinsView
from wattchain.script import sigcore
from wattchain.script.sighash import (SIGHASH_ALL, SIGHASH_SINGLE, PrecomputedTransactionData,
                                      segwit_v0_signature_hash)
from wattchain.script.standard import multisig, p2wsh

pytestmark = pytest.mark.skipif(not compiled_available() or not sigcore.compiled_available(),
                                reason="compiled extensions are not built")

KEYS = tuple(make_keys(5, seed=11))
WITNESS_SCRIPT = multisig(2, [k.pubkey for k in KEYS[:3]])
MSIG_SPK = p2wsh(WITNESS_SCRIPT)
OP_TRUE_SCRIPT = b"\x51"
OP_TRUE_SPK = p2wsh(OP_TRUE_SCRIPT)
VALUE = 10 * COIN

MUTATIONS = ("none", "missing", "double", "immature_coinbase", "immature_coinstake",
             "value_range", "below_out", "fee_overflow", "bad_sig", "bad_msig", "sigops",
             "bip68_lock", "bip68_open", "sighash_single", "op_return", "many_inputs",
             "wrong_key", "output_range", "version1_seq", "wide_outputs", "huge_outputs")


@cache
def world() -> tuple:
    params = generated_params(list(KEYS), outputs_per_key=2)
    return params, Branch(params, list(KEYS))


# ------------------------------------------------------------------------------ block building
class Builder:
    """Coins injected into a fresh UTXO set, and signed transactions spending them."""

    def __init__(self, seed: int) -> None:
        self.params, self.branch = world()
        self.coins: list[tuple[OutPoint, Coin]] = []
        self.rng = random.Random(seed)
        self.n = 0

    def coin(self, kind: str, value: int = VALUE, height: int = 0, coinbase: bool = False,
             coinstake: bool = False) -> tuple[OutPoint, Coin, str]:
        self.n += 1
        spk = {"wpkh": KEYS[self.n % 5].script_pubkey, "msig": MSIG_SPK,
               "optrue": OP_TRUE_SPK}[kind]
        outpoint = OutPoint(hashlib.sha256(b"coin%d" % self.n).digest(), self.n % 3)
        coin = Coin(TxOut(value, spk), height, coinbase, coinstake)
        self.coins.append((outpoint, coin))
        return outpoint, coin, kind

    def tx(self, spends, outputs, *, version: int = 2, sequence: int = 0xFFFFFFFE,
           hash_type: int = SIGHASH_ALL, signer=None) -> Transaction:
        inputs = tuple(TxIn(outpoint, b"", sequence) for outpoint, _, _ in spends)
        tx = Transaction(version, inputs, tuple(outputs), 0)
        pre = PrecomputedTransactionData(tx)
        signed = []
        for i, ((outpoint, coin, kind), txin) in enumerate(zip(spends, inputs)):
            if kind == "wpkh":
                key = next(k for k in KEYS if k.script_pubkey == coin.output.script_pubkey)
                signer_key = signer or key
                digest = segwit_v0_signature_hash(key.script_code, tx, i, hash_type,
                                                  coin.output.value, pre)
                witness = (sign_ecdsa(signer_key.secret, digest) + bytes((hash_type,)),
                           signer_key.pubkey)
            elif kind == "msig":
                digest = segwit_v0_signature_hash(WITNESS_SCRIPT, tx, i, SIGHASH_ALL,
                                                  coin.output.value, pre)
                sigs = [sign_ecdsa(k.secret, digest) + bytes((SIGHASH_ALL,)) for k in KEYS[:2]]
                witness = (b"", sigs[0], sigs[1], WITNESS_SCRIPT)
            else:
                witness = (OP_TRUE_SCRIPT,)
            signed.append(TxIn(txin.prevout, b"", txin.sequence, witness))
        return Transaction(version, tuple(signed), tx.outputs, 0)

    def pay(self, total: int, n: int) -> list[TxOut]:
        each = total // n
        return [TxOut(each, KEYS[self.rng.randrange(5)].script_pubkey) for _ in range(n)]


def build(plan: list[tuple[str, int, int]], mutation: str, target: int, seed: int):
    """A block of ``plan`` (kind, inputs, outputs) transactions with one ``mutation`` applied
    to transaction ``target``; returns (params, base coins, ctx, block)."""
    b = Builder(seed)
    max_money = b.params.max_money
    txs: list[Transaction] = []
    first_spend = None
    for position, (kind, n_in, n_out) in enumerate(plan):
        mutate = mutation if position == target else "none"
        n_in = 17 if mutate == "many_inputs" else 1 if mutation == "fee_overflow" else n_in
        value, height, cb, cs = VALUE, 0, False, False
        if mutate == "immature_coinbase":
            height, cb = 1, True
        elif mutate == "immature_coinstake":
            height, cs = 1, True
        elif mutate == "value_range":
            value = max_money + 1
        elif mutation == "fee_overflow":
            value = max_money
        spends = [b.coin(kind, value, height, cb, cs) for _ in range(n_in)]
        if mutate == "missing":
            b.coins.pop()  # the last input's coin never enters the UTXO set
        if mutate == "double" and first_spend is not None:
            spends[0] = first_spend
        first_spend = first_spend or spends[0]
        total = sum(c.output.value for _, c, _ in spends) - 5000
        outputs = b.pay(min(total, max_money), n_out)
        if mutation == "fee_overflow":
            outputs = [TxOut(0, KEYS[0].script_pubkey)]
        if mutate == "below_out":
            outputs = b.pay(total + 10_000, n_out)
        if mutate == "output_range":
            outputs[0] = TxOut(max_money + 1, outputs[0].script_pubkey)
        if mutate == "sigops":
            outputs.append(TxOut(0, bytes([0xAE]) * 1000))
        if mutate == "wide_outputs":  # serialized outputs just under the stack buffer
            outputs.append(TxOut(0, b"\x6a" + bytes(4000 - 11 - 31 * len(outputs))))
        if mutate == "huge_outputs":  # over it: hashed by the Python path
            outputs.append(TxOut(0, b"\x6a" + bytes(5000)))
        if mutate == "op_return":
            outputs.append(TxOut(0, b"\x6a\x04data"))
        options: dict = {}
        if mutate == "bip68_lock":
            options["sequence"] = 5
        elif mutate == "bip68_open":
            options["sequence"] = 0
        elif mutate == "version1_seq":
            options.update(version=1, sequence=5)
        elif mutate == "sighash_single" and kind == "wpkh":
            options["hash_type"] = SIGHASH_SINGLE
        elif mutate == "wrong_key" and kind == "wpkh":
            own = spends[0][1].output.script_pubkey
            options["signer"] = KEYS[0] if own != KEYS[0].script_pubkey else KEYS[1]
        tx = b.tx(spends, outputs, **options)
        if mutate in ("bad_sig", "bad_msig"):
            txin = tx.inputs[0]
            items = list(txin.witness)
            if kind == "msig" and mutate == "bad_msig":
                items[1], items[2] = items[2], items[1]
            elif kind != "optrue" and mutate == "bad_sig":
                at = 1 if kind == "msig" else 0
                sig = items[at]
                items[at] = sig[:12] + bytes((sig[12] ^ 1,)) + sig[13:]
            tx = replace(tx, inputs=(replace(txin, witness=tuple(items)), *tx.inputs[1:]))
        txs.append(tx)
    return b.params, b.coins, b.branch.context(), b.branch.make_block(txs)


# ------------------------------------------------------------------------------ comparing
def snapshot(cache: CoinsViewCache):
    return ({key: (e.coin, e.dirty, e.fresh) for key, e in cache._entries.items()}, cache._usage)


def outcome(params, coins, ctx, block, *, fast: bool, pure_backend: bool | None = None,
            sigcache=None, in_place: bool = False, flush: bool = False):
    base = CoinsViewCache(EmptyCoinsView())
    connect_block(params.genesis_block, base, 0, None, params)
    for outpoint, coin in coins:
        base.add_coin(outpoint, coin)
    view = CoinsViewCache(base)
    backend = sigcore.get_backend(pure=not fast if pure_backend is None else pure_backend)
    with pytest.MonkeyPatch.context() as mp:
        if fast:
            mp.delenv("WATTCHAIN_PURE", raising=False)
        else:
            mp.setenv("WATTCHAIN_PURE", "1")
        reruns: list[int] = []  # inputs whose checks failed and went to the interpreter
        from wattchain.consensus import script_checks
        original = script_checks.verify_input
        mp.setattr(script_checks, "verify_input",
                   lambda tx, index, *rest: (reruns.append(index), original(tx, index, *rest)))
        with ScriptVerifier(2 if fast else 1, sigcache, backend) as verifier:
            try:
                undo = connect_block(block, view, 1, ctx, params, script_verifier=verifier,
                                     in_place=in_place)
            except BlockValidationError as exc:
                result = ("error", exc.reason, exc.detail)
            else:
                result = ("ok", undo.serialize())
                if flush:  # as the node commits a connected block
                    view.flush_into(base)
                # A valid block's checks all pass first time: a wrong digest or walk in the
                # fast path would show here (the interpreter would then quietly succeed).
                assert reruns == []
            stats = verifier.last_stats
    return result, snapshot(view), snapshot(base), (stats.inputs, stats.checks,
                                                    stats.cache_hits)


def assert_same(params, coins, ctx, block):
    fast = outcome(params, coins, ctx, block, fast=True)
    slow = outcome(params, coins, ctx, block, fast=False)
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    if fast[0][0] == "ok":
        assert fast[3] == slow[3]  # same inputs and signature checks
    return fast[0]


EXPECTED = {
    "none": None, "missing": "bad-txns-inputs-missingorspent",
    "double": "bad-txns-inputs-missingorspent",
    "immature_coinbase": "bad-txns-premature-spend-of-coinbase",
    "immature_coinstake": "bad-txns-premature-spend-of-coinstake",
    "value_range": "bad-txns-inputvalues-outofrange", "below_out": "bad-txns-in-belowout",
    "fee_overflow": "bad-txns-accumulated-fee-outofrange",
    "bad_sig": "mandatory-script-verify-flag-failed (EVAL_FALSE)",
    "bad_msig": "mandatory-script-verify-flag-failed (EVAL_FALSE)",
    "sigops": "bad-blk-sigops", "bip68_lock": "bad-txns-nonfinal", "bip68_open": None,
    "sighash_single": None, "op_return": None, "many_inputs": None,
    "wrong_key": "mandatory-script-verify-flag-failed (EQUALVERIFY)",
    "output_range": "bad-txns-in-belowout", "version1_seq": None, "wide_outputs": None,
    "huge_outputs": None,
}


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("kind", ["wpkh", "msig"])
def test_each_broken_rule_fails_the_same_way(mutation, kind):
    plan = [(kind, 1, 2), (kind, 2, 1), ("wpkh", 1, 2), (kind, 1, 3)]
    result = assert_same(*build(plan, mutation, 1, seed=1))
    expected = EXPECTED[mutation]
    if (mutation == "bad_msig" and kind != "msig") or (mutation == "wrong_key"
                                                       and kind != "wpkh"):
        expected = None
    if expected is None:
        assert result[0] == "ok", result
    else:
        assert result[0] == "error" and result[1] == expected, result


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.tuples(st.sampled_from(["wpkh", "msig", "optrue"]),
                               st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=6),
       mutation=st.sampled_from(MUTATIONS), target=st.integers(0, 5), seed=st.integers(0, 99))
def test_random_blocks_match_the_python_path(plan, mutation, target, seed):
    assert_same(*build(plan, mutation, target % len(plan), seed))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.tuples(st.sampled_from(["wpkh", "msig", "optrue"]),
                               st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=5),
       mutation=st.sampled_from(MUTATIONS), target=st.integers(0, 5), seed=st.integers(0, 99),
       fast=st.booleans())
def test_connecting_in_place_commits_the_same_coins(plan, mutation, target, seed, fast):
    """``in_place`` (the node's way: no private layer, no flush) gives the same result, and
    once committed to the chain state the same coins with the same flags, as a private layer
    flushed on success. Both the compiled and the pure path are checked."""
    block = build(plan, mutation, target % len(plan), seed)
    layered = outcome(*block, fast=fast, flush=True)
    direct = outcome(*block, fast=fast, in_place=True, flush=True)
    assert direct[0] == layered[0]
    assert direct[2] == layered[2]  # the chain state after the commit (unchanged on failure)
    assert direct[3] == layered[3]


def test_common_transactions_skip_the_python_loop_body(monkeypatch):
    params, coins, ctx, block = build([("wpkh", 1, 2), ("msig", 2, 2), ("optrue", 1, 1)],
                                      "none", 0, seed=3)
    calls = []
    original = connect_module._connect_tx
    monkeypatch.setattr(connect_module, "_connect_tx",
                        lambda totals, position, tx, *rest: (calls.append(position),
                                                             original(totals, position, tx,
                                                                      *rest)))
    result = outcome(params, coins, ctx, block, fast=True)
    assert result[0][0] == "ok"
    assert calls == [0, 1]  # coinbase and coinstake only; OP_TRUE scripts go to BlockScripts
    # inputs (the coinstake's too); checks: coinstake and P2WPKH, two 2-of-3 walks of 3 each
    assert result[3] == (5, 2 + 2 * 3, 0)


# ------------------------------------------------------------------------------ components
@settings(max_examples=60, deadline=None)
@given(n_keys=st.integers(1, 4), data=st.data())
def test_walk_batch_matches_the_multisig_walk(n_keys, data):
    """The C walk makes the same comparisons, and reaches the same verdict, as
    ``script_templates.MultisigWalk`` fed by the pure backend."""
    from wattchain.consensus.script_templates import MultisigWalk
    keys = [KEYS[i] for i in data.draw(st.permutations(range(5)))[:n_keys]]
    m = data.draw(st.integers(1, n_keys))
    digest = hashlib.sha256(data.draw(st.binary(max_size=8))).digest()
    signers = data.draw(st.lists(st.sampled_from(KEYS), min_size=m, max_size=m))
    sigs = [(sign_ecdsa(k.secret, digest), digest) for k in signers]
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, m - 1))
        sigs[at] = (sigs[at][0][:-1] + bytes((sigs[at][0][-1] ^ 1,)), digest)
    pubkeys = [k.pubkey for k in keys]
    backend = sigcore.get_backend(pure=False)
    walks = backend.walk_batch()
    walks.add_walk(7, pubkeys, sigs)
    walks.seal()
    checks = walks.run(backend.core)
    walk = MultisigWalk(list(sigs), pubkeys)
    expected = 0
    pure = sigcore.get_backend(pure=True)
    while True:
        batch = walk.next_checks()
        if not batch:
            break
        expected += 1
        walk.feed([pure.verify_ecdsa(*batch[0])])
    assert checks == expected
    assert walks.failed_owners() == ([7] if walk.failed else [])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_hash160_matches_hashlib(data):
    from wattchain.core.hashes import hash160
    from wattchain.script import _fastpaths
    assert _fastpaths.hash160(data) == hash160(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([None, 0, 1]),
                          st.booleans(), st.booleans(), st.sampled_from([None, 0, 1])),
                max_size=12))
def test_compiled_batch_write_matches_python(rows):
    """Random parent/child entries (coin or spent, DIRTY, FRESH): same entries, usage and
    error from the compiled and the Python BatchWrite."""
    from wattchain.consensus import _coins_flush
    from wattchain.consensus.coins import CacheInconsistencyError, _Entry

    def coin(tag):
        return None if tag is None else Coin(TxOut(tag + 1, b"\x51" * (tag + 1)), 3, False)

    def make():
        parent, child = CoinsViewCache(EmptyCoinsView()), CoinsViewCache(EmptyCoinsView())
        for index, child_coin, dirty, fresh, parent_coin in rows:
            key = (b"k" * 32, index)
            child._entries[key] = _Entry(coin(child_coin), dirty, fresh)
            if parent_coin is not None or index % 2:
                parent._entries[key] = _Entry(coin(parent_coin), index % 3 == 0, index % 2 == 0)
        return parent, child

    results = []
    for write in ("py", "c"):
        parent, child = make()
        try:
            if write == "py":
                parent._batch_write_py(child._entries)
            else:
                _coins_flush.batch_write(parent, child._entries)
            error = None
        except CacheInconsistencyError as exc:
            error = str(exc)
        results.append((snapshot(parent), error))
    assert results[0] == results[1]


@pytest.mark.parametrize("mutation", ["none", "bad_sig", "below_out", "sighash_single"])
def test_compiled_loop_with_the_pure_signature_backend(mutation):
    """The compiled rules with scripts queued on a pure-backend session (no compiled walks)."""
    block = build([("wpkh", 1, 2), ("msig", 1, 1), ("wpkh", 2, 2)], mutation, 2, seed=4)
    fast = outcome(*block, fast=True, pure_backend=True)
    slow = outcome(*block, fast=False)
    assert fast == slow


@pytest.mark.parametrize("corrupt", [False, True])
def test_signature_cache_hits_are_not_verified_again(corrupt):
    """P2WPKH checks put in the signature cache (as mempool acceptance does) are skipped by
    the compiled path exactly as by the Python path; a changed signature still fails."""
    from wattchain.consensus.script_templates import AllOf, template_job
    from wattchain.script.flags import CONSENSUS_FLAGS
    from wattchain.script.sigcache import SignatureCache
    params, coins, ctx, block = build([("wpkh", 1, 2), ("msig", 1, 1), ("wpkh", 2, 1)],
                                      "bad_sig" if corrupt else "none", 2, seed=6)
    cache = SignatureCache(salt=b"s" * 32)
    spent = dict(coins)
    for tx in block.transactions[2:]:
        pre = PrecomputedTransactionData(tx)
        for index, txin in enumerate(tx.inputs):
            job = template_job(tx, index, spent[txin.prevout].output, CONSENSUS_FLAGS, pre)
            # P2WPKH only: a walk's first comparison may be a mismatch, never cacheable.
            if isinstance(job, AllOf) and not corrupt:
                for pubkey, sig, digest in job.next_checks():
                    cache.add(digest, pubkey, sig)
    fast = outcome(params, coins, ctx, block, fast=True, sigcache=cache)
    slow = outcome(params, coins, ctx, block, fast=False, sigcache=cache)
    assert fast == slow
    if corrupt:
        assert fast[0][:2] == ("error", "mandatory-script-verify-flag-failed (EVAL_FALSE)")
    else:
        assert fast[0][0] == "ok" and fast[3][2] == 3  # the three P2WPKH inputs


def test_a_block_failing_late_drops_its_queued_walks_and_the_verifier_goes_on():
    """Walks are sent to the workers while the block is still being connected; when a later
    rule fails they are dropped, and the same verifier then connects a valid block."""
    plan = [("wpkh", 1, 1)] * 300
    bad = build(plan, "below_out", 299, seed=8)
    good = build(plan[:40], "none", 0, seed=9)
    backend = sigcore.get_backend(pure=False)
    with ScriptVerifier(2, None, backend) as verifier:
        results = []
        for params, coins, ctx, block in (bad, good):
            base = CoinsViewCache(EmptyCoinsView())
            connect_block(params.genesis_block, base, 0, None, params)
            for outpoint, coin in coins:
                base.add_coin(outpoint, coin)
            view = CoinsViewCache(base)
            try:
                connect_block(block, view, 1, ctx, params, script_verifier=verifier)
                results.append("ok")
            except BlockValidationError as exc:
                results.append(exc.reason)
                # a failed block changes nothing in the view (clean copies of looked-up coins
                # aside, as on the Python path)
                assert not any(entry.dirty for entry in view._entries.values())
        assert results == ["bad-txns-in-belowout", "ok"]
        assert verifier.last_stats.inputs == 41


def test_the_compiled_loop_leaks_nothing_and_leaves_its_coins_untracked(monkeypatch):
    """Coins and cache entries built in C are left out of the cycle collector
    (``_fast_slots.new_acyclic``) and freed with their view: connecting the same block again
    and again into fresh views does not grow the heap."""
    import gc
    import sys
    monkeypatch.delenv("WATTCHAIN_PURE", raising=False)
    params, coins, ctx, block = build([("wpkh", 1, 2), ("msig", 1, 2)] * 10, "none", 0, seed=31)
    base = CoinsViewCache(EmptyCoinsView())
    connect_block(params.genesis_block, base, 0, None, params)
    for outpoint, coin in coins:
        base.add_coin(outpoint, coin)
    backend = sigcore.get_backend(pure=False)
    with ScriptVerifier(2, None, backend) as verifier:
        def connect_once():
            view = CoinsViewCache(base)
            connect_block(block, view, 1, ctx, params, script_verifier=verifier, in_place=True)
            return view
        view = CoinsViewCache(base)
        undo = connect_block(block, view, 1, ctx, params, script_verifier=verifier,
                             in_place=True)
        # outputs of the transactions after the coinbase and coinstake (the Python path's)
        created = [view._entries[(tx.txid, i)] for tx in block.transactions[2:]
                   for i in range(len(tx.outputs))]
        assert created and not any(gc.is_tracked(e) or gc.is_tracked(e.coin) for e in created)
        # ... and so are its key tuples (the spent inputs' too) and its undo tuples.
        spent = {(txin.prevout.txid, txin.prevout.index) for tx in block.transactions[2:]
                 for txin in tx.inputs}
        made = {(tx.txid, i) for tx in block.transactions[2:] for i in range(len(tx.outputs))}
        keys = [key for key in view._entries if key in spent or key in made]
        assert len(keys) == len(made) + len(spent)
        assert not any(gc.is_tracked(key) for key in keys)
        assert not any(gc.is_tracked(coins) for coins in undo.tx_undo[1:])
        del view, created, keys, undo
        for _ in range(5):
            connect_once()
        before = sys.getallocatedblocks()
        for _ in range(40):
            connect_once()
        assert sys.getallocatedblocks() - before < 400  # 40 blocks of ~80 new coins each
