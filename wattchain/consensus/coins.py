"""Unspent outputs (coins) and layered views of the UTXO set.

The storage layer stacks views: a LevelDB-backed view <- a large write-back
:class:`CoinsViewCache` (memory bound, flushed atomically) <- a per-block cache in which
``connect_block`` validates. Only a block that validates completely is flushed one level down,
so a failure leaves every lower view untouched.

The caching follows Bitcoin Core's CCoinsViewCache: each cached entry carries two flags.
DIRTY means the entry differs from the parent and must be written down on flush; FRESH means
the parent does not hold this coin unspent, so if it is spent again before a flush the entry can
simply be forgotten: a coin created and spent inside one cache never reaches the base.

Coin record format (``Coin.serialize``), compact like Core's but simpler::

    VARINT(height * 4 + is_coinstake * 2 + is_coinbase) | VARINT(value) | CompactSize(len) | script

VARINT is Bitcoin Core's MSB base-128 encoding (serialize.h WriteVarInt): 7 bits per byte,
most significant group first, continuation bit 0x80, and one subtracted per continuation
byte so every number has exactly one encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from wattchain.core.errors import DecodeError
from wattchain.core.serialization import ByteReader, compact_size, decode_exact
from wattchain.core.tx import OutPoint, TxOut

#: Largest script a coin record may carry. Consensus makes larger scripts unspendable, and such
#: outputs are never added to the UTXO set; this bound only keeps decoding of records safe.
MAX_COIN_SCRIPT_SIZE = 10_000

#: Rough per-entry overhead of a cached coin in CPython (dict slot, OutPoint, Coin, TxOut,
#: entry object, bytes headers), measured with sys.getsizeof on 64-bit CPython 3.11.
_ENTRY_OVERHEAD = 360


# ------------------------------------------------------------------------------ VARINT
def write_varint(n: int) -> bytes:
    """Core's VARINT (MSB base-128 with the one-subtracted continuation) of ``n >= 0``."""
    if n < 0:
        raise ValueError("VARINT encodes non-negative integers only")
    out = bytearray()
    out.append(n & 0x7F)
    n >>= 7
    while n:
        n -= 1
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.reverse()
    return bytes(out)


def read_varint(reader: ByteReader, max_bytes: int = 10) -> int:
    """Decode a VARINT; overlong input (more than ``max_bytes``, i.e. beyond 64 bits) is an error."""
    n = 0
    for _ in range(max_bytes):
        byte = reader.u8()
        n = (n << 7) | (byte & 0x7F)
        if byte & 0x80:
            n += 1
        else:
            if n >= 1 << 64:
                raise DecodeError("VARINT exceeds 64 bits")
            return n
    raise DecodeError("VARINT too long")


# ------------------------------------------------------------------------------ Coin
@dataclass(frozen=True, slots=True)
class Coin:
    """An unspent output plus what validation needs to know about where it came from.

    ``height`` is the height of the block that created it; ``is_coinbase``/``is_coinstake``
    make it subject to maturity (coinbase and coinstake outputs cannot be spent for
    ``coinbase_maturity`` blocks).
    """

    output: TxOut
    height: int
    is_coinbase: bool
    is_coinstake: bool = False

    def serialize(self) -> bytes:
        """Compact record (see the module docstring)."""
        if self.height < 0:
            raise ValueError("coin height must be non-negative")
        code = self.height * 4 + (2 if self.is_coinstake else 0) + (1 if self.is_coinbase else 0)
        script = self.output.script_pubkey
        return (write_varint(code) + write_varint(self.output.value) + compact_size(len(script))
                + script)

    @classmethod
    def read(cls, reader: ByteReader) -> "Coin":
        code = read_varint(reader)
        value = read_varint(reader)
        if value >= 1 << 63:
            raise DecodeError("coin value exceeds int64")
        script = reader.var_bytes(limit=MAX_COIN_SCRIPT_SIZE)
        return cls(TxOut(value, script), code >> 2, bool(code & 1), bool(code & 2))

    @classmethod
    def deserialize(cls, data: bytes) -> "Coin":
        return decode_exact(data, cls.read)

    @property
    def value(self) -> int:
        return self.output.value

    @property
    def script_pubkey(self) -> bytes:
        return self.output.script_pubkey

    def is_mature(self, spend_height: int, maturity: int) -> bool:
        """Coinbase/coinstake outputs are spendable from ``height + maturity`` on."""
        if not (self.is_coinbase or self.is_coinstake):
            return True
        return spend_height - self.height >= maturity


