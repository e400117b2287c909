"""The pure Proof-of-Stake rules: kernel, modifier, retarget, block signatures, stake checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wattchain.consensus.context import ListChainContext
from wattchain.consensus.errors import BlockValidationError
from wattchain.consensus.params import regtest_params
from wattchain.consensus.pos import (MAX_SPACING_FACTOR, StakeCoin, StakeKernel,
                                     block_signer_matches, check_proof_of_stake,
                                     kernel_meets_target, next_stake_modifier, next_target_bits,
                                     sign_block_header)
from wattchain.consensus.target import bits_to_target, target_to_bits
from wattchain.core.hashes import hash160, sha256, sha256d
from wattchain.core.header import StakeBlockHeader
from wattchain.core.keys import CURVE_ORDER, public_key
from wattchain.core.tx import COIN, OutPoint, TxOut
from wattchain.script.standard import multisig, p2pk, p2pkh, p2wpkh, p2wsh

SECRET = sha256(b"pos rules key")
PUB = public_key(SECRET)
PUB_UNCOMPRESSED = public_key(SECRET, compressed=False)
PREVOUT = OutPoint(sha256d(b"staked tx"), 3)


def test_kernel_layout_and_determinism() -> None:
    kernel = StakeKernel(bytes(range(32)), 0x01020304, PREVOUT, 0x0A0B0C0D)
    raw = kernel.serialize()
    assert len(raw) == 32 + 4 + 32 + 4 + 4
    assert raw[32:36] == bytes((4, 3, 2, 1)) and raw[68:72] == (3).to_bytes(4, "little")
    assert raw[72:] == bytes((0x0D, 0x0C, 0x0B, 0x0A))
    assert kernel.hash == sha256d(raw) == StakeKernel(bytes(range(32)), 0x01020304, PREVOUT,
                                                      0x0A0B0C0D).hash
    # every field moves the hash
    variants = {replace(kernel, stake_modifier=bytes(32)).hash,
                replace(kernel, coin_block_time=0).hash,
                replace(kernel, prevout=OutPoint(PREVOUT.txid, 4)).hash,
                replace(kernel, block_time=0x0A0B0C0E).hash, kernel.hash}
    assert len(variants) == 5


def test_kernel_target_edges() -> None:
    bits = 0x1D00FFFF
    target = bits_to_target(bits)
    value = 7 * COIN
    at_edge = (target * value + value - 1).to_bytes(32, "little")  # // value == target
    over = (target * value + value).to_bytes(32, "little")
    assert kernel_meets_target(at_edge, bits, value)
    assert not kernel_meets_target(over, bits, value)
    assert kernel_meets_target(bytes(32), bits, 1)
    assert not kernel_meets_target(bytes(32), bits, 0)       # nothing staked never wins
    assert not kernel_meets_target(bytes(32), bits, -5)
    assert not kernel_meets_target(bytes(32), 0x01FEDCBA, value)  # negative compact target
    assert not kernel_meets_target(bytes(32), 0xFF123456, value)  # overflowing target
    # at pos_limit any stake of 2**21 base units (0.02 coin) or more always wins on regtest
    params = regtest_params()
    assert kernel_meets_target(b"\xff" * 32, params.genesis_bits, 1 << 21)
    assert not kernel_meets_target(b"\xff" * 32, params.genesis_bits, 1 << 19)


def test_stake_modifier_chain() -> None:
    first = next_stake_modifier(bytes(32), PREVOUT.txid)
    assert first == sha256d(PREVOUT.txid + bytes(32))
    assert next_stake_modifier(first, PREVOUT.txid) != first


def _ctx(times: list[int], bits: int) -> ListChainContext:
    return ListChainContext(tuple(times), sha256d(b"p"), bits)


def test_retarget_direction_and_bounds() -> None:
    params = regtest_params()
    spacing = params.target_spacing
    n = params.retarget_timespan // spacing
    start = target_to_bits(params.pos_limit >> 20)
    old = bits_to_target(start)
    base = [params.genesis_time, params.genesis_time + 1000]
    assert next_target_bits(_ctx(base, start), params) == params.genesis_bits  # height < 2
    on_time = next_target_bits(_ctx(base + [base[-1] + spacing], start), params)
    assert on_time == start
    fast = bits_to_target(next_target_bits(_ctx(base + [base[-1] + 1], start), params))
    assert fast == target_to_bits_round(old * ((n - 1) * spacing + 2) // ((n + 1) * spacing))
    assert fast < old
    slow = bits_to_target(next_target_bits(_ctx(base + [base[-1] + 3 * spacing], start), params))
    assert slow > old
    # a negative gap counts as one spacing; a huge gap as MAX_SPACING_FACTOR spacings
    assert next_target_bits(_ctx(base + [base[-1] - 50], start), params) == start
    capped = next_target_bits(_ctx(base + [base[-1] + MAX_SPACING_FACTOR * spacing], start),
                              params)
    assert next_target_bits(_ctx(base + [base[-1] + 10**6], start), params) == capped
    # never easier than pos_limit
    at_limit = _ctx(base + [base[-1] + 10**6], params.genesis_bits)
    assert next_target_bits(at_limit, params) == params.genesis_bits


def target_to_bits_round(target: int) -> int:
    return bits_to_target(target_to_bits(target))


def _header(time: int = 1_800_000_000, bits: int | None = None) -> StakeBlockHeader:
    params = regtest_params()
    return StakeBlockHeader(4, sha256d(b"parent"), sha256d(b"root"), time,
                            params.genesis_bits if bits is None else bits,
                            prevout_stake=PREVOUT)


@pytest.mark.parametrize("script", [p2wpkh(hash160(PUB)), p2pkh(hash160(PUB)), p2pk(PUB)])
def test_block_signature_by_the_staked_key(script: bytes) -> None:
    header = sign_block_header(_header(), SECRET)
    assert header.hash == _header().hash  # the id does not cover the signature
    assert block_signer_matches(header, script)
    other = sign_block_header(_header(), sha256(b"someone else"))
    assert not block_signer_matches(other, script)


def test_block_signature_edge_cases() -> None:
    header = sign_block_header(_header(), SECRET)
    sig = header.block_signature
    script = p2wpkh(hash160(PUB))
    assert not block_signer_matches(header.with_signature(b""), script)
    assert not block_signer_matches(header.with_signature(sig[:64]), script)
    assert not block_signer_matches(header.with_signature(bytes([99]) + sig[1:]), script)
    # the high-S twin recovers the same key but is refused (one signature per key and block)
    s = int.from_bytes(sig[33:], "big")
    twin_header = bytes([((sig[0] - 27) ^ 1) + 27])
    twin = twin_header + sig[1:33] + (CURVE_ORDER - s).to_bytes(32, "big")
    assert not block_signer_matches(header.with_signature(twin), script)
    # an uncompressed key may sign for P2PKH of its uncompressed hash, never for P2WPKH
    loose = sign_block_header(_header(), SECRET, compressed=False)
    assert block_signer_matches(loose, p2pkh(hash160(PUB_UNCOMPRESSED)))
    assert block_signer_matches(loose, p2pk(PUB_UNCOMPRESSED))
    assert not block_signer_matches(loose, p2wpkh(hash160(PUB_UNCOMPRESSED)))
    assert not block_signer_matches(header, p2wsh(multisig(1, [PUB])))


def _check(header: StakeBlockHeader, coin: StakeCoin | None, parent_height: int = 50,
           params=None) -> str:
    params = params or regtest_params()
    times = tuple(header.time - 100 + i for i in range(parent_height + 1))
    ctx = ListChainContext(times[-(parent_height + 1):], sha256d(b"parent"), header.bits)
    try:
        check_proof_of_stake(header, ctx, coin, params)
    except BlockValidationError as exc:
        return exc.reason
    return "ok"


def test_check_proof_of_stake_reasons() -> None:
    params = regtest_params()
    script = p2wpkh(hash160(PUB))
    header = sign_block_header(_header(), SECRET)
    coin = StakeCoin(TxOut(10 * COIN, script), height=10, block_time=header.time - 500)
    assert _check(header, coin) == "ok"
    assert _check(header, None) == "stake-prevout-not-found"
    young = replace(coin, height=51 - params.stake_min_depth + 1)
    assert _check(header, young) == "stake-immature"
    assert _check(header, replace(young, height=51 - params.stake_min_depth)) == "ok"
    assert _check(header, replace(coin, block_time=header.time + 1)) == "bad-stake-time-coin"
    hard = sign_block_header(_header(bits=0x03000001), SECRET)  # target 1
    assert _check(hard, coin) == "bad-stake-kernel"
    multisig_coin = replace(coin, output=TxOut(10 * COIN, p2wsh(multisig(1, [PUB]))))
    assert _check(header, multisig_coin) == "bad-stake-script"
    stranger = StakeCoin(TxOut(10 * COIN, p2wpkh(hash160(public_key(sha256(b"x"))))), 10,
                         header.time - 500)
    assert _check(header, stranger) == "bad-blk-signature"
    unsigned = _header()
    assert _check(unsigned, coin) == "bad-blk-signature"
    genesis_like = replace(header, prevout_stake=OutPoint.null())
    assert _check(genesis_like, coin) == "bad-blk-not-pos"
