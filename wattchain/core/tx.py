"""Transactions in Bitcoin's exact wire format, with BIP144 witness serialization.

Objects are frozen dataclasses: consensus code can share them freely, and derived values
(txid, wtxid, sizes, weight) are computed once and cached on the instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from wattchain.core.compiled import compiled_tx_reader
from wattchain.core.errors import DecodeError
from wattchain.core.hashes import sha256d
from wattchain.core.serialization import (ByteReader, compact_size, decode_exact, i64, u32,
                                          var_bytes)

#: Base units per coin (like satoshis per bitcoin).
COIN = 100_000_000

#: Weight units per byte of non-witness data (BIP141).
WITNESS_SCALE_FACTOR = 4

#: Smallest possible serialized input (32 txid + 4 index + 1 script length + 4 sequence) and
#: output (8 value + 1 script length); used to bound element counts before allocating.
_MIN_TXIN_SIZE = 41
_MIN_TXOUT_SIZE = 9

SEQUENCE_FINAL = 0xFFFFFFFF
NULL_INDEX = 0xFFFFFFFF
NULL_HASH = bytes(32)


def txid_to_hex(txid: bytes) -> str:
    """Display form of a txid/block hash: byte-reversed hex, as every Bitcoin tool prints it."""
    return txid[::-1].hex()


def hex_to_txid(text: str) -> bytes:
    raw = bytes.fromhex(text)
    if len(raw) != 32:
        raise ValueError("a txid is 32 bytes")
    return raw[::-1]


@dataclass(frozen=True, slots=True)
class OutPoint:
    """A reference to output ``index`` of transaction ``txid`` (internal byte order)."""

    txid: bytes
    index: int

    def serialize(self) -> bytes:
        return self.txid + u32(self.index)

    def is_null(self) -> bool:
        return self.index == NULL_INDEX and self.txid == NULL_HASH

    @classmethod
    def null(cls) -> "OutPoint":
        return cls(NULL_HASH, NULL_INDEX)

    def __str__(self) -> str:
        return f"{txid_to_hex(self.txid)}:{self.index}"


@dataclass(frozen=True, slots=True)
class TxIn:
    """A transaction input. The witness stack lives here, as in Bitcoin Core's CTxIn."""

    prevout: OutPoint
    script_sig: bytes = b""
    sequence: int = SEQUENCE_FINAL
    witness: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class TxOut:
    """A transaction output: ``value`` base units locked by ``script_pubkey``.

    ``value`` is a signed 64-bit integer on the wire; negative values decode (so that
    validation, not parsing, rejects them with a reason) but never pass consensus checks.
    """

    value: int
    script_pubkey: bytes

    def serialize(self) -> bytes:
        return i64(self.value) + var_bytes(self.script_pubkey)


