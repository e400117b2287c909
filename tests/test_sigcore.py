"""The compiled signature core against the pure coincurve path: same answer for every input.

Differential tests over valid signatures and every kind of breakage Bitcoin's lax rules must
handle (high S, malformed and non-canonical DER, truncation, wrong keys and messages, invalid
public keys), batches (empty, mixed, threaded) and BIP340 Schnorr. Tests that need the compiled
module skip with a message when it was not built (CI builds it).
"""

from __future__ import annotations

import hashlib

import coincurve
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattchain.core.keys import verify_ecdsa as keys_verify_ecdsa
from wattchain.script import sigcore
from wattchain.script.sigcore import BatchVerifier, PureBackend, SignatureCheck

ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P = 2**256 - 2**32 - 977

PURE = PureBackend()
needs_compiled = pytest.mark.skipif(
    not sigcore.compiled_available(),
    reason="compiled signature core (wattchain/script/_sigcore.pyx) is not built: "
           "run `pip install -e .` with a C compiler")


def compiled():
    return sigcore.get_backend(pure=False)


def secret(seed: int) -> bytes:
    return hashlib.sha256(b"sigcore-test" + seed.to_bytes(8, "little")).digest()


def der(r: int, s: int) -> bytes:
    def integer(v: int) -> bytes:
        body = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
        if body[0] & 0x80:
            body = b"\x00" + body
        return b"\x02" + bytes((len(body),)) + body
    body = integer(r) + integer(s)
    return b"\x30" + bytes((len(body),)) + body


def split_der(sig: bytes) -> tuple[int, int]:
    rlen = sig[3]
    r = int.from_bytes(sig[4:4 + rlen], "big")
    slen = sig[5 + rlen]
    s = int.from_bytes(sig[6 + rlen:6 + rlen + slen], "big")
    return r, s


def off_curve_key(x_seed: int) -> bytes:
    """A compressed key whose x has no point on the curve (x^3 + 7 is not a square)."""
    x = x_seed % P
    while pow((x**3 + 7) % P, (P - 1) // 2, P) == 1:
        x = (x + 1) % P
    return b"\x02" + x.to_bytes(32, "big")


MUTATIONS = ["valid", "high_s", "wrong_msg", "wrong_key", "flip", "truncate", "random",
             "bad_prefix", "off_curve", "uncompressed", "hybrid", "padded_lax", "long_form_len",
             "overlong_r", "empty_sig", "empty_key", "r_over_order"]


def make_case(seed: int, mutation: str, position: int, junk: bytes) -> tuple[bytes, bytes, bytes]:
    key = coincurve.PrivateKey(secret(seed))
    msg = hashlib.sha256(b"msg" + seed.to_bytes(8, "little")).digest()
    sig = key.sign(msg, hasher=None)
    pub = key.public_key.format()
    r, s = split_der(sig)
    if mutation == "high_s":
        sig = der(r, ORDER - s)  # Bitcoin consensus normalises: still valid
    elif mutation == "wrong_msg":
        msg = hashlib.sha256(msg).digest()
    elif mutation == "wrong_key":
        pub = coincurve.PrivateKey(secret(seed + 1)).public_key.format()
    elif mutation == "flip":
        i = position % len(sig)
        sig = sig[:i] + bytes((sig[i] ^ (1 << (position % 8)),)) + sig[i + 1:]
    elif mutation == "truncate":
        sig = sig[:position % len(sig)]
    elif mutation == "random":
        sig = junk
    elif mutation == "bad_prefix":
        pub = bytes((0x05,)) + pub[1:]
    elif mutation == "off_curve":
        pub = off_curve_key(int.from_bytes(junk.ljust(32, b"\x01")[:32], "big"))
    elif mutation == "uncompressed":
        pub = key.public_key.format(compressed=False)
    elif mutation == "hybrid":
        full = key.public_key.format(compressed=False)
        pub = bytes((0x06 | (full[-1] & 1),)) + full[1:]
    elif mutation == "padded_lax":
        # Long-form length and zero padding on R: Core's lax parser accepts it.
        rb = r.to_bytes(32, "big")
        rpart = b"\x02\x81\x22\x00\x00" + rb
        spart = b"\x02" + bytes((len(sig) - 6 - sig[3],)) + sig[6 + sig[3]:]
        sig = b"\x30\x81" + bytes((len(rpart) + len(spart),)) + rpart + spart
    elif mutation == "long_form_len":
        sig = b"\x30\x84\x00\x00\x00" + sig[1:]
    elif mutation == "overlong_r":
        rpart = b"\x02\x21\x01" + r.to_bytes(32, "big")
        sig = b"\x30" + bytes((len(rpart) + 2 + len(sig) - 6 - sig[3],)) + rpart + \
            sig[4 + sig[3]:]
    elif mutation == "empty_sig":
        sig = b""
    elif mutation == "empty_key":
        pub = b""
    elif mutation == "r_over_order":
        sig = der(ORDER + 1, s)
    return pub, sig, msg


case_args = st.tuples(st.integers(0, 2**32), st.sampled_from(MUTATIONS), st.integers(0, 10**6),
                      st.binary(max_size=80))


# ------------------------------------------------------------------------------ reference
def test_expected_answers_on_pure_backend():
    """Anchor the differential tests: the pure path itself gives the consensus answers."""
    assert PURE.verify_ecdsa(*make_case(1, "valid", 0, b""))
    assert PURE.verify_ecdsa(*make_case(1, "high_s", 0, b""))
    assert PURE.verify_ecdsa(*make_case(1, "padded_lax", 0, b""))
    assert PURE.verify_ecdsa(*make_case(1, "uncompressed", 0, b""))
    assert PURE.verify_ecdsa(*make_case(1, "long_form_len", 0, b""))
    for bad in ("wrong_msg", "wrong_key", "bad_prefix", "off_curve", "overlong_r", "empty_sig",
                "empty_key", "r_over_order"):
        assert not PURE.verify_ecdsa(*make_case(1, bad, 0, b"")), bad


def test_backend_selection():
    assert sigcore.get_backend(pure=True).name == "pure"
    assert sigcore.pure_forced({"WATTCHAIN_PURE": "1"})
    assert not sigcore.pure_forced({"WATTCHAIN_PURE": "0"})
    assert not sigcore.pure_forced({})
    assert sigcore.backend_name() in ("pure", "compiled")
    expected = "pure" if sigcore.pure_forced() or not sigcore.compiled_available() else "compiled"
    assert sigcore.backend_name() == expected


# ------------------------------------------------------------------------------ differential
@needs_compiled
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_args)
def test_compiled_matches_pure_single(args):
    pub, sig, msg = make_case(*args)
    expected = keys_verify_ecdsa(pub, sig, msg)
    assert PURE.verify_ecdsa(pub, sig, msg) == expected
    assert compiled().verify_ecdsa(pub, sig, msg) == expected


