"""What the wallet owns: HD chains (with a gap-limit lookahead), imported keys, multisig and
watch-only scripts — and the :class:`~wattchain.script.sign.SigningProvider` over them.

Public material (account xpub, derived public keys, scripts) is always in memory, so a locked
wallet still recognises its coins and hands out addresses. Private material (the BIP39 seed
and imported keys) is present only while the wallet is unencrypted or unlocked; the
:class:`~wattchain.wallet.wallet.Wallet` decides when, this class only holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wattchain.core.hashes import hash160, sha256
from wattchain.script.standard import (TxOutType, is_compressed_pubkey, multisig, p2pkh, p2wpkh,
                                       p2wsh, solve)
from wattchain.wallet.hd import HARDENED, ExtendedKey, account_path

RECEIVE, CHANGE = 0, 1
DEFAULT_GAP_LIMIT = 20


@dataclass(frozen=True)
class ScriptInfo:
    """One output script the wallet follows, and how it relates to our keys.

    ``kind``: ``hd`` (derived P2WPKH), ``imported`` (an imported private key's script),
    ``multisig`` (a P2WSH m-of-n we know the witness script of) or ``watchonly``.
    """

    script_pubkey: bytes
    kind: str
    pubkey: bytes | None = None
    path: tuple[int, int] | None = None
    witness_script: bytes | None = None
    label: str = ""

    def to_record(self) -> dict[str, object]:
        return {"kind": self.kind, "pubkey": self.pubkey,
                "path": list(self.path) if self.path else None,
                "ws": self.witness_script, "label": self.label}

    @classmethod
    def from_record(cls, script: bytes, record: dict[str, object]) -> "ScriptInfo":
        path = record.get("path")
        return cls(script, str(record["kind"]), record.get("pubkey"),  # type: ignore[arg-type]
                   tuple(path) if path else None,  # type: ignore[arg-type]
                   record.get("ws"), str(record.get("label", "")))  # type: ignore[arg-type]


@dataclass
class HDState:
    """The account xpub and, per chain (receive, change), how many addresses were handed out
    (``issued``) and how far the lookahead reaches (``derived``)."""

    account: ExtendedKey
    master_fingerprint: bytes
    issued: list[int] = field(default_factory=lambda: [0, 0])
    derived: list[int] = field(default_factory=lambda: [0, 0])


class KeyRing:
    """Scripts, public keys and (when available) private keys of one wallet."""

    def __init__(self, network: str, gap_limit: int = DEFAULT_GAP_LIMIT) -> None:
        self.network = network
        self.gap_limit = gap_limit
        self.hd: HDState | None = None
        self.scripts: dict[bytes, ScriptInfo] = {}
        self._pubkeys: dict[bytes, bytes] = {}          # hash160 -> pubkey
        self._hd_paths: dict[bytes, tuple[int, int]] = {}  # pubkey -> (chain, index)
        self._imported: set[bytes] = set()              # pubkeys of imported keys
        self._witness_scripts: dict[bytes, bytes] = {}  # sha256 / hash160 -> script
        # Private material (None / empty while locked).
        self._master: ExtendedKey | None = None
        self._imported_secrets: dict[bytes, bytes] = {}
        self._derived_secrets: dict[bytes, bytes] = {}

    # ------------------------------------------------------------------ public material
    def set_hd(self, account: ExtendedKey, master_fingerprint: bytes) -> None:
        self.hd = HDState(account.neuter(), master_fingerprint)

    def add_script(self, info: ScriptInfo) -> None:
        """Register (or relabel) a script and the keys/scripts it reveals."""
        self.scripts[info.script_pubkey] = info
        if info.pubkey is not None:
            self._pubkeys[hash160(info.pubkey)] = info.pubkey
            if info.kind == "hd" and info.path is not None:
                self._hd_paths[info.pubkey] = info.path
                if self.hd is not None:
                    chain, index = info.path
                    self.hd.derived[chain] = max(self.hd.derived[chain], index + 1)
            elif info.kind == "imported":
                self._imported.add(info.pubkey)
        if info.witness_script is not None:
            self._witness_scripts[sha256(info.witness_script)] = info.witness_script
            self._witness_scripts[hash160(info.witness_script)] = info.witness_script
            kind, solutions = solve(info.witness_script)
            if kind is TxOutType.MULTISIG:
                for pubkey in solutions[1:-1]:
                    self._pubkeys.setdefault(hash160(pubkey), pubkey)

    def derive_hd(self, chain: int, index: int) -> ScriptInfo:
        """The P2WPKH script of ``account/chain/index`` (public derivation only)."""
        assert self.hd is not None
        pubkey = self.hd.account.child(chain).child(index).key
        return ScriptInfo(p2wpkh(hash160(pubkey)), "hd", pubkey, (chain, index))

    def top_up(self) -> list[ScriptInfo]:
        """Derive scripts until ``gap_limit`` unused ones exist past the last issued or used
        index of each chain; returns the new ones (the caller persists them)."""
        if self.hd is None:
            return []
        new = []
        for chain in (RECEIVE, CHANGE):
            while self.hd.derived[chain] < self.hd.issued[chain] + self.gap_limit:
                info = self.derive_hd(chain, self.hd.derived[chain])
                self.add_script(info)
                new.append(info)
        return new

    def mark_used(self, script: bytes) -> bool:
        """Note that ``script`` received coins: an HD index past the issued ones moves the
        issued counter (so it is never handed out again). True if the counter moved."""
        info = self.scripts.get(script)
        if self.hd is None or info is None or info.kind != "hd" or info.path is None:
            return False
        chain, index = info.path
        if index >= self.hd.issued[chain]:
            self.hd.issued[chain] = index + 1
            return True
        return False

    def next_hd(self, chain: int) -> ScriptInfo:
        """Hand out the next unused address of ``chain`` (advances the issued counter)."""
        assert self.hd is not None
        index = self.hd.issued[chain]
        self.hd.issued[chain] = index + 1
        info = self.scripts.get(self.derive_hd(chain, index).script_pubkey)
        if info is None:
            info = self.derive_hd(chain, index)
            self.add_script(info)
        return info

    def is_hd_pubkey(self, pubkey: bytes) -> bool:
        return pubkey in self._hd_paths

    def key_origin(self, pubkey: bytes) -> tuple[bytes, list[int]] | None:
        """(master fingerprint, full path) of an HD public key, for PSBT bip32 derivations."""
        path = self._hd_paths.get(pubkey)
        if path is None or self.hd is None:
            return None
        return self.hd.master_fingerprint, [*account_path(self.network), path[0], path[1]]

    def owns_key(self, pubkey: bytes) -> bool:
        return pubkey in self._hd_paths or pubkey in self._imported

    def is_spendable(self, script: bytes) -> bool:
        """Can the wallet sign for ``script`` alone (given its private keys)?"""
        info = self.scripts.get(script)
        if info is None or info.kind == "watchonly":
            return False
        if info.kind == "multisig":
            assert info.witness_script is not None
            _, solutions = solve(info.witness_script)
            required = solutions[0][0]
            return sum(self.owns_key(k) for k in solutions[1:-1]) >= required
        return True

    def is_solvable(self, script: bytes) -> bool:
        info = self.scripts.get(script)
        return info is not None and info.kind != "watchonly"

    def pubkey_for_address_key(self, key_hash: bytes) -> bytes | None:
        return self._pubkeys.get(key_hash)

    # ------------------------------------------------------------------ private material
    def load_secrets(self, seed: bytes | None, imported: dict[bytes, bytes]) -> None:
        self._master = ExtendedKey.from_seed(seed) if seed is not None else None
        self._imported_secrets = dict(imported)
        self._derived_secrets = {}

    def add_secret(self, pubkey: bytes, secret: bytes) -> None:
        """An imported key's private key (the wallet is unlocked or unencrypted)."""
        self._imported_secrets[pubkey] = secret

    def clear_secrets(self) -> None:
        self._master = None
        self._imported_secrets = {}
        self._derived_secrets = {}

    @property
    def has_secrets(self) -> bool:
        return self._master is not None or bool(self._imported_secrets)

    # SigningProvider -------------------------------------------------------------
    def private_key_for(self, pubkey: bytes) -> bytes | None:
        secret = self._imported_secrets.get(pubkey) or self._derived_secrets.get(pubkey)
        if secret is not None:
            return secret
        path = self._hd_paths.get(pubkey)
        if path is None or self._master is None:
            return None
        key = self._master.derive([*account_path(self.network), path[0], path[1]])
        if key.key != pubkey:  # a seed that does not match the stored xpub
            return None
        self._derived_secrets[pubkey] = key.secret  # type: ignore[assignment]
        return key.secret

    def pubkey_for_hash(self, key_hash: bytes) -> bytes | None:
        return self._pubkeys.get(key_hash)

    def script_for_hash(self, script_hash: bytes) -> bytes | None:
        return self._witness_scripts.get(script_hash)


def imported_key_scripts(pubkey: bytes) -> list[bytes]:
    """Scripts an imported key is followed under: P2WPKH (compressed keys) and P2PKH."""
    scripts = [p2pkh(hash160(pubkey))]
    if is_compressed_pubkey(pubkey):
        scripts.insert(0, p2wpkh(hash160(pubkey)))
    return scripts


def multisig_script(required: int, pubkeys: list[bytes], sort: bool = False) -> bytes:
    """The m-of-n witness script, keys in the given order (Core's addmultisigaddress) or
    sorted (BIP67, as ``sortedmulti``)."""
    keys = sorted(pubkeys) if sort else list(pubkeys)
    return multisig(required, keys)


def p2wsh_of(witness_script: bytes) -> bytes:
    return p2wsh(witness_script)


__all__ = ["CHANGE", "DEFAULT_GAP_LIMIT", "HARDENED", "KeyRing", "RECEIVE", "ScriptInfo",
           "imported_key_scripts", "multisig_script", "p2wsh_of"]