@dataclass(frozen=True)
class Transaction:
    """A transaction. ``version`` is an unsigned 32-bit field (as in current Bitcoin Core)."""

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int = 0

    # ------------------------------------------------------------------ encoding
    @classmethod
    def read(cls, reader: ByteReader, allow_witness: bool = True) -> "Transaction":
        """Read one transaction from ``reader`` following Bitcoin Core's rules exactly.

        A zero input count followed by a non-zero flag byte marks the BIP144 extended format.
        Unknown flag bits and a witness flag with only empty witnesses are rejected, so a
        transaction has one canonical witness encoding.

        With the compiled reader (``_tx_reader``, unless ``WATTCHAIN_PURE``) the same objects
        and errors come from C, with the wire bytes kept as the cached serializations.
        """
        compiled = compiled_tx_reader()
        if compiled is not None:
            return reader.read_with(compiled.read_transaction, allow_witness)
        version = reader.u32()
        inputs = _read_inputs(reader)
        flags = 0
        if not inputs and allow_witness:
            flags = reader.u8()
            if flags != 0:
                inputs = _read_inputs(reader)
                outputs = _read_outputs(reader)
            else:
                outputs = []
        else:
            outputs = _read_outputs(reader)
        if flags & 1 and allow_witness:
            flags ^= 1
            with_witness = []
            any_witness = False
            for txin in inputs:
                n_items = reader.count(1)
                stack = tuple(reader.var_bytes() for _ in range(n_items))
                any_witness = any_witness or bool(stack)
                with_witness.append(TxIn(txin.prevout, txin.script_sig, txin.sequence, stack))
            if not any_witness:
                raise DecodeError("superfluous witness record")
            inputs = with_witness
        if flags:
            raise DecodeError("unknown transaction optional data")
        locktime = reader.u32()
        return cls(version, tuple(inputs), tuple(outputs), locktime)

    @classmethod
    def deserialize(cls, data: bytes, allow_witness: bool = True) -> "Transaction":
        """Decode exactly one transaction; trailing bytes are an error."""
        return decode_exact(data, lambda reader: cls.read(reader, allow_witness))

    @classmethod
    def from_hex(cls, text: str) -> "Transaction":
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise DecodeError(f"not hex: {exc}") from None
        return cls.deserialize(raw)

    def serialize(self, include_witness: bool = True) -> bytes:
        """Wire bytes; the BIP144 form only when asked for and some input has a witness."""
        if include_witness and self.has_witness:
            return self._serialized_with_witness
        return self._serialized_without_witness

    @cached_property
    def _serialized_with_witness(self) -> bytes:
        return self._serialize(True)

    @cached_property
    def _serialized_without_witness(self) -> bytes:
        return self._serialize(False)

    def _serialize(self, with_witness: bool) -> bytes:
        parts = [u32(self.version)]
        if with_witness:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.inputs)))
        for txin in self.inputs:
            parts.append(txin.prevout.txid)
            parts.append(u32(txin.prevout.index))
            parts.append(var_bytes(txin.script_sig))
            parts.append(u32(txin.sequence))
        parts.append(compact_size(len(self.outputs)))
        for txout in self.outputs:
            parts.append(i64(txout.value))
            parts.append(var_bytes(txout.script_pubkey))
        if with_witness:
            for txin in self.inputs:
                parts.append(compact_size(len(txin.witness)))
                parts.extend(var_bytes(item) for item in txin.witness)
        parts.append(u32(self.locktime))
        return b"".join(parts)

    def to_hex(self) -> str:
        return self.serialize().hex()

    # ------------------------------------------------------------------ identity and size
    @cached_property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    @cached_property
    def txid(self) -> bytes:
        """Hash of the serialization without witnesses (internal byte order)."""
        return sha256d(self.serialize(include_witness=False))

    @cached_property
    def wtxid(self) -> bytes:
        """Hash of the full serialization; equals ``txid`` when there is no witness."""
        if not self.has_witness:
            return self.txid
        return sha256d(self.serialize(include_witness=True))

    @property
    def txid_hex(self) -> str:
        return txid_to_hex(self.txid)

    @cached_property
    def base_size(self) -> int:
        return len(self.serialize(include_witness=False))

    @cached_property
    def total_size(self) -> int:
        return len(self.serialize(include_witness=True))

    @cached_property
    def weight(self) -> int:
        """BIP141 weight: base size x 3 + total size."""
        return self.base_size * (WITNESS_SCALE_FACTOR - 1) + self.total_size

    @property
    def vsize(self) -> int:
        """Virtual size in vbytes, rounded up."""
        return (self.weight + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR

    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].prevout.is_null()

    def total_output_value(self) -> int:
        return sum(out.value for out in self.outputs)


def _read_inputs(reader: ByteReader) -> list[TxIn]:
    n = reader.count(_MIN_TXIN_SIZE)
    inputs = []
    for _ in range(n):
        txid = reader.read(32)
        index = reader.u32()
        script_sig = reader.var_bytes()
        sequence = reader.u32()
        inputs.append(TxIn(OutPoint(txid, index), script_sig, sequence))
    return inputs


def _read_outputs(reader: ByteReader) -> list[TxOut]:
    n = reader.count(_MIN_TXOUT_SIZE)
    outputs = []
    for _ in range(n):
        value = reader.i64()
        outputs.append(TxOut(value, reader.var_bytes()))
    return outputs
