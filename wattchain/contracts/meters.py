"""MeterRegistry: smart meters and charging stations certified by m-of-n grid operators.

Created with ``{"operators": [33-byte compressed keys], "threshold": m}`` (1 <= m <= n <= 15).
Every governed operation carries ``nonce`` (must equal the registry's next nonce, so each
signed operation runs at most once and in order) and ``signatures``: a list of
``[operator index, DER signature]`` pairs with strictly increasing indices, at least ``m`` of
them, each valid for its operator over :func:`operation_digest`.

Operations: ``certify(meter_pubkey, owner, kind, nonce, signatures)`` (kind "meter" or
"station"; re-certifying a revoked device re-activates it), ``revoke(meter_id, nonce,
signatures)``, and ``authorize(action, nonce, signatures)`` for *other* contracts (the
battery's marketing grants): the digest then names the calling contract, so a signature made
for one contract cannot be used by another.

A device's id is :func:`meter_id` = sha256(compressed public key)[:20].
"""

from __future__ import annotations

from typing import Any

from wattchain.contracts import abi
from wattchain.contracts.base import (Contract, account, blob, external, require, text,
                                      uint)
from wattchain.contracts.errors import ContractError
from wattchain.core.hashes import sha256
from wattchain.core.keys import is_valid_public_key

MAX_OPERATORS = 15
DEVICE_KINDS = ("meter", "station")
_DOMAIN = b"wattchain/operators/v1"


def meter_id(pubkey: bytes) -> bytes:
    return sha256(pubkey)[:20]


def operation_digest(registry: bytes, target: bytes, nonce: int, action: list[Any]) -> bytes:
    """What operators sign: registry id, the contract the operation is for, nonce, action."""
    return sha256(_DOMAIN + registry + target + nonce.to_bytes(8, "big") + abi.pack(action))


class MeterRegistry(Contract):
    NAME = "MeterRegistry"
    VERSION = 1

    def init(self, args: dict[str, Any]) -> None:
        require(set(args) == {"operators", "threshold"}, "args: operators, threshold")
        operators, threshold = args["operators"], args["threshold"]
        require(isinstance(operators, list) and 0 < len(operators) <= MAX_OPERATORS,
                f"1..{MAX_OPERATORS} operators")
        for key in operators:
            require(isinstance(key, bytes) and len(key) == 33 and is_valid_public_key(key),
                    "operators must be compressed public keys")
        require(len(set(operators)) == len(operators), "duplicate operator")
        require(type(threshold) is int and 1 <= threshold <= len(operators),
                "threshold must be in 1..len(operators)")
        self.store_obj(b"ops", operators)
        self.store_int(b"m", threshold)

    # ------------------------------------------------------------------ governance
    def _authorize(self, target: bytes, nonce: Any, signatures: Any, action: list[Any]) -> None:
        nonce = uint(nonce, "nonce")
        require(nonce == self.load_int(b"nonce"), "wrong operator nonce")
        operators = self.load_obj(b"ops")
        threshold = self.load_int(b"m")
        require(isinstance(signatures, list) and threshold <= len(signatures) <= len(operators),
                "not enough operator signatures")
        digest = operation_digest(self.this, target, nonce, action)
        self.step(len(signatures))
        last = -1
        for entry in signatures:
            require(isinstance(entry, list) and len(entry) == 2, "signature entry shape")
            index, sig = entry
            require(type(index) is int and last < index < len(operators),
                    "operator indices must increase")
            last = index
            blob(sig, "signature", 80)
            if not self.verify_signature(operators[index], sig, digest):
                raise ContractError(f"bad signature of operator {index}")
        self.store_int(b"nonce", nonce + 1)

    @external
    def certify(self, meter_pubkey: bytes, owner: bytes, kind: str, nonce: int,
                signatures: list[Any]) -> bytes:
        require(isinstance(meter_pubkey, bytes) and len(meter_pubkey) == 33
                and is_valid_public_key(meter_pubkey), "meter key must be a compressed key")
        owner = account(owner, "owner")
        require(text(kind, "kind", 16) in DEVICE_KINDS, "kind must be meter or station")
        device = meter_id(meter_pubkey)
        record = self.load_obj(b"dev" + device)
        require(record is None or not record[3], "device already certified")
        self._authorize(self.this, nonce, signatures, ["certify", meter_pubkey, owner, kind])
        self.store_obj(b"dev" + device, [meter_pubkey, owner, kind, True])
        self.emit("MeterCertified", meter=device, owner=owner, kind=kind)
        return device

    @external
    def revoke(self, device: bytes, nonce: int, signatures: list[Any]) -> bool:
        device = account(device, "meter id")
        record = self.load_obj(b"dev" + device)
        require(record is not None and record[3], "device is not certified")
        self._authorize(self.this, nonce, signatures, ["revoke", device])
        record[3] = False
        self.store_obj(b"dev" + device, record)
        self.emit("MeterRevoked", meter=device)
        return True

    @external
    def authorize(self, action: list[Any], nonce: int, signatures: list[Any]) -> bool:
        """Check operator approval of ``action`` for the calling contract; consumes the nonce."""
        require(isinstance(action, list), "action must be a list")
        self._authorize(self.sender, nonce, signatures, action)
        return True

    # ------------------------------------------------------------------ views
    @external(view=True)
    def meter(self, device: bytes) -> list[Any] | None:
        """``[pubkey, owner, kind, active]`` of a device, or None."""
        return self.load_obj(b"dev" + account(device, "meter id"))

    @external(view=True)
    def operators(self) -> list[bytes]:
        return self.load_obj(b"ops")

    @external(view=True)
    def threshold(self) -> int:
        return self.load_int(b"m")

    @external(view=True)
    def nonce(self) -> int:
        return self.load_int(b"nonce")
