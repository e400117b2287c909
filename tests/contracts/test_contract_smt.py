"""Sparse Merkle tree: incremental roots equal from-scratch roots; proofs; state undo."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattchain.contracts.smt import (EMPTY, EMPTY_ROOT, MissingNodeError, SparseMerkleTree,
                                     leaf_hash, path_of, root_of, verify_proof)
from wattchain.contracts.state import (BlockStateUndo, ContractState, MemoryStore,
                                       StateRootMismatch)
from wattchain.core.hashes import sha256

keys = st.binary(min_size=1, max_size=6)
batches = st.lists(st.dictionaries(keys, st.one_of(st.none(), st.binary(max_size=8)),
                                   max_size=6), min_size=1, max_size=5)


def naive_root(entries: dict[bytes, bytes]) -> bytes:
    """An independent definition: fold the full tree level by level from sparse leaves."""
    level = {path_of(k): leaf_hash(v) for k, v in entries.items()}
    for depth in range(256, 0, -1):
        parents: dict[int, bytes] = {}
        for index in {i >> 1 for i in level}:
            left = level.get(index << 1, EMPTY[depth])
            right = level.get(index << 1 | 1, EMPTY[depth])
            parents[index] = sha256(b"\x01" + left + right)
        level = parents
    return level.get(0, EMPTY_ROOT)


def test_empty_hashes_chain():
    assert EMPTY[256] == bytes(32)
    assert EMPTY[0] == EMPTY_ROOT == sha256(b"\x01" + EMPTY[1] + EMPTY[1])


@settings(max_examples=40, deadline=None)
@given(batches)
def test_incremental_root_matches_recomputation_and_undo_restores(batches):
    state = ContractState(MemoryStore(), MemoryStore())
    model: dict[bytes, bytes] = {}
    history = []
    for batch in batches:
        before = (state.root, dict(model))
        for key, value in batch.items():
            state.set(key, value)
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        undo = state.commit_block()
        assert state.root == root_of(model.items()) == naive_root(model)
        history.append((undo, before))
    for undo, (root, entries) in reversed(history):
        state.undo_block(undo)
        assert state.root == root
        assert {k: state.get(k) for k in set(entries) | set(model)} == \
            {k: entries.get(k) for k in set(entries) | set(model)}
    assert state.root == EMPTY_ROOT


@settings(max_examples=20, deadline=None)
@given(st.dictionaries(keys, st.binary(max_size=8), min_size=1, max_size=8), st.randoms())
def test_root_is_independent_of_write_order(entries, rnd):
    items = list(entries.items())
    roots = set()
    for _ in range(2):
        rnd.shuffle(items)
        state = ContractState(MemoryStore(), MemoryStore())
        for key, value in items[: len(items) // 2]:
            state.set(key, value)
        state.commit_block()
        for key, value in items[len(items) // 2:]:
            state.set(key, value)
        state.commit_block()
        roots.add(state.root)
    assert roots == {root_of(entries.items())}


def test_proofs_of_presence_and_absence():
    nodes = MemoryStore()
    tree = SparseMerkleTree(nodes)
    root = tree.update(EMPTY_ROOT, {b"a": b"1", b"b": b"2", b"c": b"3"})
    assert verify_proof(root, b"b", b"2", tree.prove(root, b"b"))
    assert not verify_proof(root, b"b", b"3", tree.prove(root, b"b"))
    assert verify_proof(root, b"zz", None, tree.prove(root, b"zz"))
    assert not verify_proof(root, b"a", None, tree.prove(root, b"a"))


def test_update_writes_a_logarithmic_number_of_nodes():
    """Single-leaf subtrees are stored as one shortcut node: a changed key among 1,000
    writes about log2(1000) nodes, not 256."""
    nodes = MemoryStore()
    tree = SparseMerkleTree(nodes)
    root = tree.update(EMPTY_ROOT, {i.to_bytes(2, "big"): b"v" for i in range(1000)})
    assert len(nodes.data) < 4 * 1000  # about 2.5 per key, versus 256 without shortcuts
    before = len(nodes.data)
    tree.update(root, {(7).to_bytes(2, "big"): b"w"})
    assert 0 < len(nodes.data) - before <= 24


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(keys, st.binary(max_size=8), max_size=8), keys)
def test_proofs_verify_for_present_and_absent_keys(entries, probe):
    tree = SparseMerkleTree(MemoryStore())
    root = tree.update(EMPTY_ROOT, entries)
    for key in [*entries, probe]:
        proof = tree.prove(root, key)
        assert verify_proof(root, key, entries.get(key), proof)
        assert not verify_proof(root, key, b"forged", proof)


def test_missing_node_is_a_typed_error():
    tree = SparseMerkleTree(MemoryStore())
    with pytest.raises(MissingNodeError):
        tree.update(sha256(b"not a root"), {b"a": b"1"})


def test_checkpoints_revert_exactly():
    state = ContractState(MemoryStore(), MemoryStore())
    state.set(b"a", b"1")
    cp = state.checkpoint()
    state.set(b"a", b"2")
    state.set(b"b", b"3")
    inner = state.checkpoint()
    state.set(b"b", None)
    state.revert_to(inner)
    assert state.get(b"b") == b"3"
    state.revert_to(cp)
    assert (state.get(b"a"), state.get(b"b")) == (b"1", None)
    undo = state.commit_block()
    assert undo.old_values == ((b"a", None),)
    assert state.root == root_of([(b"a", b"1")])


def test_undo_serialization_and_wrong_tip():
    store = MemoryStore()
    state = ContractState(store, MemoryStore())
    state.set(b"k", b"v")
    first = state.commit_block()
    state.set(b"k", None)
    state.set(b"j", b"")
    second = state.commit_block()
    assert BlockStateUndo.deserialize(second.serialize()) == second
    with pytest.raises(StateRootMismatch):
        state.undo_block(first)
    state.undo_block(second)
    assert store.data == {b"k": b"v"}
    state.set(b"x", b"y")
    state.discard()
    assert not state.dirty and state.get(b"x") is None
