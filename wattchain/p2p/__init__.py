"""Peer-to-peer networking: the wire codec (:mod:`.messages`), the sans-I/O peer state machine
(:mod:`.protocol`), the WebSocket transport (:mod:`.connection`), peer bookkeeping
(:mod:`.addrbook`, :mod:`.peers`), headers-first sync (:mod:`.sync`), early block relay after
the header/stake precheck (:mod:`.relay`) and the node that ties them to a chainstate and a
mempool (:mod:`.node`).

Layers point one way: messages <- protocol <- connection <- node; sync and peers are plain
state the node drives. Only :mod:`.connection` and :mod:`.node` touch asyncio.
"""
