"""Sign-and-verify round trips for every standard template, checked by the interpreter.

Every success case is paired with a failure the same verifier must catch (wrong key, tampered
transaction, missing signature, unmet timelock), so a verifier or signer that accepted
everything would fail this file.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from wattchain.core.hashes import hash160
from wattchain.core.keys import public_key, verify_ecdsa
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut
from wattchain.script.errors import ScriptError, ScriptErrorCode
from wattchain.script.flags import CONSENSUS_FLAGS, STANDARD_FLAGS
from wattchain.script.interpreter import verify_input
from wattchain.script.sighash import (SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_NONE,
                                      SIGHASH_SINGLE, legacy_signature_hash,
                                      segwit_v0_signature_hash)
from wattchain.script.sign import (IncompleteSigningError, KeyStore, SigningError, sign_input,
                                   sign_transaction, sign_transaction_inputs)
from wattchain.script.standard import (TxOutType, cltv_locked, csv_locked, multisig, p2pk,
                                       p2pkh, p2sh_of, p2wpkh, p2wsh, relative_blocks,
                                       relative_seconds)

E = ScriptErrorCode
PRIVS = [(1000 + i).to_bytes(32, "big") for i in range(20)]
PUBS = [public_key(k) for k in PRIVS]
HASH_TYPES = [base | acp for base in (SIGHASH_ALL, SIGHASH_NONE, SIGHASH_SINGLE)
              for acp in (0, SIGHASH_ANYONECANPAY)]
AMOUNT = 50_000


def keystore(*indexes: int, scripts: tuple[bytes, ...] = (), compressed: bool = True) -> KeyStore:
    store = KeyStore()
    for i in indexes:
        store.add_key(PRIVS[i], compressed)
    for script in scripts:
        store.add_script(script)
    return store


def unsigned_tx(n_inputs: int = 1, *, version: int = 2, locktime: int = 0,
                sequence: int = 0xFFFFFFFF) -> Transaction:
    inputs = tuple(TxIn(OutPoint(bytes([i + 1]) * 32, i), sequence=sequence)
                   for i in range(n_inputs))
    outputs = (TxOut(AMOUNT - 1_000, p2wpkh(hash160(PUBS[0]))),
               TxOut(700, p2pkh(hash160(PUBS[1]))))
    return Transaction(version, inputs, outputs, locktime)


def sign_one(spent_script: bytes, store: KeyStore, tx: Transaction | None = None,
             hash_type: int = SIGHASH_ALL) -> tuple[Transaction, TxOut]:
    tx = tx or unsigned_tx()
    spent = TxOut(AMOUNT, spent_script)
    result = sign_input(tx, 0, spent, store, hash_type)
    assert result.complete
    script_sig, witness = result
    signed = replace(tx, inputs=(replace(tx.inputs[0], script_sig=script_sig, witness=witness),
                                 *tx.inputs[1:]))
    return signed, spent


def assert_valid(tx: Transaction, spent: TxOut, index: int = 0) -> None:
    verify_input(tx, index, spent, STANDARD_FLAGS)
    verify_input(tx, index, spent, CONSENSUS_FLAGS)


def assert_fails(tx: Transaction, spent: TxOut, code: ScriptErrorCode | None = None,
                 index: int = 0) -> None:
    with pytest.raises(ScriptError) as info:
        verify_input(tx, index, spent, STANDARD_FLAGS)
    if code is not None:
        assert info.value.code is code, info.value


def tamper_output(tx: Transaction) -> Transaction:
    first = tx.outputs[0]
    return replace(tx, outputs=(replace(first, value=first.value - 1), *tx.outputs[1:]))


# ---------------------------------------------------------------------------- single key
def _single_key_cases():
    h = hash160(PUBS[0])
    return {
        "p2pk": (p2pk(PUBS[0]), ()),
        "p2pkh": (p2pkh(h), ()),
        "p2wpkh": (p2wpkh(h), ()),
        "p2sh-p2wpkh": (p2sh_of(p2wpkh(h)), ()),
    }


@pytest.mark.parametrize("name", list(_single_key_cases()))
def test_single_key_templates(name):
    script, _ = _single_key_cases()[name]
    tx, spent = sign_one(script, keystore(0))
    assert_valid(tx, spent)
    assert_fails(tamper_output(tx), spent)
    # Claiming a different amount breaks SegWit signatures (BIP143 commits to it) only.
    other_amount = TxOut(AMOUNT + 1, script)
    if name in ("p2wpkh", "p2sh-p2wpkh"):
        assert_fails(tx, other_amount)
    else:
        verify_input(tx, 0, other_amount, STANDARD_FLAGS)


@pytest.mark.parametrize("template", [p2pk, lambda pub: p2pkh(hash160(pub))])
def test_uncompressed_keys_in_legacy_scripts(template):
    pub = public_key(PRIVS[3], compressed=False)
    tx, spent = sign_one(template(pub), keystore(3, compressed=False))
    assert_valid(tx, spent)


def test_uncompressed_key_refused_for_p2wpkh():
    pub = public_key(PRIVS[3], compressed=False)
    result = sign_input(unsigned_tx(), 0, TxOut(AMOUNT, p2wpkh(hash160(pub))),
                        keystore(3, compressed=False))
    assert not result.complete
    assert result.missing_signatures == (hash160(pub),)


class _WrongKeyProvider(KeyStore):
    """Answers with key 1's private key when asked for key 0's: a signer with a wrong key."""

    def private_key_for(self, pubkey: bytes) -> bytes | None:
        return PRIVS[1] if pubkey == PUBS[0] else super().private_key_for(pubkey)


@pytest.mark.parametrize("name", list(_single_key_cases()))
def test_signature_from_wrong_key_fails(name):
    script, _ = _single_key_cases()[name]
    store = _WrongKeyProvider()
    store.add_pubkey(PUBS[0])
    store.add_script(p2wpkh(hash160(PUBS[0])))
    tx, spent = sign_one(script, store)
    assert_fails(tx, spent, E.NULLFAIL)  # a failed non-empty signature is NULLFAIL by policy
    with pytest.raises(ScriptError) as info:
        verify_input(tx, 0, spent, CONSENSUS_FLAGS)
    assert info.value.code is E.EVAL_FALSE


def test_signatures_verify_against_sighash_directly():
    """Independent of the interpreter: the produced signatures sign the expected digests."""
    tx = unsigned_tx()
    legacy = sign_input(tx, 0, TxOut(AMOUNT, p2pkh(hash160(PUBS[0]))), keystore(0))
    sig = legacy.signatures[PUBS[0]]
    digest = legacy_signature_hash(p2pkh(hash160(PUBS[0])), tx, 0, SIGHASH_ALL)
    assert sig[-1] == SIGHASH_ALL and verify_ecdsa(PUBS[0], sig[:-1], digest)
    segwit = sign_input(tx, 0, TxOut(AMOUNT, p2wpkh(hash160(PUBS[0]))), keystore(0),
                        SIGHASH_SINGLE)
    sig = segwit.witness[0]
    digest = segwit_v0_signature_hash(p2pkh(hash160(PUBS[0])), tx, 0, SIGHASH_SINGLE, AMOUNT)
    assert sig[-1] == SIGHASH_SINGLE and verify_ecdsa(PUBS[0], sig[:-1], digest)
    assert not verify_ecdsa(PUBS[1], sig[:-1], digest)
    assert segwit.witness[1] == PUBS[0] and segwit.script_sig == b""


# ---------------------------------------------------------------------------- hash types
@pytest.mark.parametrize("hash_type", HASH_TYPES)
@pytest.mark.parametrize("kind", ["p2pkh", "p2wpkh"])
def test_all_hash_types(kind, hash_type):
    template = p2pkh if kind == "p2pkh" else p2wpkh
    spent = [TxOut(AMOUNT, template(hash160(PUBS[i]))) for i in (0, 1)]
    tx = sign_transaction(unsigned_tx(2), spent, keystore(0, 1), hash_type)
    for i in (0, 1):
        script_sig, witness = tx.inputs[i].script_sig, tx.inputs[i].witness
        signature = witness[0] if kind == "p2wpkh" else script_sig[1:1 + script_sig[0]]
        assert signature[-1] == hash_type
        assert_valid(tx, spent[i], i)

    # What each hash type commits to: changing the second output's value breaks ALL for
    # both inputs and SINGLE for input 1 only; NONE commits to no outputs at all.
    base = hash_type & 0x1F
    changed = replace(tx, outputs=(tx.outputs[0], replace(tx.outputs[1], value=699)))
    for i in (0, 1):
        commits = base == SIGHASH_ALL or (base == SIGHASH_SINGLE and i == 1)
        if commits:
            assert_fails(changed, spent[i], E.NULLFAIL, i)
        else:
            verify_input(changed, i, spent[i], STANDARD_FLAGS)

    # Dropping input 1 keeps input 0 valid only under ANYONECANPAY.
    alone = replace(tx, inputs=tx.inputs[:1])
    if hash_type & SIGHASH_ANYONECANPAY:
        verify_input(alone, 0, spent[0], STANDARD_FLAGS)
    else:
        assert_fails(alone, spent[0], E.NULLFAIL)


def test_hash_type_guards():
    spent = TxOut(AMOUNT, p2wpkh(hash160(PUBS[0])))
    with pytest.raises(SigningError):
        sign_input(unsigned_tx(), 0, spent, keystore(0), hash_type=0x04)
    with pytest.raises(SigningError):
        sign_input(unsigned_tx(), 0, spent, keystore(0), hash_type=0)
    three_inputs = unsigned_tx(3)
    with pytest.raises(SigningError):  # no output 2: legacy would sign the constant "1"
        sign_input(three_inputs, 2, spent, keystore(0), hash_type=SIGHASH_SINGLE)
    with pytest.raises(SigningError):
        sign_input(three_inputs, 3, spent, keystore(0))


# ---------------------------------------------------------------------------- multisig
def _wrap(kind: str, script: bytes) -> bytes:
    return {"bare": lambda s: s, "p2sh": p2sh_of, "p2wsh": p2wsh,
            "p2sh-p2wsh": lambda s: p2sh_of(p2wsh(s))}[kind](script)


def _multisig_store(script: bytes, keys) -> KeyStore:
    return keystore(*keys, scripts=(script, p2wsh(script)))


@pytest.mark.parametrize("kind,m,n", [
    ("bare", 1, 1), ("bare", 2, 3),
    ("p2sh", 1, 1), ("p2sh", 2, 3), ("p2sh", 15, 15),
    ("p2wsh", 2, 3), ("p2wsh", 15, 15), ("p2wsh", 20, 20),
    ("p2sh-p2wsh", 2, 3), ("p2sh-p2wsh", 15, 15),
])
def test_multisig(kind, m, n):
    script = multisig(m, PUBS[:n])
    tx, spent = sign_one(_wrap(kind, script), _multisig_store(script, range(n)))
    assert_valid(tx, spent)
    assert_fails(tamper_output(tx), spent)
    stack = tx.inputs[0].witness if "p2wsh" in kind else None
    if stack is not None:
        assert stack[0] == b"" and stack[-1] == script and len(stack) == m + 2


@pytest.mark.parametrize("kind", ["bare", "p2sh", "p2wsh", "p2sh-p2wsh"])
def test_multisig_skipping_a_key_keeps_key_order(kind):
    script = multisig(2, PUBS[:3])
    tx, spent = sign_one(_wrap(kind, script), _multisig_store(script, (0, 2)))
    assert_valid(tx, spent)


@pytest.mark.parametrize("kind", ["bare", "p2sh", "p2wsh", "p2sh-p2wsh"])
def test_partial_multisig_fails_then_combines(kind):
    script = multisig(2, PUBS[:3])
    spent = TxOut(AMOUNT, _wrap(kind, script))
    tx = unsigned_tx()
    first = sign_input(tx, 0, spent, _multisig_store(script, (2,)))
    assert not first.complete and first.kind is TxOutType.MULTISIG
    assert set(first.missing_signatures) == {hash160(PUBS[0]), hash160(PUBS[1])}
    assert set(first.signatures) == {PUBS[2]}
    partial = replace(tx, inputs=(replace(tx.inputs[0], script_sig=first.script_sig,
                                          witness=first.witness),))
    assert_fails(partial, spent)
    # A second signer holding key 0 completes it by reusing the first signer's signature.
    second = sign_input(tx, 0, spent, _multisig_store(script, (0,)),
                        partial_signatures=first.signatures)
    assert second.complete
    done = replace(tx, inputs=(replace(tx.inputs[0], script_sig=second.script_sig,
                                       witness=second.witness),))
    assert_valid(done, spent)


# ---------------------------------------------------------------------------- timelocks
WRAPS = ["p2sh", "p2wsh", "p2sh-p2wsh"]


@pytest.mark.parametrize("kind", WRAPS)
@pytest.mark.parametrize("lock", [100, 650_000, 1_700_000_000])
def test_cltv(kind, lock):
    script = cltv_locked(lock, PUBS[4])
    store = keystore(4, scripts=(script, p2wsh(script)))
    spent_script = _wrap(kind, script)
    tx, spent = sign_one(spent_script, store, unsigned_tx(locktime=lock, sequence=0xFFFFFFFE))
    assert_valid(tx, spent)
    later, spent = sign_one(spent_script, store,
                            unsigned_tx(locktime=lock + 5, sequence=0xFFFFFFFE))
    assert_valid(later, spent)

    early, spent = sign_one(spent_script, store,
                            unsigned_tx(locktime=lock - 1, sequence=0xFFFFFFFE))
    assert_fails(early, spent, E.UNSATISFIED_LOCKTIME)
    final_seq, spent = sign_one(spent_script, store, unsigned_tx(locktime=lock))
    assert_fails(final_seq, spent, E.UNSATISFIED_LOCKTIME)  # nSequence final disables nLockTime
    # A UNIX-time nLockTime never satisfies a height lock, and vice versa.
    other_kind = 1_800_000_000 if lock < 500_000_000 else 400_000_000
    mixed, spent = sign_one(spent_script, store,
                            unsigned_tx(locktime=other_kind, sequence=0xFFFFFFFE))
    assert_fails(mixed, spent, E.UNSATISFIED_LOCKTIME)


@pytest.mark.parametrize("kind", WRAPS)
@pytest.mark.parametrize("relative", [relative_blocks(10), relative_blocks(1000),
                                      relative_seconds(512 * 20)])
def test_csv(kind, relative):
    script = csv_locked(relative, PUBS[5])
    store = keystore(5, scripts=(script, p2wsh(script)))
    spent_script = _wrap(kind, script)
    for sequence in (relative, relative + 1):
        tx, spent = sign_one(spent_script, store, unsigned_tx(sequence=sequence))
        assert_valid(tx, spent)
    failing = [unsigned_tx(sequence=relative - 1),                   # too short
               unsigned_tx(sequence=relative, version=1),            # BIP68 needs version 2
               unsigned_tx(sequence=relative | (1 << 31)),           # lock disabled
               unsigned_tx(sequence=relative ^ (1 << 22))]           # blocks vs time
    for tx in failing:
        signed, spent = sign_one(spent_script, store, tx)
        assert_fails(signed, spent, E.UNSATISFIED_LOCKTIME)


def test_timelock_wrong_key_fails():
    script = cltv_locked(100, PUBS[4])
    store = keystore(6, scripts=(script, p2wsh(script)))
    result = sign_input(unsigned_tx(locktime=100, sequence=0), 0, TxOut(AMOUNT, p2wsh(script)),
                        store)
    assert not result.complete and result.missing_signatures == (hash160(PUBS[4]),)


# ---------------------------------------------------------------------------- transactions
def test_sign_transaction_mixed_inputs():
    ms = multisig(2, PUBS[:3])
    lock = csv_locked(relative_blocks(5), PUBS[4])
    scripts = [p2pk(PUBS[0]), p2pkh(hash160(PUBS[1])), p2wpkh(hash160(PUBS[2])),
               p2sh_of(p2wpkh(hash160(PUBS[3]))), p2sh_of(ms), p2wsh(ms), p2wsh(lock)]
    spent = [TxOut(AMOUNT + i, s) for i, s in enumerate(scripts)]
    store = keystore(0, 1, 2, 3, 4, scripts=(ms, p2wsh(ms), lock))
    tx = sign_transaction(unsigned_tx(len(spent), sequence=5), spent, store)
    assert tx.txid != unsigned_tx(len(spent), sequence=5).txid
    for i, out in enumerate(spent):
        assert_valid(tx, out, i)


def test_sign_transaction_reports_incomplete():
    spent = [TxOut(AMOUNT, p2wpkh(hash160(PUBS[0]))), TxOut(AMOUNT, p2pkh(hash160(PUBS[1])))]
    tx = unsigned_tx(2)
    with pytest.raises(IncompleteSigningError) as info:
        sign_transaction(tx, spent, keystore(0))
    assert [r.complete for r in info.value.results] == [True, False]
    assert info.value.results[1].missing_pubkeys == (hash160(PUBS[1]),)
    partial = sign_transaction(tx, spent, keystore(0), allow_partial=True)
    assert_valid(partial, spent[0], 0)
    assert partial.inputs[1] == tx.inputs[1]
    # A second party signs the remaining input; the first input's witness is preserved.
    done, results = sign_transaction_inputs(partial, spent, keystore(1))
    assert [r.complete for r in results] == [False, True]
    for i in (0, 1):
        assert_valid(done, spent[i], i)
    with pytest.raises(SigningError):
        sign_transaction(tx, spent[:1], keystore(0))


def test_missing_scripts_are_reported():
    ms = multisig(1, PUBS[:1])
    tx = unsigned_tx()
    result = sign_input(tx, 0, TxOut(AMOUNT, p2wsh(ms)), keystore(0))
    assert not result.complete and result.missing_scripts == (p2wsh(ms)[2:],)
    result = sign_input(tx, 0, TxOut(AMOUNT, p2sh_of(ms)), keystore(0))
    assert not result.complete and result.missing_scripts == (hash160(ms),)
    assert result.script_sig == b"" and result.witness == ()
    for unsignable in (b"\x6a", b"\x51\x20" + bytes(32), b"\x51"):
        assert not sign_input(tx, 0, TxOut(AMOUNT, unsignable), keystore(0)).complete
