"""Typed errors of the storage and chainstate layer.

Consensus failures of blocks are not errors here: ``process_block`` reports them as a result
with a reason string. These exceptions mean the node itself cannot go on (corrupt or missing
records, a database that cannot be opened, an API misuse).
"""

from __future__ import annotations


class StorageError(Exception):
    """The database could not be opened, read or written, or holds inconsistent records."""


class ChainstateError(Exception):
    """The chainstate was used wrongly (e.g. after close) or reached an impossible state."""
