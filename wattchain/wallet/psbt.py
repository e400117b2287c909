"""BIP174 partially signed transactions (version 0): the data model and its serialization.

Parsing enforces BIP174's rules for an invalid PSBT and raises :class:`PsbtError` with a
reason: bad magic, a missing or duplicated unsigned transaction, an unsigned transaction with
scriptSigs or witnesses, duplicate keys in any map, keys of the wrong length for their type,
values that do not parse, and maps that do not match the transaction's inputs/outputs. Unknown
key types are kept and written back unchanged, as BIP174 requires.

Serialization writes records in Bitcoin Core's order, so a PSBT Core wrote round-trips byte for
byte (BIP174's test vectors check this).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from wattchain.core.errors import DecodeError
from wattchain.core.hashes import hash160
from wattchain.core.keys import is_valid_public_key
from wattchain.core.serialization import ByteReader, compact_size, var_bytes
from wattchain.core.tx import Transaction, TxOut
from wattchain.wallet.errors import PsbtError

MAGIC = b"psbt\xff"

GLOBAL_UNSIGNED_TX = 0x00
GLOBAL_XPUB = 0x01
GLOBAL_VERSION = 0xFB

IN_NON_WITNESS_UTXO = 0x00
IN_WITNESS_UTXO = 0x01
IN_PARTIAL_SIG = 0x02
IN_SIGHASH = 0x03
IN_REDEEM_SCRIPT = 0x04
IN_WITNESS_SCRIPT = 0x05
IN_BIP32_DERIVATION = 0x06
IN_FINAL_SCRIPTSIG = 0x07
IN_FINAL_SCRIPTWITNESS = 0x08

OUT_REDEEM_SCRIPT = 0x00
OUT_WITNESS_SCRIPT = 0x01
OUT_BIP32_DERIVATION = 0x02

#: (master fingerprint, path) of a key, as in PSBT_*_BIP32_DERIVATION values.
KeyOrigin = tuple[bytes, tuple[int, ...]]


@dataclass
class PsbtInput:
    non_witness_utxo: Transaction | None = None
    witness_utxo: TxOut | None = None
    partial_sigs: dict[bytes, bytes] = field(default_factory=dict)
    sighash_type: int | None = None
    redeem_script: bytes | None = None
    witness_script: bytes | None = None
    bip32_derivs: dict[bytes, KeyOrigin] = field(default_factory=dict)
    final_script_sig: bytes | None = None
    final_script_witness: tuple[bytes, ...] | None = None
    unknown: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.final_script_sig is not None or self.final_script_witness is not None


@dataclass
class PsbtOutput:
    redeem_script: bytes | None = None
    witness_script: bytes | None = None
    bip32_derivs: dict[bytes, KeyOrigin] = field(default_factory=dict)
    unknown: dict[bytes, bytes] = field(default_factory=dict)


@dataclass
class Psbt:
    """A PSBT: the unsigned transaction plus one map per input and per output."""

    tx: Transaction
    inputs: list[PsbtInput]
    outputs: list[PsbtOutput]
    xpubs: list[tuple[bytes, KeyOrigin]] = field(default_factory=list)
    version: int = 0
    unknown: dict[bytes, bytes] = field(default_factory=dict)

    @classmethod
    def from_unsigned(cls, tx: Transaction) -> "Psbt":
        """Creator role: an empty PSBT for ``tx`` (its scriptSigs and witnesses must be empty)."""
        if any(txin.script_sig or txin.witness for txin in tx.inputs):
            raise PsbtError("Unsigned tx does not have empty scriptSigs and scriptWitnesses.")
        return cls(tx, [PsbtInput() for _ in tx.inputs], [PsbtOutput() for _ in tx.outputs])

    def spent_output(self, index: int) -> TxOut | None:
        """The output input ``index`` spends, from its witness or non-witness UTXO."""
        pin = self.inputs[index]
        if pin.witness_utxo is not None:
            return pin.witness_utxo
        if pin.non_witness_utxo is not None:
            return pin.non_witness_utxo.outputs[self.tx.inputs[index].prevout.index]
        return None

    # ------------------------------------------------------------------ encoding
    def serialize(self) -> bytes:
        out = [MAGIC, _record(bytes((GLOBAL_UNSIGNED_TX,)), self.tx.serialize(False))]
        for xpub, origin in self.xpubs:
            out.append(_record(bytes((GLOBAL_XPUB,)) + xpub, _origin_bytes(origin)))
        if self.version:
            out.append(_record(bytes((GLOBAL_VERSION,)), self.version.to_bytes(4, "little")))
        out.extend(_record(k, v) for k, v in sorted(self.unknown.items()))
        out.append(b"\x00")
        for pin in self.inputs:
            out.append(_serialize_input(pin))
        for pout in self.outputs:
            out.append(_serialize_output(pout))
        return b"".join(out)

    def to_base64(self) -> str:
        return base64.b64encode(self.serialize()).decode("ascii")

    @classmethod
    def from_base64(cls, text: str) -> "Psbt":
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PsbtError(f"TX decode failed invalid base64: {exc}") from None
        return cls.deserialize(raw)

    @classmethod
    def deserialize(cls, raw: bytes) -> "Psbt":
        try:
            return _parse(ByteReader(raw))
        except DecodeError as exc:
            raise PsbtError(f"TX decode failed {exc}") from None


def _record(key: bytes, value: bytes) -> bytes:
    return var_bytes(key) + var_bytes(value)


def _origin_bytes(origin: KeyOrigin) -> bytes:
    fingerprint, path = origin
    return fingerprint + b"".join(i.to_bytes(4, "little") for i in path)


def _witness_bytes(stack: tuple[bytes, ...]) -> bytes:
    return compact_size(len(stack)) + b"".join(var_bytes(item) for item in stack)


def _serialize_input(pin: PsbtInput) -> bytes:
    out = []
    if pin.non_witness_utxo is not None:
        out.append(_record(bytes((IN_NON_WITNESS_UTXO,)), pin.non_witness_utxo.serialize()))
    if pin.witness_utxo is not None:
        out.append(_record(bytes((IN_WITNESS_UTXO,)), pin.witness_utxo.serialize()))
    if not pin.is_final:
        # Core keys partial signatures by key id (hash160) and derivations by public key.
        for pubkey, sig in sorted(pin.partial_sigs.items(), key=lambda kv: hash160(kv[0])):
            out.append(_record(bytes((IN_PARTIAL_SIG,)) + pubkey, sig))
        if pin.sighash_type is not None:
            out.append(_record(bytes((IN_SIGHASH,)), pin.sighash_type.to_bytes(4, "little")))
        if pin.redeem_script is not None:
            out.append(_record(bytes((IN_REDEEM_SCRIPT,)), pin.redeem_script))
        if pin.witness_script is not None:
            out.append(_record(bytes((IN_WITNESS_SCRIPT,)), pin.witness_script))
        for pubkey, origin in sorted(pin.bip32_derivs.items()):
            out.append(_record(bytes((IN_BIP32_DERIVATION,)) + pubkey, _origin_bytes(origin)))
    if pin.final_script_sig is not None:
        out.append(_record(bytes((IN_FINAL_SCRIPTSIG,)), pin.final_script_sig))
    if pin.final_script_witness is not None:
        out.append(_record(bytes((IN_FINAL_SCRIPTWITNESS,)),
                           _witness_bytes(pin.final_script_witness)))
    out.extend(_record(k, v) for k, v in sorted(pin.unknown.items()))
    out.append(b"\x00")
    return b"".join(out)


def _serialize_output(pout: PsbtOutput) -> bytes:
    out = []
    if pout.redeem_script is not None:
        out.append(_record(bytes((OUT_REDEEM_SCRIPT,)), pout.redeem_script))
    if pout.witness_script is not None:
        out.append(_record(bytes((OUT_WITNESS_SCRIPT,)), pout.witness_script))
    for pubkey, origin in sorted(pout.bip32_derivs.items()):
        out.append(_record(bytes((OUT_BIP32_DERIVATION,)) + pubkey, _origin_bytes(origin)))
    out.extend(_record(k, v) for k, v in sorted(pout.unknown.items()))
    out.append(b"\x00")
    return b"".join(out)


# ---------------------------------------------------------------------- parsing
def _read_map(reader: ByteReader, what: str) -> list[tuple[bytes, bytes]]:
    """One key-value map up to its 0x00 separator; duplicate keys are an error."""
    records: list[tuple[bytes, bytes]] = []
    seen: set[bytes] = set()
    while True:
        if reader.remaining == 0:
            raise PsbtError(f"{what}: missing separator (truncated PSBT)")
        key = reader.var_bytes()
        if not key:
            return records
        value = reader.var_bytes()
        if key in seen:
            raise PsbtError(f"{what}: duplicate key {key.hex()}")
        seen.add(key)
        records.append((key, value))


def _key_type(key: bytes) -> int:
    reader = ByteReader(key)
    return reader.compact_size()


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise PsbtError(message)


def _parse_origin(value: bytes, what: str) -> KeyOrigin:
    _need(len(value) % 4 == 0 and len(value) >= 4,
          f"{what}: invalid length for a key origin")
    return value[:4], tuple(int.from_bytes(value[i:i + 4], "little")
                            for i in range(4, len(value), 4))


def _pubkey_from_key(key: bytes, what: str) -> bytes:
    pubkey = key[1:]
    _need(len(pubkey) in (33, 65) and is_valid_public_key(pubkey),
          f"{what}: invalid public key in key")
    return pubkey


def _single(key: bytes, what: str) -> None:
    _need(len(key) == 1, f"{what}: key must be exactly one byte")


def _parse(reader: ByteReader) -> Psbt:
    _need(reader.remaining >= 5 and reader.read(5) == MAGIC, "Invalid PSBT magic bytes")
    tx: Transaction | None = None
    xpubs: list[tuple[bytes, KeyOrigin]] = []
    version = 0
    unknown: dict[bytes, bytes] = {}
    for key, value in _read_map(reader, "global"):
        kind = _key_type(key)
        if kind == GLOBAL_UNSIGNED_TX:
            _single(key, "unsigned tx")
            try:
                tx = Transaction.deserialize(value, allow_witness=False)
            except DecodeError as exc:
                raise PsbtError(f"unsigned tx does not decode: {exc}") from None
            _need(all(not txin.script_sig and not txin.witness for txin in tx.inputs),
                  "Unsigned tx does not have empty scriptSigs and scriptWitnesses.")
        elif kind == GLOBAL_XPUB:
            _need(len(key) == 79, "global xpub: key must be 0x01 plus a 78-byte xpub")
            xpubs.append((key[1:], _parse_origin(value, "global xpub")))
        elif kind == GLOBAL_VERSION:
            _single(key, "version")
            _need(len(value) == 4, "version: value must be 4 bytes")
            version = int.from_bytes(value, "little")
            _need(version == 0, f"Unsupported version number {version}")
        else:
            unknown[key] = value
    _need(tx is not None, "No unsigned transaction was provided")
    assert tx is not None
    inputs = [_parse_input(reader, tx, i) for i in range(len(tx.inputs))]
    outputs = [_parse_output(reader, i) for i in range(len(tx.outputs))]
    _need(reader.remaining == 0, "extra data after the PSBT")
    return Psbt(tx, inputs, outputs, xpubs, version, unknown)


def _parse_input(reader: ByteReader, tx: Transaction, index: int) -> PsbtInput:
    what = f"input {index}"
    if reader.remaining == 0:
        raise PsbtError("Inputs provided does not match the number of inputs in transaction")
    pin = PsbtInput()
    for key, value in _read_map(reader, what):
        kind = _key_type(key)
        try:
            if kind == IN_NON_WITNESS_UTXO:
                _single(key, f"{what} non-witness utxo")
                prev = Transaction.deserialize(value)
                _need(prev.txid == tx.inputs[index].prevout.txid,
                      f"{what}: non-witness utxo does not match the outpoint hash")
                _need(tx.inputs[index].prevout.index < len(prev.outputs),
                      f"{what}: non-witness utxo has no output {tx.inputs[index].prevout.index}")
                pin.non_witness_utxo = prev
            elif kind == IN_WITNESS_UTXO:
                _single(key, f"{what} witness utxo")
                sub = ByteReader(value)
                pin.witness_utxo = TxOut(sub.i64(), sub.var_bytes())
                sub.expect_end()
            elif kind == IN_PARTIAL_SIG:
                pubkey = _pubkey_from_key(key, f"{what} partial signature")
                _need(len(value) >= 9, f"{what}: partial signature too short")
                pin.partial_sigs[pubkey] = value
            elif kind == IN_SIGHASH:
                _single(key, f"{what} sighash type")
                _need(len(value) == 4, f"{what}: sighash type must be 4 bytes")
                pin.sighash_type = int.from_bytes(value, "little")
            elif kind == IN_REDEEM_SCRIPT:
                _single(key, f"{what} redeemScript")
                pin.redeem_script = value
            elif kind == IN_WITNESS_SCRIPT:
                _single(key, f"{what} witnessScript")
                pin.witness_script = value
            elif kind == IN_BIP32_DERIVATION:
                pubkey = _pubkey_from_key(key, f"{what} bip32 derivation")
                pin.bip32_derivs[pubkey] = _parse_origin(value, what)
            elif kind == IN_FINAL_SCRIPTSIG:
                _single(key, f"{what} final scriptSig")
                pin.final_script_sig = value
            elif kind == IN_FINAL_SCRIPTWITNESS:
                _single(key, f"{what} final scriptWitness")
                sub = ByteReader(value)
                pin.final_script_witness = tuple(sub.var_bytes() for _ in range(sub.count(1)))
                sub.expect_end()
            else:
                pin.unknown[key] = value
        except DecodeError as exc:
            raise PsbtError(f"{what}: malformed value for key {key.hex()}: {exc}") from None
    return pin


def _parse_output(reader: ByteReader, index: int) -> PsbtOutput:
    what = f"output {index}"
    if reader.remaining == 0:
        raise PsbtError("Outputs provided does not match the number of outputs in transaction")
    pout = PsbtOutput()
    for key, value in _read_map(reader, what):
        kind = _key_type(key)
        if kind == OUT_REDEEM_SCRIPT:
            _single(key, f"{what} redeemScript")
            pout.redeem_script = value
        elif kind == OUT_WITNESS_SCRIPT:
            _single(key, f"{what} witnessScript")
            pout.witness_script = value
        elif kind == OUT_BIP32_DERIVATION:
            pubkey = _pubkey_from_key(key, f"{what} bip32 derivation")
            pout.bip32_derivs[pubkey] = _parse_origin(value, what)
        else:
            pout.unknown[key] = value
    return pout
