"""The block script pipeline gives the interpreter's verdict and reason, input for input.

Spends of every template the pipeline recognises (P2WPKH, P2PKH, bare/P2SH/P2WSH multisig) and
of some it does not (P2PK, P2SH-P2WPKH, OP_TRUE) are signed for real, then mutated at random;
the pipeline (template fast paths, recorded interpreter runs, batched checks, either backend,
1 or 2 threads) must accept exactly what ``verify_input`` accepts and reject with the same
``mandatory-script-verify-flag-failed (<code>)`` reason and detail.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattchain.consensus.coins import Coin
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.script_checks import ScriptVerifier, script_failure, template_job
from wattchain.core.hashes import hash160
from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script import sigcore
from wattchain.script.checker import SigVersion, TransactionSignatureChecker
from wattchain.script.errors import ScriptError
from wattchain.script.flags import CONSENSUS_FLAGS, STANDARD_FLAGS
from wattchain.script.interpreter import verify_input
from wattchain.script.script import push_data
from wattchain.script.sigcache import SignatureCache
from wattchain.script.sighash import PrecomputedTransactionData
from wattchain.script.sign import KeyStore, sign_transaction
from wattchain.script.standard import multisig, p2pk, p2pkh, p2sh_of, p2wpkh, p2wsh

SECRETS = [hashlib.sha256(b"script-checks" + bytes((i,))).digest() for i in range(4)]
PUBKEYS = [public_key(s) for s in SECRETS]
MS_2OF3 = multisig(2, PUBKEYS[:3])
MS_1OF2 = multisig(1, PUBKEYS[1:3])
OP_TRUE = b"\x51"

#: name -> (scriptPubKey, handled by a template?)
SPENDS = {
    "p2wpkh": (p2wpkh(hash160(PUBKEYS[0])), True),
    "p2pkh": (p2pkh(hash160(PUBKEYS[1])), True),
    "p2pkh_uncompressed": (p2pkh(hash160(public_key(SECRETS[3], compressed=False))), True),
    "bare_2of3": (MS_2OF3, True),
    "p2sh_2of3": (p2sh_of(MS_2OF3), True),
    "p2wsh_2of3": (p2wsh(MS_2OF3), True),
    "p2wsh_1of2": (p2wsh(MS_1OF2), True),
    "p2pk": (p2pk(PUBKEYS[2]), False),
    "p2sh_p2wpkh": (p2sh_of(p2wpkh(hash160(PUBKEYS[0]))), True),
    "p2sh_p2wsh_2of3": (p2sh_of(p2wsh(MS_2OF3)), True),
    "p2sh_p2wsh_true": (p2sh_of(p2wsh(OP_TRUE)), False),
    "p2wsh_true": (p2wsh(OP_TRUE), False),
}

BACKENDS = ["pure", "compiled"]


def keystore() -> KeyStore:
    store = KeyStore()
    for s in SECRETS[:3]:
        store.add_key(s)
    store.add_key(SECRETS[3], compressed=False)
    for script in (MS_2OF3, MS_1OF2, OP_TRUE, p2wpkh(hash160(PUBKEYS[0])), p2wsh(MS_2OF3),
                   p2wsh(OP_TRUE)):
        store.add_script(script)
    return store


KEYS = keystore()


def spending_tx(kinds: list[str], salt: int = 0) -> tuple[Transaction, list[Coin]]:
    coins = [Coin(TxOut(100_000 + i, SPENDS[kind][0]), 5, False) for i, kind in enumerate(kinds)]
    inputs = tuple(TxIn(OutPoint(hashlib.sha256(bytes((i, salt % 256, salt // 256))).digest(),
                                 i), b"", 0xFFFFFFFE) for i in range(len(kinds)))
    unsigned = Transaction(2, inputs, (TxOut(50_000, p2wpkh(bytes(20))),), 0)
    if kinds == ["p2wsh_true"]:
        signed = replace(unsigned, inputs=(replace(inputs[0], witness=(OP_TRUE,)),))
    elif kinds == ["p2sh_p2wsh_true"]:
        signed = replace(unsigned, inputs=(replace(inputs[0], script_sig=push_data(
            p2wsh(OP_TRUE)), witness=(OP_TRUE,)),))
    else:
        signed = sign_transaction(unsigned, [c.output for c in coins], KEYS)
    return signed, coins


def interpreter_verdict(spends, flags=CONSENSUS_FLAGS) -> tuple[str, str] | None:
    """What the plain interpreter says about the block's inputs, in order (today's rule)."""
    for tx, coins in spends:
        pre = PrecomputedTransactionData(tx)
        for index, coin in enumerate(coins):
            try:
                verify_input(tx, index, coin.output, flags, pre)
            except ScriptError as exc:
                err = script_failure(tx, index, exc)
                return err.reason, err.detail
    return None


def pipeline_verdict(spends, backend_kind="pure", threads=1, cache=None,
                     flags=CONSENSUS_FLAGS):
    if backend_kind == "compiled" and not sigcore.compiled_available():
        pytest.skip("compiled signature core is not built")
    backend = sigcore.get_backend(pure=backend_kind == "pure")
    with ScriptVerifier(threads, cache, backend) as verifier:
        try:
            verifier.verify_block(spends, flags)
        except BlockValidationError as exc:
            return (exc.reason, exc.detail), verifier.last_stats
        return None, verifier.last_stats


# ------------------------------------------------------------------------------ mutations
def mutate_item(item: bytes, how: str, pos: int) -> bytes:
    if how == "flip" and item:
        i = pos % len(item)
        return item[:i] + bytes((item[i] ^ (1 << (pos % 8)),)) + item[i + 1:]
    if how == "hashtype" and item:
        return item[:-1] + bytes(((item[-1] + 1 + pos % 3) % 256,))
    if how == "truncate":
        return item[:pos % (len(item) + 1)]
    if how == "empty":
        return b""
    if how == "nonempty":
        return item + b"\x01"
    return item


def as_pushdata1(script: bytes) -> bytes:
    """Re-encode every direct push as OP_PUSHDATA1 (non-minimal but consensus-valid)."""
    out, pos = bytearray(), 0
    while pos < len(script):
        op = script[pos]
        if not 0 < op < 0x4C:
            return script
        out += bytes((0x4C, op)) + script[pos + 1:pos + 1 + op]
        pos += 1 + op
    return bytes(out)


def mutate(tx: Transaction, how: str, where: int, pos: int) -> Transaction:
    """Change one witness item or one scriptSig byte of the first input."""
    txin = tx.inputs[0]
    if how == "scriptsig_flip" and txin.script_sig:
        txin = replace(txin, script_sig=mutate_item(txin.script_sig, "flip", pos))
    elif how == "scriptsig_pushdata1" and txin.script_sig:
        txin = replace(txin, script_sig=as_pushdata1(txin.script_sig))
    elif how == "witness_extra":
        txin = replace(txin, witness=txin.witness + (b"\x01",))
    elif how == "swap" and len(txin.witness) >= 3:
        w = list(txin.witness)
        w[1], w[2] = w[2], w[1]
        txin = replace(txin, witness=tuple(w))
    elif txin.witness:
        w = list(txin.witness)
        i = where % len(w)
        w[i] = mutate_item(w[i], how, pos)
        txin = replace(txin, witness=tuple(w))
    elif txin.script_sig:
        txin = replace(txin, script_sig=mutate_item(txin.script_sig, how if how != "empty"
                                                    else "truncate", pos))
    return replace(tx, inputs=(txin,) + tx.inputs[1:])


MUTATIONS = ["none", "flip", "hashtype", "truncate", "empty", "nonempty", "witness_extra", "swap",
             "scriptsig_flip", "scriptsig_pushdata1"]


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("backend_kind", BACKENDS)
@pytest.mark.parametrize("kind", sorted(SPENDS))
def test_valid_spend_passes_by_the_expected_path(kind, backend_kind):
    tx, coins = spending_tx([kind])
    assert interpreter_verdict([(tx, coins)]) is None
    verdict, stats = pipeline_verdict([(tx, coins)], backend_kind)
    assert verdict is None
    templated = SPENDS[kind][1]
    assert (stats.template_inputs, stats.interpreter_inputs) == (int(templated),
                                                                  int(not templated))
    if not kind.endswith("_true"):
        assert stats.checks >= 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SPENDS)), st.sampled_from(MUTATIONS), st.integers(0, 50),
       st.integers(0, 10_000), st.sampled_from(BACKENDS), st.sampled_from([CONSENSUS_FLAGS,
                                                                            STANDARD_FLAGS]))
def test_pipeline_equals_interpreter_on_mutated_spends(kind, how, where, pos, backend_kind,
                                                       flags):
    tx, coins = spending_tx([kind])
    tx = mutate(tx, how, where, pos)
    spends = [(tx, coins)]
    if backend_kind == "compiled" and not sigcore.compiled_available():
        backend_kind = "pure"
    verdict, _ = pipeline_verdict(spends, backend_kind, flags=flags)
    assert verdict == interpreter_verdict(spends, flags)


def test_template_never_claims_an_invalid_spend():
    """Every template job whose checks all pass must be a spend the interpreter accepts."""
    for kind in sorted(SPENDS):
        for how in MUTATIONS:
            for where in range(4):
                tx, coins = spending_tx([kind])
                tx = mutate(tx, how, where, 3 + where)
                pre = PrecomputedTransactionData(tx)
                job = template_job(tx, 0, coins[0].output, CONSENSUS_FLAGS, pre)
                if job is None:
                    continue
                verdict, _ = pipeline_verdict([(tx, coins)])
                assert verdict == interpreter_verdict([(tx, coins)])


def test_first_failing_input_in_block_order_is_named():
    good = spending_tx(["p2wpkh", "p2pkh"], salt=1)
    bad1 = spending_tx(["p2wsh_2of3"], salt=2)
    bad1 = (mutate(bad1[0], "flip", 1, 40), bad1[1])
    bad2 = spending_tx(["p2pk", "p2wpkh"], salt=3)
    bad2 = (mutate(bad2[0], "hashtype", 0, 1), bad2[1])
    spends = [good, bad1, bad2]
    expected = interpreter_verdict(spends)
    assert expected is not None and bad1[0].txid_hex in expected[1]
    assert expected[0].startswith("mandatory-script-verify-flag-failed (")
    for backend_kind in BACKENDS:
        assert pipeline_verdict(spends, backend_kind)[0] == expected


@pytest.mark.parametrize("backend_kind", BACKENDS)
def test_one_and_two_threads_agree_on_a_big_block(backend_kind):
    kinds = ["p2wpkh", "p2pkh", "p2wsh_2of3", "bare_2of3", "p2sh_2of3", "p2pk"]
    spends = [spending_tx([kinds[i % len(kinds)]], salt=i) for i in range(90)]
    one, stats_one = pipeline_verdict(spends, backend_kind, threads=1)
    two, stats_two = pipeline_verdict(spends, backend_kind, threads=2)
    assert one is None and two is None
    assert stats_one == stats_two and stats_one.checks >= 90
    spends[70] = (mutate(spends[70][0], "flip", 0, 20), spends[70][1])
    expected = interpreter_verdict(spends)
    assert expected is not None
    assert pipeline_verdict(spends, backend_kind, threads=1)[0] == expected
    assert pipeline_verdict(spends, backend_kind, threads=2)[0] == expected


def test_multisig_walk_makes_the_interpreters_checks():
    """2-of-3 signed by keys 0 and 1: last sig vs key 2 fails, then key 1, key 0 match."""
    tx, coins = spending_tx(["p2wsh_2of3"])
    verdict, stats = pipeline_verdict([(tx, coins)])
    assert verdict is None
    assert (stats.checks, stats.rounds) == (3, 3)


def test_sigcache_hits_skip_verification_but_never_admit_failures():
    spends = [spending_tx(["p2wpkh", "p2wsh_2of3"], salt=9)]
    cold, cold_stats = pipeline_verdict(spends, cache=SignatureCache())
    assert cold is None and cold_stats.cache_hits == 0

    # Fill a cache the way the mempool will: every successful check of the transaction.
    cache = SignatureCache()
    recorded = []
    tx, coins = spends[0]
    pre = PrecomputedTransactionData(tx)
    for index, coin in enumerate(coins):
        verify_input(tx, index, coin.output, CONSENSUS_FLAGS, pre,
                     lambda p, s, m: recorded.append((m, p, s)) or
                     sigcore.verify_ecdsa(p, s, m))
    for msg, pub, sig in recorded:
        if sigcore.verify_ecdsa(pub, sig, msg):
            cache.add(msg, pub, sig)
    warm, warm_stats = pipeline_verdict(spends, cache=cache)
    assert warm is None
    assert warm_stats.cache_hits == len(cache) == 3  # 1 P2WPKH + 2 matching multisig checks

    # A different, invalid spend gets no help from the cache.
    bad = [(mutate(tx, "flip", 0, 30), coins)]
    assert pipeline_verdict(bad, cache=cache)[0] == interpreter_verdict(bad)


def test_sigcache_is_bounded_and_salted():
    cache = SignatureCache(max_entries=2, salt=b"a")
    items = [(bytes([i]) * 32, b"\x02" + bytes(32), b"sig%d" % i) for i in range(3)]
    for item in items:
        cache.add(*item)
    assert len(cache) == 2
    assert not cache.contains(*items[0])  # oldest evicted
    assert cache.contains(*items[1]) and cache.contains(*items[2])
    other = SignatureCache(salt=b"b")
    assert other._key(*items[1]) != cache._key(*items[1])
    assert not other.contains(*items[1])
    # The pubkey/signature boundary is part of the key.
    assert cache._key(bytes(32), b"ab", b"c") != cache._key(bytes(32), b"a", b"bc")
    with pytest.raises(ValueError):
        SignatureCache(max_entries=0)


@pytest.mark.parametrize("kind", ["p2wpkh", "p2pkh"])
def test_key_not_matching_the_hash_is_refused_even_with_a_valid_signature(kind):
    """A foreign key's valid signature over the right digest: only the hash check stops it."""
    tx, coins = spending_tx([kind])
    spk = coins[0].output.script_pubkey
    checker = TransactionSignatureChecker(tx, 0, coins[0].output.value)
    if kind == "p2wpkh":
        code = b"\x76\xa9\x14" + spk[2:] + b"\x88\xac"
        digest = checker.signature_hash(code, 1, SigVersion.WITNESS_V0)
    else:
        digest = checker.signature_hash(spk, 1, SigVersion.BASE)
    sig = sign_ecdsa(SECRETS[2], digest) + b"\x01"
    txin = tx.inputs[0]
    if kind == "p2wpkh":
        txin = replace(txin, witness=(sig, PUBKEYS[2]))
    else:
        txin = replace(txin, script_sig=push_data(sig) + push_data(PUBKEYS[2]))
    spends = [(replace(tx, inputs=(txin,)), coins)]
    expected = interpreter_verdict(spends)
    assert expected is not None and "(EQUALVERIFY)" in expected[0]
    for backend_kind in BACKENDS:
        assert pipeline_verdict(spends, backend_kind)[0] == expected
