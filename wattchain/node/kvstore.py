"""A thin typed wrapper over one plyvel LevelDB.

Why a wrapper: every write of the chainstate must go through an atomic batch, and every
LevelDB/plyvel failure must surface as :class:`StorageError` rather than a library exception.
Keeping the plyvel calls in one file also makes the sync policy (fsync on commit or not) one
decision rather than a flag scattered over call sites.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import plyvel

from wattchain.node.errors import StorageError


class Batch:
    """Writes collected in memory and applied all-or-nothing by :meth:`KVStore.commit`."""

    __slots__ = ("puts", "deletes")

    def __init__(self) -> None:
        self.puts: dict[bytes, bytes] = {}
        self.deletes: set[bytes] = set()

    def put(self, key: bytes, value: bytes) -> None:
        self.deletes.discard(key)
        self.puts[key] = value

    def delete(self, key: bytes) -> None:
        self.puts.pop(key, None)
        self.deletes.add(key)

    def __len__(self) -> int:
        return len(self.puts) + len(self.deletes)


class KVStore:
    """One LevelDB database: point reads, prefix scans and atomic batch commits."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        """Open (creating if missing). ``sync`` fsyncs every commit so a power loss, not just a
        killed process, keeps the last committed batch; tests turn it off for speed."""
        self.path = Path(path)
        self.sync = sync
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._db: plyvel.DB | None = plyvel.DB(str(self.path), create_if_missing=True)
        except (plyvel.Error, OSError) as exc:
            raise StorageError(f"cannot open LevelDB at {self.path}: {exc}") from exc

    @property
    def db(self) -> plyvel.DB:
        if self._db is None:
            raise StorageError("database is closed")
        return self._db

    def get(self, key: bytes) -> bytes | None:
        try:
            return self.db.get(key)
        except plyvel.Error as exc:
            raise StorageError(f"read failed: {exc}") from exc

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs under ``prefix`` in key order, from a consistent snapshot."""
        try:
            with self.db.snapshot() as snap:
                yield from snap.iterator(prefix=prefix)
        except plyvel.Error as exc:
            raise StorageError(f"iteration failed: {exc}") from exc

    def commit(self, batch: Batch) -> None:
        """Apply ``batch`` atomically: after a crash either all of it or none of it is there."""
        if not batch:
            return
        try:
            with self.db.write_batch(transaction=True, sync=self.sync) as wb:
                for key in batch.deletes:
                    wb.delete(key)
                for key, value in batch.puts.items():
                    wb.put(key, value)
        except plyvel.Error as exc:
            raise StorageError(f"batch write failed: {exc}") from exc

    def approximate_size(self, prefix: bytes) -> int:
        """On-disk bytes LevelDB estimates for keys starting with ``prefix``."""
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        try:
            return int(self.db.approximate_size(prefix, end))
        except plyvel.Error as exc:
            raise StorageError(f"size estimate failed: {exc}") from exc

    def compact(self, prefix: bytes) -> None:
        """Compact the key range of ``prefix`` (moves it out of the log into table files)."""
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        try:
            self.db.compact_range(start=prefix, stop=end)
        except plyvel.Error as exc:
            raise StorageError(f"compaction failed: {exc}") from exc

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def closed(self) -> bool:
        return self._db is None
