"""Microgrid simulation through real nodes (``wattchain sim microgrid``).

Modules: profiles (deterministic solar, load and EV energy per slot), community (the
settlement plan and bookkeeping of each slot), network (in-process regtest nodes and an RPC
client), chain (contract deployment, batches, receipts), driver (the slot loop and the results
document), report (results.json, PNG plots, index.html), cli (the command).
"""
