"""Output-template classification (Core's Solver) and the template builders."""

from __future__ import annotations

import pytest

from wattchain.core.hashes import hash160, sha256
from wattchain.core.keys import public_key
from wattchain.script.opcodes import Op
from wattchain.script.script import push_data, push_int
from wattchain.script.standard import (TemplateError, TxOutType, cltv_locked, csv_locked,
                                       is_standard_script_pubkey, match_timelock, multisig,
                                       null_data, p2pk, p2pkh, p2sh, p2sh_of, p2wpkh, p2wsh,
                                       relative_blocks, relative_seconds, solve)

KEYS = [public_key((i + 1).to_bytes(32, "big")) for i in range(21)]
UNCOMPRESSED = public_key((7).to_bytes(32, "big"), compressed=False)
CHECKMULTISIG = bytes((Op.OP_CHECKMULTISIG,))


def test_pubkey():
    assert solve(p2pk(KEYS[0])) == (TxOutType.PUBKEY, [KEYS[0]])
    assert solve(p2pk(UNCOMPRESSED)) == (TxOutType.PUBKEY, [UNCOMPRESSED])
    hybrid = b"\x06" + UNCOMPRESSED[1:]  # Core's shape check accepts hybrid headers
    assert solve(push_data(hybrid) + b"\xac")[0] is TxOutType.PUBKEY


@pytest.mark.parametrize("bad_key", [
    b"\x05" + KEYS[0][1:],            # unknown header
    b"\x04" + KEYS[0][1:],            # uncompressed header, compressed length
    b"\x02" + UNCOMPRESSED[1:],       # compressed header, uncompressed length
    KEYS[0][:-1],                     # 32 bytes
    KEYS[0] + b"\x00",                # 34 bytes
])
def test_invalid_pubkey_shapes_are_nonstandard(bad_key):
    assert solve(push_data(bad_key) + b"\xac") == (TxOutType.NONSTANDARD, [])
    assert solve(push_int(1) + push_data(bad_key) + push_int(1) + CHECKMULTISIG)[0] \
        is TxOutType.NONSTANDARD
    with pytest.raises(TemplateError):
        p2pk(bad_key)


def test_hash_templates():
    h = hash160(KEYS[0])
    assert solve(p2pkh(h)) == (TxOutType.PUBKEYHASH, [h])
    assert solve(p2pkh(h) + b"\x61")[0] is TxOutType.NONSTANDARD
    assert solve(p2sh(h)) == (TxOutType.SCRIPTHASH, [h])
    assert solve(p2wpkh(h)) == (TxOutType.WITNESS_V0_KEYHASH, [h])
    script = multisig(1, KEYS[:2])
    assert solve(p2wsh(script)) == (TxOutType.WITNESS_V0_SCRIPTHASH, [sha256(script)])
    assert p2sh_of(script) == p2sh(hash160(script))
    for builder in (p2pkh, p2sh, p2wpkh):
        with pytest.raises(TemplateError):
            builder(h + b"\x00")
    # A P2PKH-like script with a PUSHDATA1-encoded hash is not the template.
    assert solve(b"\x76\xa9\x4c\x14" + h + b"\x88\xac")[0] is TxOutType.NONSTANDARD


def test_witness_programs():
    assert solve(b"\x51\x20" + bytes(32)) == (TxOutType.WITNESS_UNKNOWN, [b"\x01", bytes(32)])
    assert solve(b"\x60\x02\xab\xcd") == (TxOutType.WITNESS_UNKNOWN, [b"\x10", b"\xab\xcd"])
    assert solve(b"\x52\x28" + bytes(40))[0] is TxOutType.WITNESS_UNKNOWN
    # v0 with a length other than 20/32 is a witness program but no template.
    assert solve(b"\x00\x15" + bytes(21)) == (TxOutType.NONSTANDARD, [])
    # Too short / too long to be a witness program at all.
    assert solve(b"\x51\x01\x00")[0] is TxOutType.NONSTANDARD
    assert solve(b"\x51\x29" + bytes(41))[0] is TxOutType.NONSTANDARD


def test_null_data():
    assert solve(b"\x6a") == (TxOutType.NULL_DATA, [])
    assert solve(null_data(b"hello", b"", b"\x05" * 80)) == (TxOutType.NULL_DATA, [])
    assert solve(b"\x6a\x51\x60\x50")[0] is TxOutType.NULL_DATA  # small ints, OP_RESERVED
    assert solve(b"\x6a\x76")[0] is TxOutType.NONSTANDARD        # non-push after OP_RETURN
    assert solve(b"\x6a\x05ab")[0] is TxOutType.NONSTANDARD      # truncated push
    assert solve(b"")[0] is TxOutType.NONSTANDARD


@pytest.mark.parametrize("m,n", [(1, 1), (2, 3), (3, 3), (1, 16), (16, 16), (1, 17),
                                 (17, 20), (20, 20)])
def test_multisig_shapes(m, n):
    script = multisig(m, KEYS[:n])
    kind, solutions = solve(script)
    assert kind is TxOutType.MULTISIG
    assert solutions == [bytes([m]), *KEYS[:n], bytes([n])]
    if n > 16:  # counts above 16 are minimal pushes, e.g. 0x01 0x14 for 20
        assert script[-3:] == bytes((1, n, Op.OP_CHECKMULTISIG))


