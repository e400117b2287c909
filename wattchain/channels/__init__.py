"""Payment channels following BOLT 2/3/5 semantics.

Part A (this layer, pure and synchronous — no I/O, no clocks):

* :mod:`~wattchain.channels.keys` — BOLT 3 key derivation (per-commitment points, derived
  pubkeys/privkeys, revocation keys).
* :mod:`~wattchain.channels.shachain` — per-commitment secret generation and the compact
  receiver store.
* :mod:`~wattchain.channels.scripts` — funding, to_local, to_remote, HTLC and anchor scripts.
* :mod:`~wattchain.channels.commitment` — commitment transactions (fees, trimming, ordering,
  obscured commitment number), HTLC-timeout/success transactions, signing and verification.
* :mod:`~wattchain.channels.onchain` — cooperative close, CSV sweeps, HTLC claims, penalty
  transactions and revoked-commitment recognition.
* :mod:`~wattchain.channels.errors` — the :class:`ChannelError` hierarchy.

Part B (update protocol, persistence, routing, EV charging) builds on these modules. Its
chain-side safety — breach watcher (``watcher``), unilateral-close resolver (``resolver``) and
HTLC deadline enforcer (``deadline``) — is attached to a node in one call by
:func:`wattchain.channels.guards.guard`. It survives restarts and reorgs: every broadcast goes
through the node's ``outbox`` (re-sent when a reorg drops it), and ``recovery`` rebuilds the
guards' state at start by replaying the recent chain (where to look is persisted per channel).
``service`` embeds a channel node in the daemon (``channels=1``; RPCs in
``wattchain.rpc.methods.channels``).
"""

from wattchain.channels.errors import (ChannelError, CommitmentError, KeyDerivationError,
                                       OnchainError, ShachainError, SignatureError)

__all__ = ["ChannelError", "CommitmentError", "KeyDerivationError", "OnchainError",
           "ShachainError", "SignatureError"]