# ------------------------------------------------------------------------------ views
class CoinsView(Protocol):
    """Anything that can look up an unspent coin (LevelDB view, cache, test dict)."""

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        """The unspent coin at ``outpoint``, or None if it does not exist or is spent."""
        ...


class DictCoinsView:
    """A plain in-memory view: the bottom layer in tests and tools."""

    def __init__(self, coins: dict[OutPoint, Coin] | None = None) -> None:
        self.coins: dict[OutPoint, Coin] = dict(coins or {})

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        return self.coins.get(outpoint)

    def apply(self, changes: Iterable[tuple[OutPoint, Coin | None]]) -> None:
        """Write a cache's ``dirty_entries()`` (None deletes)."""
        for outpoint, coin in changes:
            if coin is None:
                self.coins.pop(outpoint, None)
            else:
                self.coins[outpoint] = coin


class CoinNotFoundError(KeyError):
    """``spend_coin`` on an outpoint with no unspent coin in the view."""


class CoinOverwriteError(ValueError):
    """``add_coin`` would replace an unspent coin without ``overwrite`` (BIP30's concern)."""


class CacheInconsistencyError(RuntimeError):
    """A flush found a FRESH child entry over an unspent parent coin: a logic error."""


class _Entry:
    """A cache slot: ``coin`` is None when spent; flags as in Core."""

    __slots__ = ("coin", "dirty", "fresh")

    def __init__(self, coin: Coin | None, dirty: bool, fresh: bool) -> None:
        self.coin = coin
        self.dirty = dirty
        self.fresh = fresh


def _coin_usage(coin: Coin | None) -> int:
    return _ENTRY_OVERHEAD + (len(coin.output.script_pubkey) if coin is not None else 0)


