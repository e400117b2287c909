"""JSON views of chain objects, shaped like Bitcoin Core's RPC results (the RPC server comes later)."""
