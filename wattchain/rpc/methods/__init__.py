"""The RPC method table: one module per Core help category.

A method is a plain ``async def handler(ctx, args)`` plus its parameter spec; ``args`` is the
bound ``{name: value}`` mapping (see :mod:`wattchain.rpc.params`). Each category module exports
an immutable ``METHODS`` tuple; :func:`all_methods` joins them. The CLI reads the same specs to
decide which arguments to parse as JSON, so client and server cannot disagree.
"""

from __future__ import annotations

from wattchain.rpc.methods import (blockchain, channels, contracts, control, mempool, meters,
                                   network, psbt, rawtransactions, staking, util, waits,
                                   wallet)
from wattchain.rpc.methods.base import Handler, RpcContext, RpcMethod

__all__ = ["Handler", "RpcContext", "RpcMethod", "all_methods"]


def all_methods() -> dict[str, RpcMethod]:
    """Every method by name, in Core's category order."""
    table: dict[str, RpcMethod] = {}
    for module in (blockchain, control, mempool, network, rawtransactions, psbt, util, wallet,
                   staking, contracts, meters, channels, waits):
        for method in module.METHODS:
            if method.name in table:
                raise ValueError(f"duplicate RPC method {method.name}")
            table[method.name] = method
    return table
