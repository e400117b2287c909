"""Saving and reloading the mempool: round trip, restart, damage, expiry, re-validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattchain.consensus.params import ChainParams
from wattchain.node.chainstate import Chainstate
from wattchain.node.mempool import Mempool, MempoolPersistError

from .mempool_helpers import NO_RBF, NOW, Wallet, chainstate, make_pool, pool, wallet  # noqa: F401


def _fill(pool: Mempool, wallet: Wallet) -> list[bytes]:
    parent, child = wallet.chain(wallet.coin(), 2)
    pool.accept(parent, now=NOW - 50)
    pool.accept(child, now=NOW - 10)
    pool.accept(wallet.pay([wallet.coin()], 4000), now=NOW)
    return pool.txids()


def test_round_trip(pool: Mempool, wallet: Wallet, chainstate: Chainstate,
                    tmp_path: Path) -> None:
    txids = _fill(pool, wallet)
    path = tmp_path / "mempool.dat"
    pool.save(path)
    assert path.exists() and not (tmp_path / "mempool.dat.new").exists()
    fresh = make_pool(chainstate)
    assert fresh.load(path) == 3
    assert fresh.txids() == txids
    for txid in txids:
        old, new = pool.get_entry(txid), fresh.get_entry(txid)
        assert old is not None and new is not None
        assert (new.tx, new.fee, new.time, new.ancestor_count) == (
            old.tx, old.fee, old.time, old.ancestor_count)
    fresh.graph.check()


def test_survives_chainstate_restart(tmp_path: Path, params: ChainParams, wallet: Wallet) -> None:
    datadir = tmp_path / "restart"
    path = datadir / "mempool.dat"
    with Chainstate.open(datadir, params, sync=False) as cs:
        pool = make_pool(cs)
        txids = _fill(pool, wallet)
        pool.save(path)
    with Chainstate.open(datadir, params, sync=False) as cs:
        pool = make_pool(cs)
        assert pool.load(path) == 3
        assert pool.txids() == txids
        assert pool.info().total_fee == 1000 + 1000 + 4000


def test_reload_revalidates(pool: Mempool, wallet: Wallet, chainstate: Chainstate,
                            tmp_path: Path) -> None:
    coin = wallet.coin()
    pool.accept(wallet.pay([coin], 1000))
    pool.save(tmp_path / "m.dat")
    fresh = make_pool(chainstate)
    rival = wallet.pay([coin], 900, sequence=NO_RBF)
    fresh.accept(rival)
    assert fresh.load(tmp_path / "m.dat") == 0  # conflicts with a non-replaceable tx now
    assert fresh.txids() == [rival.txid]


def test_expired_entries_are_not_reloaded(pool: Mempool, wallet: Wallet,
                                          chainstate: Chainstate, tmp_path: Path) -> None:
    _fill(pool, wallet)
    pool.save(tmp_path / "m.dat")
    fresh = make_pool(chainstate)
    later = NOW - 10 + pool.policy.expiry_seconds  # the first (NOW - 50) has expired
    # The parent has expired, its child then lacks inputs; the third tx is still fresh.
    assert fresh.load(tmp_path / "m.dat", now=later) == 1
    assert fresh.txids() == [pool.txids()[2]] and len(fresh.orphans) == 0
    assert make_pool(chainstate).load(tmp_path / "m.dat", now=NOW) == 3


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "version"])
def test_damaged_file_refused_whole(pool: Mempool, wallet: Wallet, chainstate: Chainstate,
                                    tmp_path: Path, damage: str) -> None:
    _fill(pool, wallet)
    path = tmp_path / "m.dat"
    pool.save(path)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[40] ^= 1
    elif damage == "truncate":
        del data[-40:]
    elif damage == "garbage":
        data = bytearray(b"not a mempool file at all, clearly" * 3)
    else:
        import hashlib
        data[4] = 9
        data[-32:] = hashlib.sha256(bytes(data[:-32])).digest()
    path.write_bytes(bytes(data))
    fresh = make_pool(chainstate)
    with pytest.raises(MempoolPersistError):
        fresh.load(path)
    assert len(fresh) == 0


def test_missing_file_is_empty(pool: Mempool, tmp_path: Path) -> None:
    assert pool.load(tmp_path / "absent.dat") == 0
