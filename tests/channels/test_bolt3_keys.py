"""BOLT 3 Appendix D (per-commitment secrets), E (key derivation) and the obscured number."""

from __future__ import annotations

import pytest
from bolt3_vectors import h, load_setup
from coincurve import PrivateKey
from vector_files import load_vector_json

from wattchain.channels.commitment import (commitment_locktime_sequence,
                                           extract_commitment_number,
                                           obscure_commitment_number, obscuring_factor)
from wattchain.channels.errors import KeyDerivationError, ShachainError
from wattchain.channels.keys import (derive_privkey, derive_pubkey, derive_revocation_privkey,
                                     derive_revocation_pubkey, per_commitment_point,
                                     pubkey_tweak)
from wattchain.channels.shachain import (MAX_INDEX, ShachainStore, commitment_index,
                                         commitment_secret, generate_from_seed)
from wattchain.core.keys import public_key
from wattchain.core.tx import Transaction


# ---------------------------------------------------------------------------- Appendix E
@pytest.fixture(scope="module")
def derivation():
    return load_vector_json("bolt3", "key_derivation.json")


def test_appendix_e_points_and_tweak(derivation):
    inputs, mid = derivation["inputs"], derivation["intermediate"]
    assert public_key(h(inputs["base_secret"])) == h(inputs["base_point"])
    assert per_commitment_point(h(inputs["per_commitment_secret"])) \
        == h(inputs["per_commitment_point"])
    assert pubkey_tweak(h(inputs["base_point"]), h(inputs["per_commitment_point"])) \
        == h(mid["sha256_pcp_basepoint"])


def test_appendix_e_derived_keys(derivation):
    inputs, expected = derivation["inputs"], derivation["expected"]
    base_point, pcp = h(inputs["base_point"]), h(inputs["per_commitment_point"])
    assert derive_pubkey(base_point, pcp) == h(expected["localpubkey"])
    assert derive_privkey(h(inputs["base_secret"]), pcp) == h(expected["localprivkey"])
    assert public_key(h(expected["localprivkey"])) == h(expected["localpubkey"])
    assert derive_revocation_pubkey(base_point, pcp) == h(expected["revocationpubkey"])
    revocation_privkey = derive_revocation_privkey(h(inputs["base_secret"]),
                                                   h(inputs["per_commitment_secret"]))
    assert revocation_privkey == h(expected["revocationprivkey"])
    assert public_key(revocation_privkey) == h(expected["revocationpubkey"])


def test_appendix_e_revocation_intermediates(derivation):
    """The two halves of the revocation sum, checked one by one with coincurve."""
    inputs, mid = derivation["inputs"], derivation["intermediate"]
    tweak1, tweak2 = h(mid["sha256_revbase_pcp"]), h(mid["sha256_pcp_basepoint"])
    base = PrivateKey(h(inputs["base_secret"]))
    pcs = PrivateKey(h(inputs["per_commitment_secret"]))
    assert base.multiply(tweak1).secret == h(mid["revsecret_times_tweak1"])
    assert pcs.multiply(tweak2).secret == h(mid["pcsecret_times_tweak2"])
    assert base.public_key.multiply(tweak1).format() == h(mid["revbase_times_tweak1"])
    assert pcs.public_key.multiply(tweak2).format() == h(mid["pcp_times_tweak2"])


def test_appendix_c_keys_derive_from_basepoints():
    setup = load_setup()
    keys, secrets = setup.data["keys"], setup.secrets
    pcp = per_commitment_point(secrets["local_per_commitment_secret"])
    assert pcp == h(keys["local_per_commitment_point"])
    assert derive_pubkey(h(keys["local_htlc_basepoint"]), pcp) == h(keys["local_htlcpubkey"])
    assert derive_pubkey(h(keys["remote_htlc_basepoint"]), pcp) == h(keys["remote_htlcpubkey"])
    assert derive_pubkey(h(keys["local_delayed_payment_basepoint"]), pcp) \
        == h(keys["local_delayedpubkey"])
    assert derive_revocation_pubkey(h(keys["remote_revocation_basepoint"]), pcp) \
        == h(keys["local_revocation_pubkey"])
    assert derive_privkey(secrets["local_payment_basepoint_secret"], pcp) \
        == secrets["local_privkey"]
    assert derive_privkey(secrets["remote_payment_basepoint_secret"], pcp) \
        == secrets["remote_privkey"]
    assert derive_privkey(secrets["local_delayed_payment_basepoint_secret"], pcp) \
        == secrets["local_delayed_privkey"]


