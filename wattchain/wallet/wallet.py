"""The :class:`Wallet` facade: lifecycle, encryption, addresses and keys, balances and info.

Library API (the RPC layer maps Core's wallet methods onto these; amounts in base units)::

    w = Wallet.create(path, params, mnemonic=None)  # new (w.new_mnemonic) or restored
    w = Wallet.open(path, params)                   # reopen: same addresses, txs, lock state
    w.attach(chainstate)                            # catch up, then follow block events
    w.transaction_added(tx)                         # the node tells it about mempool txs
    w.get_new_address(), w.add_multisig_address(2, keys), w.import_privkey(wif), ...
    w.get_balances(), w.list_unspent(), w.list_transactions(), w.wallet_info()
    w.send_to_address(addr, amount, fee_rate) -> signed tx (caller submits it)
    w.wallet_create_funded_psbt(...), w.wallet_process_psbt(...), Wallet.finalize_psbt(...)
    w.encrypt(pw); w.unlock(pw, timeout, staking_only=False); w.lock()
    w.staking_keys()                                # for node.staker.Staker

Addresses and keys live in :mod:`.addresses`, chain following (and abandontransaction) in
:mod:`.tracking`, spending and PSBT calls in :mod:`.spending`. Like the chainstate, a wallet is
used from one thread (the node's executor); chain events arrive on that thread.
"""

from __future__ import annotations

import hmac
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from wattchain.consensus.params import ChainParams
from wattchain.core.tx import OutPoint
from wattchain.node.kvstore import Batch
from wattchain.rpc.txjson import amount_to_coins
from wattchain.script.address import AddressFormat
from wattchain.wallet import store
from wattchain.wallet.crypto import (ScryptParams, WrappedMasterKey, new_master_key, open_sealed,
                                     seal, unwrap_master_key, wrap_master_key)
from wattchain.wallet.errors import (InvalidParameter, UnlockNeeded, WalletError,
                                     WrongEncryptionState)
from wattchain.wallet.hd import ExtendedKey, account_path
from wattchain.wallet.keyring import CHANGE, DEFAULT_GAP_LIMIT, RECEIVE, KeyRing, ScriptInfo
from wattchain.wallet.addresses import Addresses
from wattchain.wallet.ledger import Ledger
from wattchain.wallet.mnemonic import generate_mnemonic, mnemonic_to_seed, validate_mnemonic
from wattchain.wallet.spending import Spending
from wattchain.wallet.staking import WalletStakingKeys
from wattchain.wallet.tracking import ChainTracking

WALLET_VERSION = 169900  # Core's FEATURE_LATEST for HD-split wallets (reported by getwalletinfo)
#: Core's cap on walletpassphrase timeouts (MAX_SLEEP_TIME, ~3 years).
MAX_UNLOCK_SECONDS = 100_000_000


