"""Typed consensus failures carrying Bitcoin Core-style reason strings."""

from __future__ import annotations


class ValidationError(Exception):
    """A consensus or policy rule was broken; ``reason`` is Core's reject string
    (``bad-txns-vin-empty``, ``bad-blk-weight`` ...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class TxValidationError(ValidationError):
    """A transaction is invalid."""


class BlockValidationError(ValidationError):
    """A block is invalid."""