class CoinsViewCache:
    """A write-back overlay over ``base``; see the module docstring for the flag semantics.

    Entries are keyed by the plain ``(txid, index)`` tuple rather than the :class:`OutPoint`:
    a tuple hashes in C, while the dataclass hashes through a Python-level ``__hash__``, and a
    full block makes several lookups per input and output on every cache layer. The
    :class:`OutPoint` API is unchanged.
    """

    def __init__(self, base: CoinsView) -> None:
        self.base = base
        self._entries: dict[tuple[bytes, int], _Entry] = {}
        self._usage = 0

    # ------------------------------------------------------------------ lookups
    def _coin_by_key(self, key: tuple[bytes, int]) -> Coin | None:
        """``get_coin`` for a key (what a child cache asks, with no OutPoint to build)."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._fetch_key(key)
            if entry is None:
                return None
        return entry.coin

    def _fetch_key(self, key: tuple[bytes, int]) -> _Entry | None:
        """Pull a coin this layer does not hold from below (the caller missed in
        ``_entries``); None if no layer below has it unspent.

        Walks the stack of caches in a loop rather than by recursion (a block makes this
        lookup for every input and every new output); as before, every cache layer that
        missed keeps a clean copy of a coin found further down.
        """
        missed = [self]
        layer = self.base
        while type(layer) is CoinsViewCache:
            entry = layer._entries.get(key)
            if entry is not None:
                coin = entry.coin
                break
            missed.append(layer)
            layer = layer.base
        else:
            coin = layer.get_coin(OutPoint(*key))
        if coin is None:
            return None  # misses are not cached: the base stays the authority
        usage = _ENTRY_OVERHEAD + len(coin.output.script_pubkey)
        for cache in reversed(missed):
            entry = _Entry(coin, False, False)
            cache._entries[key] = entry
            cache._usage += usage
        return entry

    def _fetch(self, outpoint: OutPoint) -> _Entry | None:
        key = (outpoint.txid, outpoint.index)
        entry = self._entries.get(key)
        return entry if entry is not None else self._fetch_key(key)

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        try:
            key = (outpoint.txid, outpoint.index)
        except AttributeError:  # not an outpoint at all: no coin is stored under it
            return None
        return self._coin_by_key(key)

    def have_coin(self, outpoint: OutPoint) -> bool:
        return self.get_coin(outpoint) is not None

    def have_coin_in_cache(self, outpoint: OutPoint) -> bool:
        """Whether this layer alone holds an unspent coin (no base lookup)."""
        entry = self._entries.get((outpoint.txid, outpoint.index))
        return entry is not None and entry.coin is not None

    # ------------------------------------------------------------------ changes
    def add_coin(self, outpoint: OutPoint, coin: Coin, overwrite: bool = False) -> None:
        """Create ``coin`` at ``outpoint``.

        Without ``overwrite``, an unspent coin already visible at ``outpoint`` (in this cache
        or any layer below) is an error: silently replacing it would destroy money (BIP30).
        The new entry is FRESH when no layer below can hold the coin unspent, so spending it
        before a flush never touches the base.
        """
        self._add_key((outpoint.txid, outpoint.index), coin, overwrite)

    def _add_key(self, key: tuple[bytes, int], coin: Coin, overwrite: bool = False) -> None:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._fetch_key(key)
        if entry is None:
            # Nothing unspent anywhere below (a spent-but-unflushed marker may exist in a
            # parent cache, which is fine: the parent's flush logic handles FRESH over it).
            self._entries[key] = _Entry(coin, dirty=True, fresh=True)
            self._usage += _ENTRY_OVERHEAD + len(coin.output.script_pubkey)
            return
        if entry.coin is not None and not overwrite:
            raise CoinOverwriteError(f"attempt to overwrite unspent coin {OutPoint(*key)}")
        # Overwriting keeps the entry's FRESH flag (Core's AddFlags); re-adding over a spent
        # DIRTY entry must stay non-FRESH so the spend still reaches the parent.
        self._usage += _coin_usage(coin) - _coin_usage(entry.coin)
        entry.coin = coin
        entry.dirty = True

    def add_outputs(self, txid: bytes, coins: Iterable[tuple[int, Coin]],
                    unique_txid: bool = False) -> None:
        """``add_coin`` (no overwrite) for outputs ``(index, coin)`` of transaction ``txid``,
        without building an OutPoint per output (Core's AddCoins).

        ``unique_txid`` is Core's ``possible_overwrite=false``: the caller knows no unspent
        output of ``txid`` can exist in any layer, so only this layer is consulted, and an
        output it does not hold becomes FRESH at once. That saves a lookup through every layer
        down to the database for each new output, most of which miss. A block's
        non-coinbase transactions qualify (see ``connect._add_outputs``). If the promise
        were ever broken, the flush of the FRESH entry over an unspent parent coin raises
        :class:`CacheInconsistencyError` (Core's logic error) instead of replacing it.
        An unspent coin in this layer is still a :class:`CoinOverwriteError`.
        """
        if not unique_txid:
            add = self._add_key
            for index, coin in coins:
                add((txid, index), coin)
            return
        entries = self._entries
        for index, coin in coins:
            key = (txid, index)
            entry = entries.get(key)
            if entry is None:
                entries[key] = _Entry(coin, dirty=True, fresh=True)
                self._usage += _ENTRY_OVERHEAD + len(coin.output.script_pubkey)
            elif entry.coin is not None:
                raise CoinOverwriteError(f"attempt to overwrite unspent coin {OutPoint(*key)}")
            else:
                # Spent here and so DIRTY: the spend must still reach the parent (not FRESH).
                self._usage += len(coin.output.script_pubkey)
                entry.coin = coin
                entry.dirty = True

    def spend_coin(self, outpoint: OutPoint) -> Coin:
        """Mark the coin spent and return it; raises :class:`CoinNotFoundError` if absent."""
        key = (outpoint.txid, outpoint.index)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._fetch_key(key)
        if entry is None or entry.coin is None:
            raise CoinNotFoundError(str(outpoint))
        coin = entry.coin
        if entry.fresh:
            del self._entries[key]
            self._usage -= _ENTRY_OVERHEAD + len(coin.output.script_pubkey)
        else:
            entry.coin = None
            entry.dirty = True
            self._usage -= len(coin.output.script_pubkey)
        return coin

    def spend_inputs(self, outpoints: Iterable[OutPoint]) -> list[Coin]:
        """Spend every outpoint in order and return the coins (what ``connect_block`` needs:
        one lookup per input serves the input checks, sigops, scripts and the undo data).

        On a missing coin raises :class:`CoinNotFoundError` whose ``outpoint`` attribute names
        it; the coins spent before it stay spent (callers work in a throw-away child cache).
        """
        spend = self.spend_coin
        coins = []
        for outpoint in outpoints:
            try:
                coins.append(spend(outpoint))
            except CoinNotFoundError as exc:
                exc.outpoint = outpoint  # type: ignore[attr-defined]
                raise
        return coins

    def uncache(self, outpoint: OutPoint) -> None:
        """Forget a clean (non-dirty) entry, e.g. one fetched only to validate a rejected tx."""
        key = (outpoint.txid, outpoint.index)
        entry = self._entries.get(key)
        if entry is not None and not entry.dirty:
            del self._entries[key]
            self._usage -= _coin_usage(entry.coin)

    # ------------------------------------------------------------------ flushing
    def dirty_entries(self) -> Iterator[tuple[OutPoint, Coin | None]]:
        """Changes to write below: (outpoint, coin) to store, (outpoint, None) to delete."""
        for key, entry in self._entries.items():
            if entry.dirty:
                yield OutPoint(*key), entry.coin

    def dirty_count(self) -> int:
        return sum(1 for entry in self._entries.values() if entry.dirty)

    def flush_into(self, parent: "CoinsViewCache") -> None:
        """Move every dirty entry into ``parent`` (Core's BatchWrite), then clear this cache."""
        parent._batch_write(self._entries)
        self.clear()

    def _batch_write(self, child_entries: dict[tuple[bytes, int], _Entry]) -> None:
        # The compiled copy (wattchain.consensus._connect_fast) does exactly this loop; imported
        # here, at call time, because that module is built on this one.
        from wattchain.consensus.connect_fast import compiled_batch_write
        fast = compiled_batch_write()
        if fast is not None:
            fast(self, child_entries)
            return
        self._batch_write_py(child_entries)

    def _batch_write_py(self, child_entries: dict[tuple[bytes, int], _Entry]) -> None:
        """The reference :meth:`_batch_write`."""
        entries = self._entries
        usage = self._usage
        get = entries.get
        for key, child in child_entries.items():
            if not child.dirty:
                continue
            mine = get(key)
            if mine is None:
                coin = child.coin
                if child.fresh and coin is None:
                    continue  # created and spent below us: nothing to record
                # Only FRESH if the child says no layer below holds it unspent.
                entries[key] = _Entry(coin, True, child.fresh)
                usage += _ENTRY_OVERHEAD + (len(coin.output.script_pubkey)
                                            if coin is not None else 0)
                continue
            if child.fresh and mine.coin is not None:
                self._usage = usage
                raise CacheInconsistencyError(
                    f"FRESH coin {OutPoint(*key)} flushed over an unspent parent coin")
            if mine.fresh and child.coin is None:
                del entries[key]  # the grandparent never saw it
                usage -= _coin_usage(mine.coin)
                continue
            # Not safe to mark FRESH: the parent entry may be a spend not yet flushed below.
            usage += _coin_usage(child.coin) - _coin_usage(mine.coin)
            mine.coin = child.coin
            mine.dirty = True
        self._usage = usage

    def clear(self) -> None:
        """Drop every entry (after the caller has written ``dirty_entries()`` below)."""
        self._entries.clear()
        self._usage = 0

    def reset_dirty(self) -> None:
        """After writing ``dirty_entries()`` to the base but keeping the cache warm: drop spent
        entries, keep unspent ones as clean."""
        for key in [k for k, e in self._entries.items() if e.coin is None]:
            del self._entries[key]
            self._usage -= _ENTRY_OVERHEAD
        for entry in self._entries.values():
            entry.dirty = False
            entry.fresh = False

    # ------------------------------------------------------------------ accounting
    def memory_usage(self) -> int:
        """Approximate bytes held by cached entries (for the storage layer's memory bound)."""
        return self._usage

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<CoinsViewCache entries={len(self._entries)} usage~{self._usage}B>"


__all__ = [
    "Coin", "CoinsView", "CoinsViewCache", "DictCoinsView", "CoinNotFoundError",
    "CoinOverwriteError", "CacheInconsistencyError", "write_varint", "read_varint",
    "MAX_COIN_SCRIPT_SIZE",
]
