"""The wallet's transactions and what follows from them: owned coins, spends, depth, maturity,
conflicts, balances, and Core-shaped listunspent / listtransactions rows.

Like Core's ``mapWallet``, only transactions are stored; coins and balances are derived from
them and from the chain tip height, so a reorg needs nothing more than moving transactions
between "confirmed at height h" and "unconfirmed".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from wattchain.consensus.params import ChainParams
from wattchain.consensus.tx_verify import is_coinstake
from wattchain.core.tx import OutPoint, Transaction, TxOut, txid_to_hex
from wattchain.node.kvstore import Batch
from wattchain.node.policy import signals_rbf
from wattchain.rpc.txjson import amount_to_coins
from wattchain.script.address import address_from_script
from wattchain.wallet import store
from wattchain.wallet.keyring import KeyRing


@dataclass
class WalletTx:
    """A transaction touching the wallet, and where it stands in the chain."""

    tx: Transaction
    time_received: int
    block_hash: bytes | None = None
    height: int | None = None
    block_pos: int = 0
    block_time: int = 0

    @property
    def txid(self) -> bytes:
        return self.tx.txid

    @property
    def is_generated(self) -> bool:
        """Coinbase or coinstake: outputs must mature and the tx dies with its block."""
        return self.tx.is_coinbase() or is_coinstake(self.tx)

    def to_record(self) -> dict[str, Any]:
        return {"raw": self.tx.serialize(), "time": self.time_received,
                "block": self.block_hash, "height": self.height, "pos": self.block_pos,
                "btime": self.block_time}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "WalletTx":
        return cls(Transaction.deserialize(bytes(record["raw"])), int(record["time"]),
                   record["block"], record["height"], int(record["pos"]),
                   int(record["btime"]))


@dataclass(frozen=True)
class OwnedCoin:
    """An unspent output the wallet follows."""

    outpoint: OutPoint
    output: TxOut
    wtx: WalletTx
    depth: int
    spendable: bool
    solvable: bool
    trusted: bool


class Ledger:
    """All wallet transactions plus the tip they are measured against."""

    def __init__(self, keyring: KeyRing, params: ChainParams) -> None:
        self.keyring = keyring
        self.params = params
        self.txs: dict[bytes, WalletTx] = {}
        self.spenders: dict[OutPoint, set[bytes]] = {}
        self.tip_height = -1
        self.tip_hash: bytes | None = None
        #: Transactions every owned output of which has a *confirmed* spender: they add
        #: nothing to :meth:`coins`, which then skips them instead of re-examining the whole
        #: history on every spend (a busy wallet holds thousands). An entry only goes stale
        #: when a spender leaves the chain or the wallet (unconfirm/forget drop its parents)
        #: or the keyring learns a script (the set is rebuilt).
        self._settled: set[bytes] = set()
        self._settled_scripts = -1

    # ------------------------------------------------------------------ recording
    def load(self, records: Iterable[tuple[bytes, dict[str, Any]]]) -> None:
        for _, record in records:
            self._index(WalletTx.from_record(record))

    def _index(self, wtx: WalletTx) -> None:
        self.txs[wtx.txid] = wtx
        if not wtx.tx.is_coinbase():
            for txin in wtx.tx.inputs:
                self.spenders.setdefault(txin.prevout, set()).add(wtx.txid)

    def is_relevant(self, tx: Transaction) -> bool:
        """Pays or spends the wallet — or spends an input of a wallet transaction. The last
        kind is recorded so that a payment to us whose sender double-spent it (say, their
        staker staked the same coin) shows as conflicted once the rival confirms, instead of
        counting as pending forever (Core's MarkConflicted through mapTxSpends)."""
        if any(out.script_pubkey in self.keyring.scripts for out in tx.outputs):
            return True
        if tx.is_coinbase():
            return False
        return any(self.owned_output(txin.prevout) is not None
                   or any(other != tx.txid for other in self.spenders.get(txin.prevout, ()))
                   for txin in tx.inputs)

    def owned_output(self, outpoint: OutPoint) -> TxOut | None:
        wtx = self.txs.get(outpoint.txid)
        if wtx is None or outpoint.index >= len(wtx.tx.outputs):
            return None
        out = wtx.tx.outputs[outpoint.index]
        return out if out.script_pubkey in self.keyring.scripts else None

    def add(self, tx: Transaction, batch: Batch, now: int, *, block_hash: bytes | None = None,
            height: int | None = None, pos: int = 0, block_time: int = 0) -> bool:
        """Record ``tx`` (confirmed when ``block_hash`` is given) if it touches the wallet.
        Returns True if it did; the record goes into ``batch``."""
        wtx = self.txs.get(tx.txid)
        if wtx is None:
            if not self.is_relevant(tx):
                return False
            wtx = WalletTx(tx, now)
            self._index(wtx)
        elif block_hash is None:
            return True  # already known (a mempool re-announcement)
        wtx.block_hash, wtx.height, wtx.block_pos, wtx.block_time = (
            block_hash, height, pos, block_time)
        if tx.has_witness and not wtx.tx.has_witness:
            wtx.tx = tx
        for out in tx.outputs:
            self.keyring.mark_used(out.script_pubkey)
        store.put_tx(batch, tx.txid, wtx.to_record())
        return True

    def unconfirm(self, txid: bytes, batch: Batch) -> None:
        """A block holding ``txid`` was disconnected: back to unconfirmed, or gone for a
        coinbase/coinstake (it cannot exist outside its block)."""
        wtx = self.txs.get(txid)
        if wtx is None:
            return
        if wtx.is_generated:
            self.forget(txid, batch)
            return
        wtx.block_hash, wtx.height, wtx.block_pos, wtx.block_time = None, None, 0, 0
        self._unsettle_parents(wtx)
        store.put_tx(batch, txid, wtx.to_record())

    def forget(self, txid: bytes, batch: Batch) -> None:
        """Drop ``txid`` from the wallet (its inputs become unspent again for us)."""
        wtx = self.txs.pop(txid)
        self._settled.discard(txid)
        self._unsettle_parents(wtx)
        for txin in wtx.tx.inputs:
            spenders = self.spenders.get(txin.prevout)
            if spenders is not None:
                spenders.discard(txid)
        store.delete_tx(batch, txid)

    def unconfirmed_descendants(self, txid: bytes) -> list[bytes]:
        """``txid`` and every unconfirmed wallet tx spending its outputs, children last."""
        order, stack = [], [txid]
        while stack:
            current = stack.pop()
            if current in order:
                continue
            order.append(current)
            for index in range(len(self.txs[current].tx.outputs)):
                for child in self.spenders.get(OutPoint(current, index), ()):
                    if self.txs[child].height is None:
                        stack.append(child)
        return order

    # ------------------------------------------------------------------ status
    def depth(self, wtx: WalletTx) -> int:
        """Confirmations; 0 unconfirmed, -1 conflicting with a confirmed transaction."""
        if wtx.height is not None:
            return max(0, self.tip_height - wtx.height + 1)
        return -1 if self.is_conflicted(wtx) else 0

    def is_conflicted(self, wtx: WalletTx) -> bool:
        if wtx.height is not None or wtx.tx.is_coinbase():
            return False
        for txin in wtx.tx.inputs:
            for other in self.spenders.get(txin.prevout, ()):
                if other != wtx.txid and self.txs[other].height is not None:
                    return True
            parent = self.txs.get(txin.prevout.txid)
            if parent is not None and parent.height is None and self.is_conflicted(parent):
                return True
        return False

    def is_immature(self, wtx: WalletTx) -> bool:
        """A coinbase/coinstake whose outputs cannot be spent by the next block."""
        if not wtx.is_generated:
            return False
        if wtx.height is None:
            return True
        return not self.params.generated_coin_mature(wtx.height, self.tip_height + 1)

    def is_from_me(self, wtx: WalletTx) -> bool:
        """Every input spends an output of ours (the wallet created it)."""
        if wtx.tx.is_coinbase():
            return False
        return all(self.owned_output(txin.prevout) is not None for txin in wtx.tx.inputs)

    def is_trusted(self, wtx: WalletTx, _seen: frozenset[bytes] = frozenset()) -> bool:
        """Core's CachedTxIsTrusted: confirmed, or our own unconfirmed tx whose inputs are all
        ours and trusted."""
        depth = self.depth(wtx)
        if depth >= 1:
            return True
        if depth < 0 or not self.is_from_me(wtx) or wtx.txid in _seen:
            return False
        seen = _seen | {wtx.txid}
        return all(self.is_trusted(self.txs[txin.prevout.txid], seen)
                   for txin in wtx.tx.inputs)

    def _unsettle_parents(self, wtx: WalletTx) -> None:
        for txin in wtx.tx.inputs:
            self._settled.discard(txin.prevout.txid)

    def _is_settled(self, wtx: WalletTx) -> bool:
        """Every output of ours has a confirmed spender (see ``_settled``)."""
        scripts, txid = self.keyring.scripts, wtx.txid
        for index, out in enumerate(wtx.tx.outputs):
            if out.script_pubkey in scripts and not any(
                    self.txs[spender].height is not None
                    for spender in self.spenders.get(OutPoint(txid, index), ())):
                return False
        return True

    def is_spent(self, outpoint: OutPoint) -> bool:
        return any(self.depth(self.txs[txid]) >= 0 for txid in self.spenders.get(outpoint, ()))

    def coins(self, *, include_immature: bool = False,
              script: bytes | None = None) -> list[OwnedCoin]:
        """Unspent outputs the wallet follows (mine and watch-only), oldest first; only those
        paying ``script`` when it is given (a contract sender's coins, without examining the
        status of every other transaction)."""
        result = []
        scripts = self.keyring.scripts
        if len(scripts) != self._settled_scripts:
            self._settled.clear()
            self._settled_scripts = len(scripts)
        settled = self._settled
        pending = [wtx for txid, wtx in self.txs.items() if txid not in settled]
        if script is not None:
            if script not in scripts:
                return []
            pending = [wtx for wtx in pending
                       if any(out.script_pubkey == script for out in wtx.tx.outputs)]
        for wtx in sorted(pending, key=_order):
            if self._is_settled(wtx):
                settled.add(wtx.txid)
                continue
            depth = self.depth(wtx)
            if depth < 0 or (wtx.is_generated and depth == 0):
                continue
            if not include_immature and self.is_immature(wtx):
                continue
            trusted = self.is_trusted(wtx)
            for index, out in enumerate(wtx.tx.outputs):
                if out.script_pubkey not in scripts or (script is not None
                                                        and out.script_pubkey != script):
                    continue
                outpoint = OutPoint(wtx.txid, index)
                if self.is_spent(outpoint):
                    continue
                result.append(OwnedCoin(outpoint, out, wtx, depth,
                                        self.keyring.is_spendable(out.script_pubkey),
                                        self.keyring.is_solvable(out.script_pubkey), trusted))
        return result

    # ------------------------------------------------------------------ reports
    def balances(self) -> dict[str, dict[str, Decimal]]:
        """getbalances: ``mine`` (and ``watchonly`` when any) with trusted,
        untrusted_pending, immature, plus Qtum's ``stake`` (immature coinstake outputs)."""
        sums = {key: {"trusted": 0, "untrusted_pending": 0, "immature": 0, "stake": 0}
                for key in ("mine", "watchonly")}
        for coin in self.coins(include_immature=True):
            bucket = sums["mine" if coin.spendable else "watchonly"]
            value = coin.output.value
            if self.is_immature(coin.wtx):
                bucket["stake" if is_coinstake(coin.wtx.tx) else "immature"] += value
            elif coin.trusted:
                bucket["trusted"] += value
            else:
                bucket["untrusted_pending"] += value
        result = {"mine": {k: amount_to_coins(v) for k, v in sums["mine"].items()}}
        if any(info.kind == "watchonly" or not self.keyring.is_spendable(script)
               for script, info in self.keyring.scripts.items() if info.kind != "hd"):
            result["watchonly"] = {k: amount_to_coins(v) for k, v in sums["watchonly"].items()}
        return result

    def unspent_rows(self, fmt: Any, min_conf: int = 1, max_conf: int = 9_999_999,
                     locked: set[OutPoint] | frozenset[OutPoint] = frozenset()
                     ) -> list[dict[str, Any]]:
        """listunspent rows (Core's field names)."""
        rows = []
        for coin in self.coins():
            if not min_conf <= coin.depth <= max_conf or coin.outpoint in locked:
                continue
            info = self.keyring.scripts[coin.output.script_pubkey]
            row: dict[str, Any] = {
                "txid": txid_to_hex(coin.outpoint.txid), "vout": coin.outpoint.index}
            address = address_from_script(coin.output.script_pubkey, fmt)
            if address is not None:
                row["address"] = address
                row["label"] = info.label
            row["scriptPubKey"] = coin.output.script_pubkey.hex()
            if info.witness_script is not None:
                row["witnessScript"] = info.witness_script.hex()
            row.update({"amount": amount_to_coins(coin.output.value),
                        "confirmations": coin.depth, "spendable": coin.spendable,
                        "solvable": coin.solvable, "safe": coin.trusted})
            rows.append(row)
        return rows

    def transaction_rows(self, fmt: Any) -> list[dict[str, Any]]:
        """listtransactions rows, oldest first (the caller slices count/skip)."""
        rows = []
        for wtx in sorted(self.txs.values(), key=_order):
            rows.extend(self._rows_for(wtx, fmt))
        return rows

    def _rows_for(self, wtx: WalletTx, fmt: Any) -> list[dict[str, Any]]:
        tx = wtx.tx
        depth = self.depth(wtx)
        common: dict[str, Any] = {"confirmations": depth}
        if wtx.is_generated:
            common["generated"] = True
        if wtx.height is not None:
            common.update({"blockhash": txid_to_hex(wtx.block_hash or b""),
                           "blockheight": wtx.height, "blockindex": wtx.block_pos,
                           "blocktime": wtx.block_time})
        common.update({"txid": txid_to_hex(wtx.txid), "time": wtx.block_time or
                       wtx.time_received, "timereceived": wtx.time_received,
                       "bip125-replaceable": self._replaceable(wtx)})
        debit = sum((out.value for txin in tx.inputs if not tx.is_coinbase()
                     if (out := self.owned_output(txin.prevout)) is not None), 0)
        rows = []
        if debit and not wtx.is_generated:
            fee = sum(self.owned_output(txin.prevout).value  # type: ignore[union-attr]
                      for txin in tx.inputs) - tx.total_output_value() \
                if self.is_from_me(wtx) else 0
            for index, out in enumerate(tx.outputs):
                if self.keyring.scripts.get(out.script_pubkey) and self._is_change(out):
                    continue
                rows.append({"address": address_from_script(out.script_pubkey, fmt),
                             "category": "send", "amount": -amount_to_coins(out.value),
                             "vout": index, "fee": -amount_to_coins(fee), **common})
        for index, out in enumerate(tx.outputs):
            info = self.keyring.scripts.get(out.script_pubkey)
            if info is None or (debit and not wtx.is_generated and self._is_change(out)):
                continue
            if wtx.is_generated:
                category = "immature" if self.is_immature(wtx) else "generate"
                if is_coinstake(tx) and debit:
                    # A coinstake pays the stake back: report the net reward once.
                    value = tx.total_output_value() - debit
                    rows.append({"address": address_from_script(out.script_pubkey, fmt),
                                 "category": category, "amount": amount_to_coins(value),
                                 "label": info.label, "vout": index, **common})
                    break
            else:
                category = "receive"
            rows.append({"address": address_from_script(out.script_pubkey, fmt),
                         "category": category, "amount": amount_to_coins(out.value),
                         "label": info.label, "vout": index, **common})
        return rows

    def _is_change(self, out: TxOut) -> bool:
        info = self.keyring.scripts.get(out.script_pubkey)
        return info is not None and info.kind == "hd" and info.path is not None \
            and info.path[0] == 1

    def _replaceable(self, wtx: WalletTx) -> str:
        if wtx.height is not None:
            return "no"
        return "yes" if signals_rbf(wtx.tx) else "unknown"


def _order(wtx: WalletTx) -> tuple[int, int, int]:
    """Chain order for confirmed transactions, then arrival order for unconfirmed ones."""
    if wtx.height is not None:
        return (0, wtx.height, wtx.block_pos)
    return (1, wtx.time_received, 0)