def test_multisig_mixed_key_encodings():
    kind, solutions = solve(multisig(2, [KEYS[0], UNCOMPRESSED]))
    assert kind is TxOutType.MULTISIG and solutions[2] == UNCOMPRESSED


def _raw_multisig(m: bytes, keys: list[bytes], n: bytes, tail: bytes = CHECKMULTISIG) -> bytes:
    return m + b"".join(push_data(k) for k in keys) + n + tail


@pytest.mark.parametrize("script", [
    _raw_multisig(push_int(3), KEYS[:2], push_int(2)),             # m > n
    _raw_multisig(b"\x00", KEYS[:2], push_int(2)),                 # m = 0
    _raw_multisig(push_int(1), KEYS[:2], push_int(3)),             # n != key count
    _raw_multisig(push_int(1), KEYS[:21], push_data(bytes([21]))),  # 21 keys
    _raw_multisig(b"\x4c\x01\x01", KEYS[:2], push_int(2)),         # non-minimal m
    _raw_multisig(push_int(1), KEYS[:2], b"\x01\x02"),             # non-minimal n
    _raw_multisig(push_int(1), KEYS[:2], push_int(2) + b"\x61"),   # extra op before CMS
    _raw_multisig(push_int(1), KEYS[:2], push_int(2),
                  bytes((Op.OP_CHECKMULTISIGVERIFY,))),
    _raw_multisig(push_int(1), KEYS[:2], push_int(2), CHECKMULTISIG + CHECKMULTISIG),
    _raw_multisig(push_int(1), [], push_int(0)),                   # no keys
    _raw_multisig(push_int(1), [KEYS[0], b"\x02" + bytes(31)], push_int(2)),  # short key
    CHECKMULTISIG,
])
def test_malformed_multisig_is_nonstandard(script):
    assert solve(script) == (TxOutType.NONSTANDARD, [])


def test_multisig_builder_limits():
    with pytest.raises(TemplateError):
        multisig(0, KEYS[:2])
    with pytest.raises(TemplateError):
        multisig(3, KEYS[:2])
    with pytest.raises(TemplateError):
        multisig(1, KEYS[:21])
    with pytest.raises(TemplateError):
        multisig(1, [])
    # The 520-byte P2SH push limit: 15 compressed keys fit, 16 do not.
    assert len(multisig(15, KEYS[:15])) <= 520 < len(multisig(16, KEYS[:16]))
    p2sh_of(multisig(15, KEYS[:15]))
    with pytest.raises(TemplateError):
        p2sh_of(multisig(16, KEYS[:16]))


def test_standardness_basics():
    assert is_standard_script_pubkey(p2pkh(bytes(20)))
    assert is_standard_script_pubkey(multisig(3, KEYS[:3]))
    assert not is_standard_script_pubkey(multisig(1, KEYS[:4]))
    assert not is_standard_script_pubkey(multisig(1, KEYS[:2]), permit_bare_multisig=False)
    assert not is_standard_script_pubkey(b"\x51")
    assert is_standard_script_pubkey(b"\x51\x20" + bytes(32))
    data83 = null_data(bytes(80))
    assert len(data83) == 83 and is_standard_script_pubkey(data83)
    data84 = null_data(bytes(81))
    assert not is_standard_script_pubkey(data84)
    assert is_standard_script_pubkey(data84, max_datacarrier_bytes=None)


@pytest.mark.parametrize("locktime", [0, 1, 16, 17, 500_000, 499_999_999, 500_000_000,
                                      0x7FFFFFFF, 0xFFFFFFFF])
def test_cltv_template(locktime):
    script = cltv_locked(locktime, KEYS[0])
    assert script.endswith(bytes((Op.OP_CHECKLOCKTIMEVERIFY, Op.OP_DROP)) + p2pk(KEYS[0]))
    assert solve(script)[0] is TxOutType.NONSTANDARD  # must be wrapped in P2SH/P2WSH
    match = match_timelock(script)
    assert match is not None
    assert (match.opcode, match.value, match.pubkey) == \
        (Op.OP_CHECKLOCKTIMEVERIFY, locktime, KEYS[0])


def test_csv_template():
    for value in (relative_blocks(0), relative_blocks(144), relative_blocks(0xFFFF),
                  relative_seconds(512 * 10)):
        match = match_timelock(csv_locked(value, KEYS[1]))
        assert match is not None
        assert (match.opcode, match.value) == (Op.OP_CHECKSEQUENCEVERIFY, value)
    assert relative_seconds(1) == (1 << 22) | 1
    assert relative_seconds(1024) == (1 << 22) | 2
    for bad in (-1, 1 << 31):
        with pytest.raises(TemplateError):
            csv_locked(bad, KEYS[0])
    with pytest.raises(TemplateError):
        relative_blocks(0x10000)
    with pytest.raises(TemplateError):
        cltv_locked(1 << 32, KEYS[0])


def test_match_timelock_rejects_near_misses():
    good = cltv_locked(1000, KEYS[0])
    assert match_timelock(good) is not None
    assert match_timelock(b"\x4c\x02\xe8\x03" + good[3:]) is None          # non-minimal push
    assert match_timelock(good[:-1] + b"\xad") is None                     # CHECKSIGVERIFY
    assert match_timelock(good.replace(b"\x75", b"\x6d", 1)) is None       # 2DROP
    assert match_timelock(push_int(-1) + good[3:]) is None                 # negative lock
    assert match_timelock(good + b"\x51") is None
    assert match_timelock(p2pk(KEYS[0])) is None
