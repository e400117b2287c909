"""Block-validation fast paths agree with the reference implementations they replace.

* compiled BIP143 hashing (``wattchain.script.fastpaths`` / ``_fastpaths``) vs ``sighash``;
* byte-walking sigop counting vs the tokenizer-based reference;
* ``check_tx_input_coins`` (coins handed in) vs ``check_tx_inputs`` (coins looked up);
* the tuple-keyed coins cache's batch helpers vs one-at-a-time calls;
* pipelined CHECKMULTISIG walks over many small chunks and two threads vs the interpreter.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattchain.consensus.coins import (Coin, CoinNotFoundError, CoinOverwriteError,
                                       CoinsViewCache, DictCoinsView)
from wattchain.consensus.errors import BlockValidationError, TxValidationError
from wattchain.consensus.params import regtest_params
from wattchain.consensus.script_checks import ScriptVerifier, script_failure
from wattchain.consensus.tx_verify import (_last_push, check_tx_input_coins, check_tx_inputs,
                                           transaction_sigop_cost)
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script import fastpaths, sigcore
from wattchain.script.errors import ScriptError
from wattchain.script.flags import CONSENSUS_FLAGS, ScriptFlags
from wattchain.script.interpreter import verify_input
from wattchain.script.script import (count_sigops, count_sigops_reference, is_p2sh, push_data,
                                     witness_program)
from wattchain.script.sighash import PrecomputedTransactionData, segwit_v0_signature_hash
from wattchain.script.sign import KeyStore, sign_transaction
from wattchain.script.standard import multisig, p2sh_of, p2wpkh, p2wsh
from wattchain.core.keys import public_key

needs_compiled = pytest.mark.skipif(not fastpaths.compiled_available(),
                                    reason="compiled fast paths are not built")

u32s = st.integers(0, 0xFFFFFFFF)
scripts = st.binary(max_size=300) | st.sampled_from([b"", bytes(253), bytes(70_000)])


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    inputs = tuple(TxIn(OutPoint(draw(st.binary(min_size=32, max_size=32)), draw(u32s)),
                        draw(st.binary(max_size=40)), draw(u32s))
                   for _ in range(draw(st.integers(1, 4))))
    outputs = tuple(TxOut(draw(st.integers(-(1 << 63), (1 << 63) - 1)), draw(scripts))
                    for _ in range(draw(st.integers(0, 3))))
    return Transaction(draw(u32s), inputs, outputs, draw(u32s))


# ------------------------------------------------------------------------------ BIP143
@needs_compiled
@given(st.binary(max_size=300))
def test_compiled_sha256d_is_hashlibs(data: bytes) -> None:
    fast = fastpaths.compiled_module(pure=False)
    assert fast.sha256d(data) == hashlib.sha256(hashlib.sha256(data).digest()).digest()


@needs_compiled
@settings(max_examples=150, deadline=None)
@given(transactions())
def test_compiled_midstates_match_precomputed(tx: Transaction) -> None:
    pre = PrecomputedTransactionData(tx)
    fast = fastpaths.compiled_module(pure=False)
    assert fast.bip143_midstates(tx) == (pre.hash_prevouts, pre.hash_sequence, pre.hash_outputs)


@pytest.mark.parametrize("pure", [True, False])
@settings(max_examples=150, deadline=None)
@given(tx=transactions(), data=st.data())
def test_segwit_digest_matches_reference(pure: bool, tx: Transaction,
                                         data: st.DataObject) -> None:
    if not pure and not fastpaths.compiled_available():
        pytest.skip("compiled fast paths are not built")
    index = data.draw(st.integers(0, len(tx.inputs) - 1))
    script_code = data.draw(scripts)
    hash_type = data.draw(st.sampled_from([1, 1, 1, 2, 3, 0x81, 0x83, 0]) | st.integers(0, 255))
    amount = data.draw(st.integers(-(1 << 63), (1 << 63) - 1))
    expected = segwit_v0_signature_hash(script_code, tx, index, hash_type, amount,
                                        PrecomputedTransactionData(tx))
    shared = PrecomputedTransactionData(tx)
    got = fastpaths.segwit_v0_digest(script_code, tx, index, hash_type, amount, shared,
                                     pure=pure)
    assert got == expected
    # The midstates it left behind are the reference ones (other inputs reuse them).
    reference = PrecomputedTransactionData(tx)
    for name in ("hash_prevouts", "hash_sequence", "hash_outputs"):
        if name in shared.__dict__:
            assert shared.__dict__[name] == getattr(reference, name)


@needs_compiled
def test_out_of_range_fields_fail_like_the_reference() -> None:
    tx = Transaction(1 << 32, (TxIn(OutPoint(bytes(32), 0)),), (TxOut(1, b"\x51"),))
    with pytest.raises(Exception) as reference:
        segwit_v0_signature_hash(b"", tx, 0, 1, 5, PrecomputedTransactionData(tx))
    with pytest.raises(type(reference.value)):
        fastpaths.segwit_v0_digest(b"", tx, 0, 1, 5, PrecomputedTransactionData(tx), pure=False)


# ------------------------------------------------------------------------------ sigops
TEMPLATES = [bytes.fromhex("0014") + bytes(20), bytes.fromhex("0020") + bytes(32),
             bytes.fromhex("a914") + bytes(20) + b"\x87", bytes.fromhex("76a914") + bytes(20)
             + bytes.fromhex("88ac"), multisig(2, [public_key(bytes(31) + bytes((i,)))
                                                   for i in (1, 2, 3)])]
OPCODE_SOUP = st.lists(st.sampled_from([0xAC, 0xAD, 0xAE, 0xAF, 0x51, 0x60, 0x50, 0x00, 0x4C,
                                        0x4D, 0x4E, 0x01, 0x4B, 0x6A, 0xFF]) | st.integers(0, 255),
                       max_size=60).map(bytes)


@given(OPCODE_SOUP | st.binary(max_size=120) | st.sampled_from(TEMPLATES), st.booleans())
def test_count_sigops_matches_reference(script: bytes, accurate: bool) -> None:
    assert count_sigops(script, accurate) == count_sigops_reference(script, accurate)


@pytest.mark.parametrize("script", TEMPLATES)
def test_template_shortcuts_give_the_walks_answer(script: bytes) -> None:
    for accurate in (False, True):
        assert count_sigops(script, accurate) == count_sigops_reference(script, accurate)
    assert count_sigops(TEMPLATES[3], False) == 1 and count_sigops(TEMPLATES[4], True) == 3


# ------------------------------------------------------------------------------ inputs
PARAMS = regtest_params()


@given(st.lists(st.tuples(st.integers(-5, PARAMS.max_money + 5), st.integers(0, 300),
                          st.booleans(), st.booleans()), min_size=1, max_size=4),
       st.integers(0, 2 * PARAMS.max_money), st.booleans())
def test_check_tx_input_coins_matches_check_tx_inputs(spent, value_out: int,
                                                      coinstake: bool) -> None:
    view = DictCoinsView()
    inputs = []
    for i, (value, height, is_cb, is_cs) in enumerate(spent):
        outpoint = OutPoint(bytes((i,)) * 32, i)
        view.coins[outpoint] = Coin(TxOut(value, b"\x51"), height, is_cb, is_cs)
        inputs.append(TxIn(outpoint))
    tx = Transaction(2, tuple(inputs), (TxOut(value_out, b"\x51"),))
    coins = [view.coins[txin.prevout] for txin in tx.inputs]

    def outcome(fn, *args):
        try:
            return fn(*args, 301, PARAMS, coinstake=coinstake)
        except TxValidationError as exc:
            return exc.reason, exc.detail
    assert outcome(check_tx_input_coins, tx, coins) == outcome(check_tx_inputs, tx, view)


def test_check_tx_input_coins_needs_one_coin_per_input() -> None:
    tx = Transaction(2, (TxIn(OutPoint(bytes(32), 0)),), ())
    with pytest.raises(ValueError):
        check_tx_input_coins(tx, [], 1, PARAMS)


# ------------------------------------------------------------------------------ coins cache
def _coin(value: int) -> Coin:
    return Coin(TxOut(value, b"\x51"), 1, False)


def test_spend_inputs_names_the_missing_outpoint_and_returns_coins_in_order() -> None:
    ops = [OutPoint(bytes((i,)) * 32, i) for i in range(3)]
    base = CoinsViewCache(DictCoinsView({ops[0]: _coin(10), ops[1]: _coin(11)}))
    cache = CoinsViewCache(base)
    assert cache.spend_inputs(ops[:2]) == [_coin(10), _coin(11)]
    assert not cache.have_coin(ops[0]) and base.have_coin(ops[0])
    with pytest.raises(CoinNotFoundError) as err:
        CoinsViewCache(base).spend_inputs([ops[1], ops[2]])
    assert err.value.outpoint == ops[2]  # type: ignore[attr-defined]


def test_add_outputs_is_add_coin_per_output() -> None:
    txid = b"\x07" * 32
    base = CoinsViewCache(DictCoinsView({OutPoint(txid, 1): _coin(5)}))
    one, many = CoinsViewCache(base), CoinsViewCache(base)
    one.add_coin(OutPoint(txid, 0), _coin(1))
    one.add_coin(OutPoint(txid, 2), _coin(2))
    many.add_outputs(txid, [(0, _coin(1)), (2, _coin(2))])
    assert sorted(one.dirty_entries(), key=str) == sorted(many.dirty_entries(), key=str)
    assert one.memory_usage() == many.memory_usage()
    with pytest.raises(CoinOverwriteError):
        many.add_outputs(txid, [(1, _coin(3))])  # unspent in the layer below


# ------------------------------------------------------------------------------ pipeline
SECRETS = [hashlib.sha256(b"fastpaths" + bytes((i,))).digest() for i in range(3)]
MS = multisig(2, [public_key(s) for s in SECRETS])


def _multisig_spends(n: int, bad: int | None) -> list[tuple[Transaction, list[Coin]]]:
    keys = KeyStore()
    for secret in SECRETS:
        keys.add_key(secret)
    keys.add_script(MS)
    spends = []
    for i in range(n):
        coin = Coin(TxOut(1000 + i, p2wsh(MS)), 1, False)
        unsigned = Transaction(2, (TxIn(OutPoint(bytes((i % 256,)) * 31 + bytes((i // 256,)), i),
                                        b"", 0xFFFFFFFE),), (TxOut(900, b"\x51"),))
        tx = sign_transaction(unsigned, [coin.output], keys)
        if i == bad:
            stack = list(tx.inputs[0].witness)
            stack[1] = stack[1][:8] + bytes((stack[1][8] ^ 1,)) + stack[1][9:]
            tx = replace(tx, inputs=(replace(tx.inputs[0], witness=tuple(stack)),))
        spends.append((tx, [coin]))
    return spends


def _interpreter(spends) -> tuple[str, str] | None:
    for tx, coins in spends:
        for index, coin in enumerate(coins):
            try:
                verify_input(tx, index, coin.output, CONSENSUS_FLAGS)
            except ScriptError as exc:
                err = script_failure(tx, index, exc)
                return err.reason, err.detail
    return None


@pytest.mark.parametrize("pure", [True, False])
@pytest.mark.parametrize("bad", [None, 3, 37])
def test_pipelined_multisig_walks_match_the_interpreter(pure: bool, bad: int | None) -> None:
    if not pure and not sigcore.compiled_available():
        pytest.skip("compiled signature core is not built")
    spends = _multisig_spends(40, bad)
    expected = _interpreter(spends)
    assert (expected is None) == (bad is None)
    switch = sys.getswitchinterval()
    for threads in (1, 2):
        with ScriptVerifier(threads, None, sigcore.get_backend(pure=pure)) as verifier:
            verifier.chunk_size = 5  # walks continue across many chunks while others run
            try:
                verifier.verify_block(spends, CONSENSUS_FLAGS)
                got = None
            except BlockValidationError as exc:
                got = exc.reason, exc.detail
            assert got == expected
            stats = verifier.last_stats
            assert stats.rounds == 3 and stats.template_inputs == 40
            if bad is None:
                assert stats.checks == 3 * 40
        assert sys.getswitchinterval() == switch  # restored after the block


# ------------------------------------------------------------------------------ sigop cost
def _reference_sigop_cost(tx: Transaction, coins: list[Coin], bits: int) -> int:
    """BIP141 cost written out from Core's GetTransactionSigOpCost over the reference counter."""
    legacy = sum(count_sigops_reference(i.script_sig, False) for i in tx.inputs)
    legacy += sum(count_sigops_reference(o.script_pubkey, False) for o in tx.outputs)
    cost = legacy * 4
    if tx.is_coinbase():
        return cost
    for txin, coin in zip(tx.inputs, coins):
        spk = coin.output.script_pubkey
        redeem = _last_push(txin.script_sig) if is_p2sh(spk) else None
        if bits & int(ScriptFlags.P2SH) and redeem:
            cost += count_sigops_reference(redeem, True) * 4
        if bits & int(ScriptFlags.WITNESS):
            program = witness_program(spk)
            if program is None and bits & int(ScriptFlags.P2SH) and redeem:
                program = witness_program(redeem)
            if program is not None and program[0] == 0:
                if len(program[1]) == 20:
                    cost += 1
                elif len(program[1]) == 32 and txin.witness:
                    cost += count_sigops_reference(txin.witness[-1], True)
    return cost


