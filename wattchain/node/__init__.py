"""The node's storage and chain state: LevelDB schema, UTXO database, block index, chainstate.

Everything here is synchronous; networking and RPC layers call in from their own loops.
"""
