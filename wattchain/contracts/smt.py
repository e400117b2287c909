"""A sparse Merkle tree over 256-bit keys, updated in O(changed keys x 256) hashes.

Definition (what the header's ``state_root`` commits to):

* a state key ``k`` with value ``v`` is the leaf at path ``sha256(k)`` (bit 0 = most
  significant bit of the first byte; 0 = left), with leaf hash ``sha256(0x00 || sha256(v))``;
* an absent key is the empty leaf ``EMPTY[256] = 32 zero bytes``;
* an inner node is ``sha256(0x01 || left || right)``; ``EMPTY[d]`` is the hash of an empty
  subtree at depth ``d`` (precomputed per tree, never stored);
* the root of the empty tree is ``EMPTY[0]``.

Storage (not part of the definition): nodes are content-addressed in a tiny get/put node
store. An inner node whose subtree holds two or more leaves is stored as
``0x01 || left || right``; a subtree holding exactly *one* leaf, at any depth, is stored as a
shortcut ``0x00 || path || leaf hash`` under its (pure-SMT) hash, so a key costs O(log n)
stored nodes instead of 256 while the root stays the plain 256-level SMT root. Hashing a
changed key still costs up to 256 hashes (the single-leaf chain is recomputed in a tight
loop). Old nodes are never deleted, so every earlier root stays readable: undoing a block is
setting the root back (:mod:`state` keeps the values). Pruning nodes of roots deeper than the
reorg limit is future work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from wattchain.core.hashes import sha256

DEPTH = 256
EMPTY_LEAF = bytes(32)


class NodeStore(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...


class MissingNodeError(LookupError):
    """The node store lacks a node the root refers to (a corrupted or pruned store)."""


def _empty_hashes() -> tuple[bytes, ...]:
    hashes = [EMPTY_LEAF]
    for _ in range(DEPTH):
        hashes.append(sha256(b"\x01" + hashes[-1] + hashes[-1]))
    return tuple(reversed(hashes))  # index = depth: EMPTY[256] is a leaf, EMPTY[0] the root


#: EMPTY[d]: hash of an empty subtree whose root is at depth d. Immutable (a tuple).
EMPTY: tuple[bytes, ...] = _empty_hashes()
EMPTY_ROOT = EMPTY[0]


def leaf_hash(value: bytes) -> bytes:
    return sha256(b"\x00" + sha256(value))


def path_of(key: bytes) -> int:
    """The 256-bit path of a state key, as an int (bit 255 = first branch)."""
    return int.from_bytes(sha256(key), "big")


def single_leaf_hash(path: int, leaf: bytes, depth: int) -> bytes:
    """Hash of the subtree rooted at ``depth`` that holds only ``leaf`` at ``path``."""
    node = leaf
    for level in range(DEPTH, depth, -1):
        empty = EMPTY[level]
        if path >> (DEPTH - level) & 1:
            node = sha256(b"\x01" + empty + node)
        else:
            node = sha256(b"\x01" + node + empty)
    return node


#: One changed leaf: (path, new leaf hash or None for a deletion).
Change = tuple[int, "bytes | None"]
#: The only leaf of a subtree, when it has exactly one: (path, leaf hash).
Single = tuple[int, bytes]


class SparseMerkleTree:
    """Root computation over a node store; stateless apart from the store it writes to."""

    def __init__(self, nodes: NodeStore) -> None:
        self._nodes = nodes

    def update(self, root: bytes, changes: Mapping[bytes, bytes | None]) -> bytes:
        """New root after setting each state key to its value (None deletes it)."""
        items = sorted((path_of(key), None if value is None else leaf_hash(value))
                       for key, value in changes.items())
        return self._update(root, 0, items)[0]

    # ------------------------------------------------------------------ internals
    def _load(self, node: bytes, depth: int) -> tuple[bytes, bytes] | Single | None:
        """(left, right) of an inner node, (path, leaf) of a single-leaf subtree, or None."""
        if node == EMPTY[depth]:
            return None
        raw = self._nodes.get(node)
        if raw is None or len(raw) != 65 or raw[0] > 1:
            raise MissingNodeError(f"SMT node {node.hex()} at depth {depth} is missing")
        if raw[0] == 0:
            return int.from_bytes(raw[1:33], "big"), raw[33:]
        return raw[1:33], raw[33:]

    def _single(self, node: bytes, depth: int) -> Single | None:
        loaded = self._load(node, depth)
        if loaded is not None and isinstance(loaded[0], int):
            return loaded  # type: ignore[return-value]
        return None

    def _update(self, node: bytes, depth: int,
                items: list[Change]) -> tuple[bytes, Single | None]:
        if not items:
            return node, self._single(node, depth)
        loaded = self._load(node, depth)
        if loaded is None or isinstance(loaded[0], int):
            return self._build(depth, self._merge(loaded, items))  # type: ignore[arg-type]
        left, right = loaded  # type: ignore[misc]
        split = _split(items, depth)
        new_left = self._update(left, depth + 1, items[:split])
        new_right = self._update(right, depth + 1, items[split:])
        return self._join(new_left, new_right, depth)

    @staticmethod
    def _merge(single: Single | None, items: list[Change]) -> list[Single]:
        """The leaves of a subtree that held ``single`` (or nothing) after ``items``."""
        leaves = {} if single is None else {single[0]: single[1]}
        for path, leaf in items:
            if leaf is None:
                leaves.pop(path, None)
            else:
                leaves[path] = leaf
        return sorted(leaves.items())

    def _build(self, depth: int, leaves: list[Single]) -> tuple[bytes, Single | None]:
        if not leaves:
            return EMPTY[depth], None
        if len(leaves) == 1:
            path, leaf = leaves[0]
            node = single_leaf_hash(path, leaf, depth)
            self._nodes.put(node, b"\x00" + path.to_bytes(32, "big") + leaf)
            return node, leaves[0]
        split = _split(leaves, depth)  # type: ignore[arg-type]
        return self._join(self._build(depth + 1, leaves[:split]),
                          self._build(depth + 1, leaves[split:]), depth)

    def _join(self, left: tuple[bytes, Single | None], right: tuple[bytes, Single | None],
              depth: int) -> tuple[bytes, Single | None]:
        empty_child = EMPTY[depth + 1]
        left_empty, right_empty = left[0] == empty_child, right[0] == empty_child
        if left_empty and right_empty:
            return EMPTY[depth], None
        node = sha256(b"\x01" + left[0] + right[0])
        single = right[1] if left_empty else left[1] if right_empty else None
        if single is not None:
            self._nodes.put(node, b"\x00" + single[0].to_bytes(32, "big") + single[1])
        else:
            self._nodes.put(node, b"\x01" + left[0] + right[0])
        return node, single

    def prove(self, root: bytes, key: bytes) -> list[bytes]:
        """The 256 sibling hashes from the leaf of ``key`` up to the root (leaf level first)."""
        path = path_of(key)
        siblings: list[bytes] = []
        node = root
        for depth in range(DEPTH):
            loaded = self._load(node, depth)
            if loaded is None:
                siblings.extend(EMPTY[d + 1] for d in range(depth, DEPTH))
                break
            if isinstance(loaded[0], int):
                other, leaf = loaded  # type: ignore[misc]
                for d in range(depth, DEPTH):
                    bit = DEPTH - 1 - d
                    if other != path and (other >> bit & 1) != (path >> bit & 1) and \
                            (other >> (bit + 1)) == (path >> (bit + 1)):
                        siblings.append(single_leaf_hash(other, leaf, d + 1))
                    else:
                        siblings.append(EMPTY[d + 1])
                break
            left, right = loaded  # type: ignore[misc]
            if path >> (DEPTH - 1 - depth) & 1:
                siblings.append(left)
                node = right
            else:
                siblings.append(right)
                node = left
        siblings.reverse()
        return siblings


def _split(items: list[Change], depth: int) -> int:
    """Index of the first item whose path has bit ``depth`` (from the top) set."""
    bit = 1 << (DEPTH - 1 - depth)
    split = 0
    while split < len(items) and not items[split][0] & bit:
        split += 1
    return split


def verify_proof(root: bytes, key: bytes, value: bytes | None, siblings: list[bytes]) -> bool:
    """Check a :meth:`SparseMerkleTree.prove` proof of ``key`` = ``value`` (None: absent)."""
    if len(siblings) != DEPTH:
        return False
    path = path_of(key)
    node = EMPTY_LEAF if value is None else leaf_hash(value)
    for height, sibling in enumerate(siblings):
        if path >> height & 1:
            node = sha256(b"\x01" + sibling + node)
        else:
            node = sha256(b"\x01" + node + sibling)
    return node == root


def root_of(entries: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Root of the tree holding exactly ``entries``, without a node store (for checks/tests)."""
    leaves = sorted((path_of(key), leaf_hash(value)) for key, value in entries)
    return _root_of(leaves, 0)


def _root_of(leaves: list[tuple[int, bytes]], depth: int) -> bytes:
    if not leaves:
        return EMPTY[depth]
    if depth == DEPTH:
        return leaves[-1][1]
    bit = 1 << (DEPTH - 1 - depth)
    split = next((i for i, (path, _) in enumerate(leaves) if path & bit), len(leaves))
    left = _root_of(leaves[:split], depth + 1)
    right = _root_of(leaves[split:], depth + 1)
    if left == EMPTY[depth + 1] and right == EMPTY[depth + 1]:
        return EMPTY[depth]
    return sha256(b"\x01" + left + right)