WITNESS_SCRIPT = multisig(2, [public_key(bytes(31) + bytes((i,))) for i in (1, 2, 3)])
SPKS = [p2wpkh(bytes(20)), p2wsh(WITNESS_SCRIPT), p2sh_of(p2wpkh(bytes(20))),
        p2sh_of(p2wsh(WITNESS_SCRIPT)), p2sh_of(WITNESS_SCRIPT), b"\x51"]
SCRIPT_SIGS = [b"", push_data(p2wpkh(bytes(20))), push_data(p2wsh(WITNESS_SCRIPT)),
               push_data(WITNESS_SCRIPT), b"\x00\x51\xae"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SPKS) | st.binary(max_size=30),
                          st.sampled_from(SCRIPT_SIGS) | OPCODE_SOUP,
                          st.just(()) | st.just((b"", WITNESS_SCRIPT))
                          | OPCODE_SOUP.map(lambda script: (script,))),
                min_size=1, max_size=4),
       st.lists(st.sampled_from(SPKS) | OPCODE_SOUP, max_size=3),
       st.sampled_from([0, int(ScriptFlags.P2SH), int(ScriptFlags.WITNESS),
                        int(ScriptFlags.P2SH | ScriptFlags.WITNESS), int(CONSENSUS_FLAGS)]))
def test_transaction_sigop_cost_matches_reference(spends, outputs, bits: int) -> None:
    inputs = tuple(TxIn(OutPoint(bytes((i + 1,)) * 32, i), script_sig, 0, witness)
                   for i, (_, script_sig, witness) in enumerate(spends))
    coins = [Coin(TxOut(1, spk), 1, False) for spk, _, _ in spends]
    tx = Transaction(2, inputs, tuple(TxOut(1, spk) for spk in outputs))
    assert transaction_sigop_cost(tx, coins, ScriptFlags(bits)) == _reference_sigop_cost(
        tx, coins, bits)