def test_bad_keys_raise_typed_errors():
    with pytest.raises(KeyDerivationError, match="not a valid public key"):
        derive_pubkey(b"\x02" + bytes(32), per_commitment_point(b"\x01" * 32))
    with pytest.raises(KeyDerivationError, match="32 bytes"):
        derive_privkey(b"\x01" * 31, per_commitment_point(b"\x01" * 32))
    with pytest.raises(KeyDerivationError, match="not a valid secp256k1 scalar"):
        per_commitment_point(bytes(32))


# ---------------------------------------------------------------------------- Appendix D
@pytest.fixture(scope="module")
def secrets_vectors():
    return load_vector_json("bolt3", "per_commitment_secrets.json")


def test_generate_from_seed(secrets_vectors):
    cases = secrets_vectors["generate_from_seed"]
    assert len(cases) == 5
    for case in cases:
        assert generate_from_seed(h(case["seed"]), case["index"]) == h(case["secret"]), \
            case["name"]


def test_insert_secret_sequences(secrets_vectors):
    tests = secrets_vectors["insert_secret"]
    assert len(tests) == 9
    rejected = 0
    for test in tests:
        store = ShachainStore()
        for step in test["steps"]:
            before = store.entries()
            if step["ok"]:
                store.insert(step["index"], h(step["secret"]))
                assert store.get(step["index"]) == h(step["secret"])
            else:
                with pytest.raises(ShachainError, match="does not derive"):
                    store.insert(step["index"], h(step["secret"]))
                assert store.entries() == before, "a rejected insert changed the store"
                rejected += 1
    assert rejected == 8


def test_store_derives_every_earlier_secret_and_round_trips():
    seed = bytes(range(32))
    store = ShachainStore()
    for number in range(40):
        store.insert(commitment_index(number), commitment_secret(seed, number))
    assert len(store.entries()) <= 49
    for number in range(40):
        assert store.get_commitment_secret(number) == commitment_secret(seed, number)
    assert store.get_commitment_secret(40) is None  # not revealed yet
    again = ShachainStore.from_entries(store.entries())
    assert again.get_commitment_secret(17) == commitment_secret(seed, 17)
    # A store holding a foreign secret refuses to load.
    bad = store.entries()
    bad[-1] = (bad[-1][0], bytes(32))
    with pytest.raises(ShachainError):
        ShachainStore.from_entries(bad)


def test_shachain_bounds():
    with pytest.raises(ShachainError, match="outside"):
        generate_from_seed(bytes(32), MAX_INDEX + 1)
    with pytest.raises(ShachainError, match="32 bytes"):
        generate_from_seed(bytes(31), 0)
    with pytest.raises(ShachainError, match="32 bytes"):
        ShachainStore().insert(5, bytes(31))


# ---------------------------------------------------------------------------- obscured number
def test_obscured_commitment_number():
    vec = load_vector_json("bolt3", "obscured_commitment_number.json")
    factor = obscuring_factor(h(vec["opener_payment_basepoint"]),
                              h(vec["accepter_payment_basepoint"]))
    assert factor == vec["factor"] == int(vec["factor_hex"], 16)
    obscured = obscure_commitment_number(vec["commitment_number"], factor)
    assert obscured == vec["obscured"]
    locktime, sequence = commitment_locktime_sequence(obscured)
    assert locktime == int(vec["locktime_hex"], 16)
    assert sequence == int(vec["sequence_hex"], 16)
    # And it comes back out of every Appendix C commitment tx.
    setup = load_setup()
    for case in setup.data["cases"]:
        tx = Transaction.from_hex(case["commit_tx_hex"])
        assert extract_commitment_number(tx, factor) == vec["commitment_number"]