class Wallet(Addresses, ChainTracking, Spending):
    """One wallet file (a LevelDB directory). Use :meth:`create` or :meth:`open`."""

    def __init__(self, db: store.WalletDB, params: ChainParams, meta: dict[str, Any], *,
                 clock: Callable[[], float], rng: random.Random) -> None:
        self.db = db
        self.params = params
        self.meta = meta
        self.keyring = KeyRing(params.name, int(meta.get("gap", DEFAULT_GAP_LIMIT)))
        self.ledger = Ledger(self.keyring, params)
        self.chainstate = None
        self.rng = rng
        self.locked_coins: set[OutPoint] = set()
        self.new_mnemonic: str | None = None
        self._clock = clock
        self._master_key: bytes | None = None
        self._unlocked_until: float = 0.0
        self._staking_only = False

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, path: str | Path, params: ChainParams, *, mnemonic: str | None = None,
               bip39_passphrase: str = "", words: int = 24, blank: bool = False,
               gap_limit: int = DEFAULT_GAP_LIMIT, birth_height: int | None = None,
               sync: bool = True,
               clock: Callable[[], float] = time.time,
               rng: random.Random | None = None) -> "Wallet":
        """A new wallet at ``path``: restored from ``mnemonic``, or from a fresh one (left in
        ``new_mnemonic`` for the caller to show once). ``blank`` makes a wallet without an HD
        seed (watch-only / imported keys only).

        ``birth_height`` is where the first :meth:`attach` starts reading the chain. Default:
        the genesis for a restored mnemonic (its coins may be anywhere), the chain tip for a
        fresh seed or a blank wallet (nothing older can pay keys that did not exist; imports
        rescan from the genesis themselves)."""
        db = store.WalletDB(path, sync=sync)
        try:
            if db.meta() is not None:
                raise WalletError(f"Wallet file {path} already exists.")
            meta: dict[str, Any] = {"network": params.name, "encrypted": False, "gap": gap_limit,
                                    "birth": (birth_height if birth_height is not None
                                              else 0 if mnemonic else None), "hd": None,
                                    "best": None}
            wallet = cls(db, params, meta, clock=clock, rng=rng or random.SystemRandom())
            batch = Batch()
            if not blank:
                generated = mnemonic is None
                words_text = generate_mnemonic(words) if generated else validate_mnemonic(
                    mnemonic)  # type: ignore[arg-type]
                seed = mnemonic_to_seed(words_text, bip39_passphrase)
                master = ExtendedKey.from_seed(seed)
                account = master.derive(account_path(params.name))
                wallet.keyring.set_hd(account, master.fingerprint)
                wallet.keyring.load_secrets(seed, {})
                meta["hd"] = {"xpub": account.neuter().serialize(), "fp": master.fingerprint}
                store.put_secret(batch, store.SECRET_SEED, seed, False)
                store.put_secret(batch, store.SECRET_MNEMONIC, words_text.encode(), False)
                for info in wallet.keyring.top_up():
                    store.put_script(batch, info.script_pubkey, info.to_record())
                if generated:
                    wallet.new_mnemonic = words_text
            wallet._write_state(batch)
            db.commit(batch)
            return wallet
        except BaseException:
            db.close()
            raise

    @classmethod
    def open(cls, path: str | Path, params: ChainParams, *, sync: bool = True,
             clock: Callable[[], float] = time.time,
             rng: random.Random | None = None) -> "Wallet":
        """Reopen a wallet; an encrypted wallet starts locked."""
        store.recover_rewrite(path)
        if not Path(path).exists():
            raise WalletError(f"Wallet file {path} not found.")
        db = store.WalletDB(path, sync=sync)
        try:
            meta = db.meta()
            if meta is None:
                raise WalletError(f"Wallet file {path} is not a wallet.")
            if meta["network"] != params.name:
                raise WalletError(f"wallet is for network {meta['network']!r}, "
                                  f"not {params.name!r}")
            wallet = cls(db, params, meta, clock=clock, rng=rng or random.SystemRandom())
            wallet._load()
            return wallet
        except BaseException:
            db.close()
            raise

    def _load(self) -> None:
        hd = self.meta.get("hd")
        if hd is not None:
            # The account xpub is stored as its 78-byte serialization (version bytes unused).
            raw = bytes(hd["xpub"])
            account = ExtendedKey(raw[4], raw[5:9], int.from_bytes(raw[9:13], "big"),
                                  raw[13:45], raw[45:])
            self.keyring.set_hd(account, bytes(hd["fp"]))
            self.keyring.hd.issued = list(hd.get("issued", [0, 0]))  # type: ignore[union-attr]
        for script, record in self.db.scripts():
            self.keyring.add_script(ScriptInfo.from_record(script, record))
        self.ledger.load(self.db.transactions())
        best = self.meta.get("best")
        if best is not None:
            self.ledger.tip_hash, self.ledger.tip_height = bytes(best[0]), int(best[1])
        if not self.meta.get("encrypted"):
            self._load_plain_secrets()

    def _load_plain_secrets(self) -> None:
        seed = None
        imported: dict[bytes, bytes] = {}
        for name, record in self.db.secrets():
            data = bytes(record["data"])
            if record["enc"]:
                if self._master_key is None:
                    raise UnlockNeeded()
                data = open_sealed(self._master_key, data, name)
            if name == store.SECRET_SEED:
                seed = data
            elif name.startswith(b"key:"):
                imported[name[4:]] = data
        self.keyring.load_secrets(seed, imported)
        if seed is not None and self.keyring.hd is not None:
            derived = ExtendedKey.from_seed(seed).derive(account_path(self.params.name))
            if not hmac.compare_digest(derived.key, self.keyring.hd.account.key):
                self.keyring.clear_secrets()
                raise WalletError("wallet seed does not match its account key (corrupt file)")

    def close(self) -> None:
        if self.chainstate is not None:
            self.chainstate.events.unsubscribe(self)
            self.chainstate = None
        self.keyring.clear_secrets()
        self._master_key = None
        self.db.close()

    def __enter__(self) -> "Wallet":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _now(self) -> int:
        return int(self._clock())

    def _write_state(self, batch: Batch) -> None:
        """Meta (HD counters, best block) into ``batch``; every state change goes with it."""
        hd = self.keyring.hd
        if hd is not None and self.meta.get("hd") is not None:
            self.meta["hd"] = {**self.meta["hd"], "issued": list(hd.issued)}
        tip = self.ledger.tip_hash
        self.meta["best"] = [tip, self.ledger.tip_height] if tip is not None else None
        store.put_meta(batch, self.meta)

    @property
    def fmt(self) -> AddressFormat:
        return self.params.address_format

    # ------------------------------------------------------------------ encryption
    @property
    def is_encrypted(self) -> bool:
        return bool(self.meta.get("encrypted"))

    def _expire(self) -> None:
        if self.is_encrypted and self._master_key is not None \
                and self._clock() >= self._unlocked_until:
            self.lock()

    @property
    def is_locked(self) -> bool:
        self._expire()
        return self.is_encrypted and self._master_key is None

    @property
    def can_stake(self) -> bool:
        return not self.is_locked and self.keyring.has_secrets

    def require_unlocked(self) -> None:
        """Raise Core's -13 unless private keys may be used for spending."""
        if self.is_locked or (self.is_encrypted and self._staking_only):
            raise UnlockNeeded()

    def encrypt(self, passphrase: str, scrypt_params: ScryptParams = ScryptParams()) -> None:
        """encryptwallet: seal the seed, mnemonic and imported keys; the wallet ends locked."""
        if self.is_encrypted:
            raise WrongEncryptionState(
                "Error: running with an encrypted wallet, but encryptwallet was called.")
        if not passphrase:
            raise InvalidParameter("passphrase cannot be empty")
        master = new_master_key()
        wrapped = wrap_master_key(master, passphrase, scrypt_params)
        batch = Batch()
        store.put_master_key(batch, wrapped.to_dict())
        for name, record in self.db.secrets():
            store.put_secret(batch, name, seal(master, bytes(record["data"]), name), True)
        self.meta["encrypted"] = True
        self._write_state(batch)
        self.db.commit(batch)
        self.db.rewrite()
        self.lock()

    def unlock(self, passphrase: str, timeout: int | None = None,
               staking_only: bool = False) -> None:
        """walletpassphrase: keys usable for ``timeout`` seconds (None: until lock()).
        ``staking_only`` allows staking but still refuses to sign spends (Qtum)."""
        if not self.is_encrypted:
            raise WrongEncryptionState(
                "Error: running with an unencrypted wallet, but walletpassphrase was called.")
        if timeout is not None and timeout < 0:
            raise InvalidParameter("Timeout cannot be negative.")
        record = self.db.master_key()
        assert record is not None
        master = unwrap_master_key(WrappedMasterKey.from_dict(record), passphrase)
        self._master_key = master
        try:
            self._load_plain_secrets()
        except BaseException:
            self._master_key = None
            self.keyring.clear_secrets()
            raise
        seconds = MAX_UNLOCK_SECONDS if timeout is None else min(timeout, MAX_UNLOCK_SECONDS)
        self._unlocked_until = self._clock() + seconds
        self._staking_only = staking_only

    def lock(self) -> None:
        """walletlock: forget the master key and every private key."""
        if not self.is_encrypted:
            raise WrongEncryptionState(
                "Error: running with an unencrypted wallet, but walletlock was called.")
        self._master_key = None
        self._unlocked_until = 0.0
        self._staking_only = False
        self.keyring.clear_secrets()

    def change_passphrase(self, old: str, new: str,
                          scrypt_params: ScryptParams = ScryptParams()) -> None:
        """walletpassphrasechange: rewrap the master key (secrets stay as they are)."""
        if not self.is_encrypted:
            raise WrongEncryptionState(
                "Error: running with an unencrypted wallet, but walletpassphrasechange was "
                "called.")
        record = self.db.master_key()
        assert record is not None
        master = unwrap_master_key(WrappedMasterKey.from_dict(record), old)
        batch = Batch()
        store.put_master_key(batch, wrap_master_key(master, new, scrypt_params).to_dict())
        self.db.commit(batch)

    def get_mnemonic(self) -> str:
        """The BIP39 words (for a backup); needs the wallet unlocked for spending."""
        self.require_unlocked()
        for name, record in self.db.secrets():
            if name == store.SECRET_MNEMONIC:
                data = bytes(record["data"])
                if record["enc"]:
                    assert self._master_key is not None
                    data = open_sealed(self._master_key, data, name)
                return data.decode()
        raise WalletError("This wallet has no HD seed")

    # ------------------------------------------------------------------ reports
    def get_balances(self) -> dict[str, dict[str, Any]]:
        return self.ledger.balances()

    def get_balance(self) -> Any:
        """getbalance: the trusted balance of spendable coins."""
        return self.ledger.balances()["mine"]["trusted"]

    def list_unspent(self, min_conf: int = 1, max_conf: int = 9_999_999) -> list[dict[str, Any]]:
        return self.ledger.unspent_rows(self.fmt, min_conf, max_conf, self.locked_coins)

    def list_transactions(self, count: int = 10, skip: int = 0) -> list[dict[str, Any]]:
        """listtransactions: the most recent ``count`` rows after skipping ``skip``, oldest
        first (Core's order)."""
        if count < 0 or skip < 0:
            raise InvalidParameter("Negative count" if count < 0 else "Negative from")
        rows = self.ledger.transaction_rows(self.fmt)
        end = len(rows) - skip
        return rows[max(0, end - count):max(0, end)]

    def lock_unspent(self, unlock: bool, outpoints: Iterable[OutPoint] = ()) -> bool:
        """lockunspent (in memory, as Core's default)."""
        points = list(outpoints)
        if unlock and not points:
            self.locked_coins.clear()
            return True
        for outpoint in points:
            if self.ledger.owned_output(outpoint) is None:
                raise InvalidParameter("Invalid parameter, unknown transaction")
            if unlock:
                self.locked_coins.discard(outpoint)
            else:
                self.locked_coins.add(outpoint)
        return True

    def list_lock_unspent(self) -> list[OutPoint]:
        return sorted(self.locked_coins, key=lambda o: (o.txid, o.index))

    def wallet_info(self, name: str = "") -> dict[str, Any]:
        """getwalletinfo (Core's fields, plus Qtum's ``stake``)."""
        balances = self.ledger.balances()["mine"]
        hd = self.keyring.hd
        info: dict[str, Any] = {
            "walletname": name, "walletversion": WALLET_VERSION, "format": "leveldb",
            "balance": balances["trusted"], "unconfirmed_balance": balances["untrusted_pending"],
            "immature_balance": balances["immature"], "stake": balances["stake"],
            "txcount": len(self.ledger.txs),
            "keypoolsize": (hd.derived[RECEIVE] - hd.issued[RECEIVE]) if hd else 0,
            "keypoolsize_hd_internal": (hd.derived[CHANGE] - hd.issued[CHANGE]) if hd else 0,
        }
        if self.is_encrypted:
            info["unlocked_until"] = 0 if self.is_locked else int(self._unlocked_until)
        info.update({"paytxfee": amount_to_coins(0),
                     "private_keys_enabled": hd is not None or any(
                         i.kind == "imported" for i in self.keyring.scripts.values()),
                     "avoid_reuse": False, "scanning": False, "descriptors": False,
                     "external_signer": False})
        if hd is not None:
            info["hdmasterfingerprint"] = hd.master_fingerprint.hex()
        return info

    def staking_keys(self) -> WalletStakingKeys:
        """The :class:`wattchain.node.coinstake.StakingKeys` view of this wallet."""
        return WalletStakingKeys(self)