@needs_compiled
@settings(max_examples=40, deadline=None)
@given(st.lists(case_args, max_size=40))
def test_compiled_matches_pure_batch(cases):
    made = [make_case(*args) for args in cases]
    pubs, sigs, msgs = ([m[i] for m in made] for i in range(3))
    expected = [keys_verify_ecdsa(*m) for m in made]
    assert PURE.verify_ecdsa_many(pubs, sigs, msgs) == expected
    assert compiled().verify_ecdsa_many(pubs, sigs, msgs) == expected


@needs_compiled
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.binary(min_size=33, max_size=33))
def test_compiled_matches_pure_on_random_bytes(sig, pub):
    msg = bytes(32)
    assert compiled().verify_ecdsa(pub, sig, msg) == PURE.verify_ecdsa(pub, sig, msg)


@pytest.mark.parametrize("backend_kind", ["pure", "compiled"])
def test_message_must_be_32_bytes(backend_kind):
    if backend_kind == "compiled" and not sigcore.compiled_available():
        pytest.skip("compiled signature core is not built")
    backend = sigcore.get_backend(pure=backend_kind == "pure")
    pub, sig, msg = make_case(3, "valid", 0, b"")
    with pytest.raises(ValueError):
        backend.verify_ecdsa(pub, sig, msg[:31])
    with pytest.raises(ValueError):
        backend.verify_ecdsa_many([pub], [sig], [msg + b"\x00"])
    with pytest.raises(ValueError):
        backend.verify_ecdsa_many([pub], [sig, sig], [msg])
    assert backend.verify_ecdsa_many([], [], []) == []


# ------------------------------------------------------------------------------ batches
@pytest.mark.parametrize("backend_kind", ["pure", "compiled"])
def test_batch_verifier_threads_agree(backend_kind):
    if backend_kind == "compiled" and not sigcore.compiled_available():
        pytest.skip("compiled signature core is not built")
    backend = sigcore.get_backend(pure=backend_kind == "pure")
    checks = []
    for i in range(150):  # enough for several threads' slices
        pub, sig, msg = make_case(i, MUTATIONS[i % len(MUTATIONS)], i * 7, bytes(i % 50))
        checks.append(SignatureCheck(pub, sig, msg))
    expected = [keys_verify_ecdsa(c.pubkey, c.signature, c.digest) for c in checks]
    assert any(expected) and not all(expected)
    for threads in (1, 2, 3):
        with BatchVerifier(threads, backend) as verifier:
            assert verifier.verify_batch(checks) == expected
            assert verifier.verify_batch([]) == []
    with pytest.raises(ValueError):
        BatchVerifier(0)


def test_batch_verifier_close_is_idempotent_and_reusable():
    verifier = BatchVerifier(2)
    checks = [SignatureCheck(*make_case(i, "valid", 0, b"")) for i in range(80)]
    assert all(verifier.verify_batch(checks))
    verifier.close()
    verifier.close()
    assert all(verifier.verify_batch(checks))  # a new pool on demand
    verifier.close()


# ------------------------------------------------------------------------------ schnorr
def schnorr_case(seed: int, mutation: str) -> tuple[bytes, bytes, bytes]:
    key = coincurve.PrivateKey(secret(seed))
    msg = hashlib.sha256(b"schnorr" + seed.to_bytes(8, "little")).digest()
    sig = key.sign_schnorr(msg, bytes(32))
    xonly = key.public_key_xonly.format()
    if mutation == "wrong_msg":
        msg = bytes(32)
    elif mutation == "flip":
        sig = bytes((sig[0] ^ 1,)) + sig[1:]
    elif mutation == "bad_key":
        xonly = off_curve_key(seed)[1:]
    elif mutation == "short":
        sig = sig[:63]
    return xonly, sig, msg


@pytest.mark.parametrize("mutation", ["valid", "wrong_msg", "flip", "bad_key", "short"])
def test_schnorr_backends_agree(mutation):
    for seed in range(5):
        xonly, sig, msg = schnorr_case(seed, mutation)
        reference = coincurve.PublicKeyXOnly(xonly).verify(sig, msg) if mutation in (
            "valid", "wrong_msg", "flip") else False
        assert PURE.verify_schnorr(xonly, sig, msg) == reference == (mutation == "valid")
        if sigcore.compiled_available():
            assert compiled().verify_schnorr(xonly, sig, msg) == reference
