"""Typed errors of the channel layer.

Every failure in channel code raises a :class:`ChannelError` subclass, so callers (the update
protocol, the watcher, RPC) can tell "the peer sent something invalid" from "our own state is
inconsistent" without parsing messages. Part B's modules may subclass :class:`ChannelError` too.
"""

from __future__ import annotations


class ChannelError(Exception):
    """Base class of every error raised by :mod:`wattchain.channels`."""


class KeyDerivationError(ChannelError):
    """A basepoint, per-commitment point or secret is not a valid secp256k1 key/scalar."""


class ShachainError(ChannelError):
    """A per-commitment secret is out of range or contradicts the secrets already stored."""


class CommitmentError(ChannelError):
    """A commitment/HTLC transaction cannot be built from the given parameters."""


class SignatureError(ChannelError):
    """A counterparty signature does not verify for the transaction it claims to sign."""


class OnchainError(ChannelError):
    """A closing, sweep, claim or penalty transaction cannot be built as asked."""
