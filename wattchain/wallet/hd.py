"""BIP32 hierarchical deterministic keys, and the BIP84-style paths the wallet uses.

Written over coincurve (libsecp256k1) rather than a BIP32 package: the derivation itself is a
dozen lines of HMAC and scalar/point addition, and the packages on PyPI pin coincurve below the
version this project uses. Test vectors 1-3 of BIP32 are checked in tests/wallet/test_hd.py.

Paths (document of record): ``m/84'/coin'/0'/change/index`` with ``coin`` 0 on main and 1 on
test and regtest (SLIP-44's "testnet, all coins" convention, as Bitcoin Core's descriptor wallets
do); ``change`` 0 for receiving and 1 for change addresses.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import coincurve

from wattchain.core.hashes import hash160
from wattchain.core.keys import CURVE_ORDER
from wattchain.script.address import base58check_decode, base58check_encode
from wattchain.wallet.errors import KeyDerivationError

HARDENED = 0x80000000
#: BIP32 serialization versions: (private, public) for main and for test networks.
MAIN_VERSIONS = (0x0488ADE4, 0x0488B21E)
TEST_VERSIONS = (0x04358394, 0x043587CF)
BIP84_PURPOSE = 84


def coin_type(network: str) -> int:
    """SLIP-44 coin type used in the wallet's paths: 0 on main, 1 on every test network."""
    return 0 if network == "main" else 1


def versions_for(network: str) -> tuple[int, int]:
    return MAIN_VERSIONS if network == "main" else TEST_VERSIONS


def parse_path(path: str) -> list[int]:
    """``"m/84'/1'/0'/0/5"`` -> child numbers (``'`` or ``h`` marks hardened)."""
    parts = path.strip().split("/")
    if not parts or parts[0] != "m":
        raise KeyDerivationError(f"derivation path must start with 'm': {path!r}")
    out = []
    for part in parts[1:]:
        hardened = part.endswith(("'", "h", "H"))
        digits = part[:-1] if hardened else part
        if not digits.isdigit() or int(digits) >= HARDENED:
            raise KeyDerivationError(f"bad path element {part!r}")
        out.append(int(digits) + (HARDENED if hardened else 0))
    return out


def format_path(indexes: list[int] | tuple[int, ...]) -> str:
    return "/".join(["m"] + [f"{i - HARDENED}'" if i >= HARDENED else str(i) for i in indexes])


def account_path(network: str, account: int = 0) -> list[int]:
    return [BIP84_PURPOSE + HARDENED, coin_type(network) + HARDENED, account + HARDENED]


