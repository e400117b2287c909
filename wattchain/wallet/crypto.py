"""Encryption at rest: a random master key wrapped under a scrypt-derived key (AES-256-GCM).

Why two layers (as Core's CMasterKey): secrets are encrypted once under a random master key, and
only the 60-byte wrapped master key depends on the passphrase, so changing the passphrase
rewrites one record. Every ciphertext is bound to its record with AES-GCM associated data
(``aad``), so swapping two encrypted records on disk fails authentication instead of silently
exchanging keys. A wrong passphrase is detected by the GCM tag of the wrapped master key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from wattchain.wallet.errors import WalletError, WrongPassphrase

NONCE_BYTES = 12
KEY_BYTES = 32


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost; stored with the wallet so a later default change still opens old files.
    The default (N=2^15, r=8, p=1; 32 MiB, ~0.1 s) follows the scrypt paper's interactive
    setting; tests pass a cheaper one."""

    n: int = 1 << 15
    r: int = 8
    p: int = 1

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        return Scrypt(salt=salt, length=KEY_BYTES, n=self.n, r=self.r, p=self.p).derive(
            passphrase.encode("utf-8"))


@dataclass(frozen=True)
class WrappedMasterKey:
    """The master key encrypted under the passphrase (what the DB stores)."""

    salt: bytes
    params: ScryptParams
    ciphertext: bytes  # nonce || AES-GCM(master key)

    def to_dict(self) -> dict[str, object]:
        return {"salt": self.salt, "n": self.params.n, "r": self.params.r, "p": self.params.p,
                "ct": self.ciphertext}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "WrappedMasterKey":
        return cls(bytes(data["salt"]),  # type: ignore[arg-type]
                   ScryptParams(int(data["n"]), int(data["r"]),  # type: ignore[arg-type]
                                int(data["p"])),  # type: ignore[arg-type]
                   bytes(data["ct"]))  # type: ignore[arg-type]


_WRAP_AAD = b"wattchain-wallet-master-key"


def new_master_key() -> bytes:
    return os.urandom(KEY_BYTES)


def wrap_master_key(master_key: bytes, passphrase: str, params: ScryptParams
                    ) -> WrappedMasterKey:
    if not passphrase:
        raise WalletError("passphrase cannot be empty")
    salt = os.urandom(16)
    return WrappedMasterKey(salt, params, seal(params.derive(passphrase, salt), master_key,
                                              _WRAP_AAD))


def unwrap_master_key(wrapped: WrappedMasterKey, passphrase: str) -> bytes:
    """The master key, or WrongPassphrase (the GCM tag check is the comparison, and it is
    constant time inside OpenSSL)."""
    key = wrapped.params.derive(passphrase, wrapped.salt)
    try:
        return open_sealed(key, wrapped.ciphertext, _WRAP_AAD)
    except WalletError:
        raise WrongPassphrase() from None


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + 16:
        raise WalletError("encrypted record is truncated")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise WalletError("encrypted record failed authentication (corrupt or moved)") from None
