"""Compact difficulty encoding ("bits") and chain work.

A header carries its target in Bitcoin's 32-bit compact form. Decoding must match Core's
``arith_uint256::SetCompact`` exactly (including its negative and overflow flags) because the
encoding is consensus: two nodes that decoded the same bits differently would fork.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DecodedTarget:
    """Result of decoding compact bits: ``target`` plus Core's ``negative``/``overflow`` flags."""

    target: int
    negative: bool
    overflow: bool

    def is_valid(self, limit: int) -> bool:
        """A usable target: positive, not overflowing 256 bits, and no easier than ``limit``."""
        return not self.negative and not self.overflow and 0 < self.target <= limit


def decode_bits(bits: int) -> DecodedTarget:
    """Core's SetCompact: 8-bit exponent, sign bit 0x00800000, 23-bit mantissa."""
    size = bits >> 24
    word = bits & 0x007FFFFF
    if size <= 3:
        target = word >> (8 * (3 - size))
    else:
        target = word << (8 * (size - 3))
    negative = word != 0 and (bits & 0x00800000) != 0
    overflow = word != 0 and (size > 34 or (word > 0xFF and size > 33)
                              or (word > 0xFFFF and size > 32))
    return DecodedTarget(target, negative, overflow)


def bits_to_target(bits: int) -> int:
    """The target of valid bits; raises ValueError for negative or overflowing encodings."""
    decoded = decode_bits(bits)
    if decoded.negative or decoded.overflow:
        raise ValueError(f"invalid compact target 0x{bits:08x}")
    return decoded.target


def target_to_bits(target: int) -> int:
    """Core's GetCompact for a non-negative target (round-trips with :func:`bits_to_target`
    up to the precision the 23-bit mantissa keeps)."""
    if target < 0:
        raise ValueError("target must be non-negative")
    size = (target.bit_length() + 7) // 8
    if size <= 3:
        compact = target << (8 * (3 - size))
    else:
        compact = target >> (8 * (size - 3))
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    return compact | (size << 24)


def block_proof(bits: int) -> int:
    """Work a block with these bits represents: 2**256 // (target + 1); 0 for invalid bits.

    The active chain is the one with the most cumulative block_proof (pos.md, fork choice).
    """
    decoded = decode_bits(bits)
    if decoded.negative or decoded.overflow or decoded.target == 0:
        return 0
    return (1 << 256) // (decoded.target + 1)