@dataclass(frozen=True)
class ExtendedKey:
    """An xprv (``secret`` set) or xpub; ``key`` is always the compressed public key."""

    depth: int
    parent_fingerprint: bytes
    child_number: int
    chain_code: bytes
    key: bytes
    secret: bytes | None = None

    @classmethod
    def from_seed(cls, seed: bytes) -> "ExtendedKey":
        if not 16 <= len(seed) <= 64:
            raise KeyDerivationError("BIP32 seeds are 16 to 64 bytes")
        digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
        secret, chain_code = digest[:32], digest[32:]
        if not 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
            raise KeyDerivationError("seed produces an invalid master key")
        return cls(0, bytes(4), 0, chain_code, _pubkey(secret), secret)

    @property
    def is_private(self) -> bool:
        return self.secret is not None

    @property
    def fingerprint(self) -> bytes:
        return hash160(self.key)[:4]

    def neuter(self) -> "ExtendedKey":
        return ExtendedKey(self.depth, self.parent_fingerprint, self.child_number,
                           self.chain_code, self.key)

    def child(self, index: int) -> "ExtendedKey":
        """CKDpriv for an xprv, CKDpub for an xpub (hardened children need the private key)."""
        if not 0 <= index <= 0xFFFFFFFF:
            raise KeyDerivationError(f"child index {index} out of range")
        if self.depth >= 255:
            raise KeyDerivationError("maximum derivation depth reached")
        if index >= HARDENED:
            if self.secret is None:
                raise KeyDerivationError("hardened derivation needs the private key")
            data = b"\x00" + self.secret + index.to_bytes(4, "big")
        else:
            data = self.key + index.to_bytes(4, "big")
        digest = hmac.new(self.chain_code, data, hashlib.sha512).digest()
        tweak, chain_code = digest[:32], digest[32:]
        tweak_int = int.from_bytes(tweak, "big")
        if tweak_int >= CURVE_ORDER:
            raise KeyDerivationError(f"child {index} is invalid; use the next index")
        if self.secret is not None:
            child_int = (tweak_int + int.from_bytes(self.secret, "big")) % CURVE_ORDER
            if child_int == 0:
                raise KeyDerivationError(f"child {index} is invalid; use the next index")
            secret = child_int.to_bytes(32, "big")
            return ExtendedKey(self.depth + 1, self.fingerprint, index, chain_code,
                               _pubkey(secret), secret)
        try:
            point = coincurve.PublicKey(self.key).add(tweak)
        except ValueError as exc:  # tweak * G + K at infinity
            raise KeyDerivationError(f"child {index} is invalid; use the next index") from exc
        return ExtendedKey(self.depth + 1, self.fingerprint, index, chain_code,
                           point.format(compressed=True))

    def derive(self, path: str | list[int] | tuple[int, ...]) -> "ExtendedKey":
        indexes = parse_path(path) if isinstance(path, str) else path
        key = self
        for index in indexes:
            key = key.child(index)
        return key

    # ------------------------------------------------------------------ serialization
    def serialize(self, versions: tuple[int, int] = MAIN_VERSIONS) -> bytes:
        version = versions[0] if self.secret is not None else versions[1]
        body = (b"\x00" + self.secret) if self.secret is not None else self.key
        return (version.to_bytes(4, "big") + bytes((self.depth,)) + self.parent_fingerprint
                + self.child_number.to_bytes(4, "big") + self.chain_code + body)

    def to_base58(self, versions: tuple[int, int] = MAIN_VERSIONS) -> str:
        return base58check_encode(self.serialize(versions))

    @classmethod
    def deserialize(cls, raw: bytes, versions: tuple[int, int] = MAIN_VERSIONS
                    ) -> "ExtendedKey":
        if len(raw) != 78:
            raise KeyDerivationError("an extended key is 78 bytes")
        version = int.from_bytes(raw[:4], "big")
        depth, fingerprint = raw[4], raw[5:9]
        child_number = int.from_bytes(raw[9:13], "big")
        chain_code, body = raw[13:45], raw[45:]
        if depth == 0 and (fingerprint != bytes(4) or child_number != 0):
            raise KeyDerivationError("master key with a parent fingerprint or index")
        if version == versions[0]:
            if body[0] != 0:
                raise KeyDerivationError("private extended key without its 0x00 prefix")
            secret = body[1:]
            if not 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
                raise KeyDerivationError("private key out of range")
            return cls(depth, fingerprint, child_number, chain_code, _pubkey(secret), secret)
        if version == versions[1]:
            try:
                coincurve.PublicKey(body)
            except ValueError as exc:
                raise KeyDerivationError("invalid public key in extended key") from exc
            if body[0] not in (2, 3):
                raise KeyDerivationError("extended public keys hold compressed keys")
            return cls(depth, fingerprint, child_number, chain_code, body)
        raise KeyDerivationError(f"unknown extended key version {version:08x}")

    @classmethod
    def from_base58(cls, text: str, versions: tuple[int, int] = MAIN_VERSIONS
                    ) -> "ExtendedKey":
        try:
            raw = base58check_decode(text)
        except ValueError as exc:
            raise KeyDerivationError(f"bad extended key encoding: {exc}") from exc
        return cls.deserialize(raw, versions)


def _pubkey(secret: bytes) -> bytes:
    return coincurve.PrivateKey(secret).public_key.format(compressed=True)
