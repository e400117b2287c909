"""Contract state: a flat key/value store plus the sparse Merkle root that commits to it.

:class:`ContractState` buffers a block's writes in memory with a journal, so that

* ``checkpoint()`` / ``revert_to(cp)`` undo a failing contract output (or sub-call) exactly;
* ``commit_block()`` writes the block's net changes to the :class:`StateStore`, updates the
  SMT root incrementally (only changed keys are hashed) and returns a :class:`BlockStateUndo`
  holding the previous value of every changed key plus both roots;
* ``undo_block(undo)`` restores the exact previous values and root (SMT nodes are
  content-addressed and never deleted, so the old root's nodes are still there).

Nothing reaches the store before ``commit_block``; ``discard()`` drops a half-executed block
(e.g. when a block turns out invalid), so bad input never corrupts state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import msgpack

from wattchain.contracts.smt import EMPTY_ROOT, NodeStore, SparseMerkleTree


class StateStore(Protocol):
    """Raw state keys to values. The node backs it with LevelDB under a chainstate prefix."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class MemoryStore:
    """In-memory :class:`StateStore` and :class:`NodeStore` (tests, read-only call sandboxes)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)


class UndoFormatError(ValueError):
    """Stored undo data that does not decode."""


class StateRootMismatch(RuntimeError):
    """``undo_block`` was given the undo of a block that is not the current state's tip."""


@dataclass(frozen=True)
class BlockStateUndo:
    """What a block changed: the roots before/after and each changed key's previous value."""

    old_root: bytes
    new_root: bytes
    old_values: tuple[tuple[bytes, bytes | None], ...]

    def serialize(self) -> bytes:
        return msgpack.packb([self.old_root, self.new_root,
                              [[key, value] for key, value in self.old_values]],
                             use_bin_type=True)

    @classmethod
    def deserialize(cls, data: bytes) -> "BlockStateUndo":
        try:
            old_root, new_root, entries = msgpack.unpackb(data, raw=False)
            old_values = tuple((bytes(key), None if value is None else bytes(value))
                               for key, value in entries)
        except Exception as exc:
            raise UndoFormatError(f"bad contract state undo: {exc}") from exc
        if len(old_root) != 32 or len(new_root) != 32:
            raise UndoFormatError("bad contract state undo: root size")
        return cls(bytes(old_root), bytes(new_root), old_values)


_ABSENT = object()


class ContractState:
    """Journaled view of the contract state at ``root`` over ``store`` and ``nodes``."""

    def __init__(self, store: StateStore, nodes: NodeStore, root: bytes = EMPTY_ROOT) -> None:
        self._store = store
        self._tree = SparseMerkleTree(nodes)
        self.root = root
        self._pending: dict[bytes, bytes | None] = {}
        self._journal: list[tuple[bytes, object]] = []

    # ------------------------------------------------------------------ reads and writes
    def get(self, key: bytes) -> bytes | None:
        if key in self._pending:
            return self._pending[key]
        return self._store.get(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        """Write ``value`` (None deletes; b"" is a value, distinct from absent)."""
        self._journal.append((key, self._pending.get(key, _ABSENT)))
        self._pending[key] = value

    def checkpoint(self) -> int:
        return len(self._journal)

    def revert_to(self, checkpoint: int) -> None:
        if not 0 <= checkpoint <= len(self._journal):
            raise ValueError("unknown checkpoint")
        while len(self._journal) > checkpoint:
            key, previous = self._journal.pop()
            if previous is _ABSENT:
                del self._pending[key]
            else:
                self._pending[key] = previous  # type: ignore[assignment]

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def discard(self) -> None:
        """Drop every uncommitted write (a block that failed validation)."""
        self._pending.clear()
        self._journal.clear()

    # ------------------------------------------------------------------ blocks
    def commit_block(self) -> BlockStateUndo:
        """Apply the pending writes to the store, update the root, return the undo record."""
        changes: dict[bytes, bytes | None] = {}
        old_values: list[tuple[bytes, bytes | None]] = []
        for key in sorted(self._pending):
            value = self._pending[key]
            old = self._store.get(key)
            if old == value:
                continue
            changes[key] = value
            old_values.append((key, old))
        old_root = self.root
        new_root = self._tree.update(old_root, changes) if changes else old_root
        for key, value in changes.items():
            if value is None:
                self._store.delete(key)
            else:
                self._store.put(key, value)
        self.root = new_root
        self.discard()
        return BlockStateUndo(old_root, new_root, tuple(old_values))

    def undo_block(self, undo: BlockStateUndo) -> None:
        """Restore the state before the block whose undo record this is."""
        if self._pending:
            raise RuntimeError("undo_block with uncommitted writes")
        if undo.new_root != self.root:
            raise StateRootMismatch(
                f"state root {self.root.hex()} is not the block's {undo.new_root.hex()}")
        for key, value in undo.old_values:
            if value is None:
                self._store.delete(key)
            else:
                self._store.put(key, value)
        self.root = undo.old_root

    def prove(self, key: bytes) -> list[bytes]:
        """SMT proof of a committed key against :attr:`root` (see :func:`smt.verify_proof`)."""
        return self._tree.prove(self.root, key)
