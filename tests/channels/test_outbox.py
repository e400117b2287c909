"""The outbox re-sends our transactions a reorg took off the chain (in chain order), except
those whose parent left the chain for good, and those that came back on the new chain; after a
restart replay it sends only what is still spendable."""

from __future__ import annotations

from dataclasses import dataclass

from wattchain.channels.outbox import FORGET_DEPTH, Outbox
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut


@dataclass
class _Block:
    transactions: tuple[Transaction, ...]


@dataclass
class _Entry:
    height: int


class _Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def broadcast(self, tx: Transaction) -> None:
        self.sent.append(tx.txid)


def _tx(parent: bytes, index: int = 0, tag: int = 0) -> Transaction:
    return Transaction(2, (TxIn(OutPoint(parent, index), b"", 0xFFFFFFFF),),
                       (TxOut(1_000 + tag, b"\x51"),), 0)


def test_reorg_resends_lost_txs_in_chain_order_but_not_orphans() -> None:
    sink = _Sink()
    box = Outbox(sink)
    theirs = _tx(b"\x01" * 32)                 # e.g. a commitment someone else broadcast
    ours_a = _tx(b"\x02" * 32)                 # e.g. a penalty of an older block
    ours_b = _tx(b"\x03" * 32)
    orphan = _tx(theirs.txid)                  # ours, spending theirs
    back = _tx(b"\x04" * 32)                   # ours, re-mined on the new chain
    for tx in (ours_a, ours_b, orphan, back):
        box.broadcast(tx)
    sink.sent.clear()
    box.block_connected(_Block((ours_a, theirs)), _Entry(10))
    box.block_connected(_Block((ours_b, orphan, back)), _Entry(11))
    box.tip_changed(_Entry(11))
    assert sink.sent == []
    box.block_disconnected(_Block((ours_b, orphan, back)), _Entry(11))
    box.block_disconnected(_Block((ours_a, theirs)), _Entry(10))
    box.block_connected(_Block((back,)), _Entry(10))
    box.tip_changed(_Entry(10))
    assert sink.sent == [ours_a.txid, ours_b.txid]
    sink.sent.clear()
    box.tip_changed(_Entry(10))                # nothing pending any more
    assert sink.sent == []


def test_buried_txs_are_forgotten() -> None:
    box = Outbox(_Sink())
    tx = _tx(b"\x05" * 32)
    box.broadcast(tx)
    box.block_connected(_Block((tx,)), _Entry(5))
    box.block_connected(_Block(()), _Entry(5 + FORGET_DEPTH - 1))
    assert tx.txid in box.sent
    box.block_connected(_Block(()), _Entry(5 + FORGET_DEPTH))
    assert tx.txid not in box.sent


def test_release_after_replay_sends_only_spendable() -> None:
    sink = _Sink()
    box = Outbox(sink)
    spent_parent = _tx(b"\x06" * 32)
    live = _tx(b"\x07" * 32)
    box.hold()
    box.broadcast(spent_parent)
    box.broadcast(live)
    box.broadcast(live)                        # collected once
    assert sink.sent == []
    out = box.release(lambda op: op.txid == b"\x07" * 32)
    assert [t.txid for t in out] == sink.sent == [live.txid]
    box.broadcast(spent_parent)                # no longer held: sent at once
    assert sink.sent == [live.txid, spent_parent.txid]
