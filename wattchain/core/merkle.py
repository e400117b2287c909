"""Merkle roots over txids/wtxids and the BIP141 witness commitment."""

from __future__ import annotations

from collections.abc import Sequence

from wattchain.core.hashes import sha256d

#: Prefix of the coinbase output that commits to the witness merkle root (BIP141):
#: OP_RETURN, push of 36 bytes, then the 4-byte tag 0xaa21a9ed.
WITNESS_COMMITMENT_HEADER = bytes.fromhex("6a24aa21a9ed")


def merkle_root(hashes: Sequence[bytes]) -> tuple[bytes, bool]:
    """Bitcoin's merkle root and whether the tree is *mutated*.

    An odd level duplicates its last hash. That allows two different transaction lists to share
    a root (CVE-2012-2459), so like Bitcoin Core we report when two adjacent hashes at any level
    are equal; such a block must be rejected as mutated, not marked permanently invalid.
    """
    if not hashes:
        return bytes(32), False
    level = list(hashes)
    mutated = False
    while len(level) > 1:
        for i in range(0, len(level) - 1, 2):
            if level[i] == level[i + 1]:
                mutated = True
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0], mutated


def witness_commitment_hash(witness_root: bytes, reserved_value: bytes) -> bytes:
    """SHA256d(witness merkle root || witness reserved value)."""
    return sha256d(witness_root + reserved_value)


def witness_commitment_script(witness_root: bytes, reserved_value: bytes = bytes(32)) -> bytes:
    """The coinbase output script that carries the witness commitment."""
    return WITNESS_COMMITMENT_HEADER + witness_commitment_hash(witness_root, reserved_value)


def find_witness_commitment(output_scripts: Sequence[bytes]) -> int | None:
    """Index of the commitment output: the *last* output matching the pattern (BIP141)."""
    found = None
    for i, script in enumerate(output_scripts):
        if len(script) >= 38 and script[:6] == WITNESS_COMMITMENT_HEADER:
            found = i
    return found
