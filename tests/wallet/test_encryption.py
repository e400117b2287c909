"""Encryption at rest: round trip, wrong passphrase, locked wallets refuse to sign, staking-only
unlock, timeouts, restart, and what is (not) on disk in the clear."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from wattchain.core.tx import COIN
from wattchain.node.chaingen import make_keys
from wattchain.script.address import encode_wif, script_from_address
from wattchain.wallet.crypto import (ScryptParams, open_sealed, seal, unwrap_master_key,
                                     wrap_master_key)
from wattchain.wallet.errors import (UnlockNeeded, WalletError, WrongEncryptionState,
                                     WrongPassphrase)
from wattchain.wallet.hd import ExtendedKey
from wattchain.wallet.mnemonic import mnemonic_to_seed
from wattchain.wallet.wallet import Wallet

from .helpers import FAST_SCRYPT, MNEMONIC_A, Chain, open_wallet


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_crypto_round_trip_and_wrong_passphrase() -> None:
    master = bytes(range(32))
    wrapped = wrap_master_key(master, "correct horse", FAST_SCRYPT)
    assert unwrap_master_key(wrapped, "correct horse") == master
    with pytest.raises(WrongPassphrase) as err:
        unwrap_master_key(wrapped, "wrong horse")
    assert err.value.rpc_code == -14
    sealed = seal(master, b"secret", b"slot-1")
    assert open_sealed(master, sealed, b"slot-1") == b"secret"
    with pytest.raises(WalletError, match="authentication"):
        open_sealed(master, sealed, b"slot-2")  # moved to another record
    with pytest.raises(WalletError, match="authentication"):
        open_sealed(master, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"slot-1")


def test_encrypt_lock_unlock_and_sign(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    clock = Clock()
    wallet = Wallet.create(tmp_path / "w", chain.params, mnemonic=MNEMONIC_A, sync=False,
                           clock=clock, rng=random.Random(3))
    wallet.attach(chain.cs)
    address = wallet.get_new_address()
    chain.mine([chain.payment(script_from_address(address, wallet.fmt), 2 * COIN)])
    with pytest.raises(WrongEncryptionState):
        wallet.unlock("pw", 60)
    wallet.encrypt("pw", FAST_SCRYPT)
    assert wallet.is_locked and wallet.wallet_info()["unlocked_until"] == 0
    # Locked: addresses still come, signing and key export do not.
    assert wallet.get_new_address()
    with pytest.raises(UnlockNeeded) as err:
        wallet.send_to_address(address, COIN, 1000)
    assert err.value.rpc_code == -13
    assert str(err.value) == ("Error: Please enter the wallet passphrase with walletpassphrase "
                              "first.")
    with pytest.raises(UnlockNeeded):
        wallet.dump_privkey(address)
    funded = wallet.wallet_create_funded_psbt({address: COIN}, 1000)  # no keys needed
    with pytest.raises(UnlockNeeded):
        wallet.wallet_process_psbt(funded["psbt"])
    assert not wallet.wallet_process_psbt(funded["psbt"], sign=False)["complete"]
    with pytest.raises(UnlockNeeded):
        wallet.import_privkey(encode_wif(bytes(31) + b"\x07", wallet.fmt))
    with pytest.raises(WrongPassphrase):
        wallet.unlock("PW", 60)
    assert wallet.is_locked
    with pytest.raises(WrongEncryptionState):
        wallet.encrypt("again", FAST_SCRYPT)

    wallet.unlock("pw", 60)
    assert wallet.wallet_info()["unlocked_until"] == int(clock.now) + 60
    assert wallet.wallet_process_psbt(funded["psbt"])["complete"]
    imported = wallet.import_privkey(encode_wif(bytes(31) + b"\x07", wallet.fmt))
    wif = wallet.dump_privkey(address)
    tx = wallet.send_to_address(address, COIN, 1000)
    assert tx.inputs[0].witness  # signed
    clock.now += 61  # the timeout relocks it
    assert wallet.is_locked
    with pytest.raises(UnlockNeeded):
        wallet.dump_privkey(address)

    # Staking-only unlock: the staker gets keys, spending is still refused.
    wallet.unlock("pw", None, staking_only=True)
    staking = wallet.staking_keys()
    script = script_from_address(address, wallet.fmt)
    assert script in staking.staking_scripts()
    block_key = staking.block_key_for_script(script)
    assert block_key is not None and encode_wif(block_key.secret, wallet.fmt) == wif
    with pytest.raises(UnlockNeeded):
        wallet.send_to_address(address, COIN // 2, 1000)
    wallet.lock()
    assert staking.staking_scripts() == set()
    assert staking.block_key_for_script(script) is None

    # Passphrase change keeps the secrets.
    wallet.change_passphrase("pw", "new pw", FAST_SCRYPT)
    with pytest.raises(WrongPassphrase):
        wallet.unlock("pw", 10)
    wallet.unlock("new pw", 10)
    assert wallet.dump_privkey(address) == wif
    assert wallet.get_mnemonic() == MNEMONIC_A
    wallet.close()

    # Restart: encrypted and locked; the seed is not on disk in the clear.
    seed = mnemonic_to_seed(MNEMONIC_A)
    for path in (tmp_path / "w").iterdir():
        if path.is_file():
            content = path.read_bytes()
            assert seed not in content and MNEMONIC_A.encode() not in content
    reopened = Wallet.open(tmp_path / "w", chain.params, sync=False, clock=clock)
    assert reopened.is_locked and reopened.is_encrypted
    with pytest.raises(UnlockNeeded):
        reopened.dump_privkey(address)
    reopened.unlock("new pw", 10)
    assert reopened.dump_privkey(address) == wif
    # The key imported while encrypted was stored sealed and opens with the new passphrase.
    assert reopened.dump_privkey(imported) == encode_wif(bytes(31) + b"\x07", wallet.fmt)
    reopened.close()
    chain.close()


def test_import_dump_private_keys_and_watch_only(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    wallet = open_wallet(tmp_path / "w", chain)
    key = make_keys(1, seed=99)[0]
    wif = encode_wif(key.secret, chain.params.address_format)
    address = wallet.import_privkey(wif, label="imported")
    assert wallet.dump_privkey(address) == wif
    info = wallet.get_address_info(address)
    assert info["ismine"] and info["labels"] == ["imported"]
    with pytest.raises(WalletError) as err:
        wallet.import_privkey("notawif")
    assert err.value.rpc_code == -5
    watch = chain.keys[1].script_pubkey
    from wattchain.script.address import address_from_script
    watch_address = address_from_script(watch, wallet.fmt)
    wallet.import_address(watch_address, "cold")
    info = wallet.get_address_info(watch_address)
    assert info["iswatchonly"] and not info["ismine"]
    wallet.attach(chain.cs)
    assert wallet.get_balances()["watchonly"]["immature"] == 0
    assert wallet.get_balances()["watchonly"]["trusted"] > 0  # key 1's premine
    with pytest.raises(WalletError, match="not known"):
        wallet.dump_privkey(watch_address)
    # Encrypting covers imported keys too; they survive a restart.
    wallet.encrypt("pw", FAST_SCRYPT)
    wallet.close()
    reopened = Wallet.open(tmp_path / "w", chain.params, sync=False)
    reopened.unlock("pw", 30)
    assert reopened.dump_privkey(address) == wif
    assert reopened.get_address_info(watch_address)["iswatchonly"]
    reopened.close()
    chain.close()


def test_seed_xpub_mismatch_is_detected(tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    wallet = open_wallet(tmp_path / "w", chain)
    other = ExtendedKey.from_seed(bytes(32)).derive("m/84'/1'/0'")
    wallet.meta["hd"]["xpub"] = other.neuter().serialize()
    from wattchain.node.kvstore import Batch
    from wattchain.wallet import store
    batch = Batch()
    store.put_meta(batch, wallet.meta)
    wallet.db.commit(batch)
    wallet.close()
    with pytest.raises(WalletError, match="does not match"):
        Wallet.open(tmp_path / "w", chain.params, sync=False)
    chain.close()


def test_default_scrypt_cost_is_interactive() -> None:
    assert ScryptParams() == ScryptParams(1 << 15, 8, 1)
