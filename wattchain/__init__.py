"""wattchain: a Bitcoin-compatible Proof-of-Stake UTXO chain for peer-to-peer energy trading.

Layering (dependencies point one way): ``core`` <- ``script`` <- ``consensus`` <- ``node``;
``p2p``, ``rpc``, ``wallet``, ``contracts``, ``channels`` and ``energy`` sit on top.
"""

__version__ = "0.1.0"
