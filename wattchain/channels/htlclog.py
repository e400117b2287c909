"""Which HTLCs and balances each side's commitment holds, at every commitment number.

Why a log rather than two mutable HTLC sets: in BOLT 2 both sides propose updates at any time
and an update reaches the two commitments at different moments (the proposer's counterparty's
commitment first, on the proposer's commitment_signed; the proposer's own only after the
counterparty revokes). Recording for every add and every removal the commitment number at
which it takes effect *in each side's commitment* (as Electrum's HTLC manager does) answers
"what is in LOCAL/REMOTE commitment n" for any n — the current ones, the next one being
signed, and old revoked ones the watcher must reconstruct for a penalty.

``LOCAL``/``REMOTE`` name both the proposer of an HTLC (who offered it) and the *subject*
whose commitment transaction is meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOCAL = "local"
REMOTE = "remote"
SIDES = (LOCAL, REMOTE)


def other(side: str) -> str:
    return REMOTE if side == LOCAL else LOCAL


class HtlcLogError(ValueError):
    """An update that the protocol does not allow in the current state."""


@dataclass(frozen=True)
class LoggedHtlc:
    """One HTLC as offered by ``proposer`` (ids count per proposer from 0)."""

    proposer: str
    id: int
    amount_msat: int
    payment_hash: bytes
    cltv_expiry: int
    route: bytes = b""


@dataclass
class Entry:
    """An HTLC and the commitment numbers at which it is added to / removed from each side."""

    htlc: LoggedHtlc
    added: dict[str, int | None]
    removed: dict[str, int | None]
    #: "fulfill" or "fail" once removal was proposed.
    outcome: str | None = None
    preimage: bytes | None = None
    fail_reason: bytes = b""
    #: For an HTLC we offered while forwarding: the incoming HTLC (channel id, its id) it
    #: forwards. Stored with the entry, so the link reaches the disk in the same write batch
    #: as the outgoing HTLC itself and a restarted node still settles or fails back.
    forward_from: tuple[bytes, int] | None = None

    def to_record(self) -> dict[str, Any]:
        h = self.htlc
        return {"p": h.proposer, "i": h.id, "a": h.amount_msat, "h": h.payment_hash,
                "c": h.cltv_expiry, "r": h.route, "ad": self.added, "rm": self.removed,
                "o": self.outcome, "pi": self.preimage, "fr": self.fail_reason,
                "fw": None if self.forward_from is None else list(self.forward_from)}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "Entry":
        htlc = LoggedHtlc(rec["p"], rec["i"], rec["a"], rec["h"], rec["c"], rec["r"])
        fw = rec.get("fw")
        return cls(htlc, dict(rec["ad"]), dict(rec["rm"]), rec["o"], rec["pi"], rec["fr"],
                   None if fw is None else (bytes(fw[0]), int(fw[1])))


class HtlcLog:
    """The update log of one channel. Mutations mark entries dirty for the store."""

    def __init__(self) -> None:
        #: Latest commitment number of each side's commitment (signed, maybe not yet revoked).
        self.latest: dict[str, int] = {LOCAL: 0, REMOTE: 0}
        #: Oldest not-yet-revoked commitment number of each side.
        self.oldest_unrevoked: dict[str, int] = {LOCAL: 0, REMOTE: 0}
        #: Every HTLC ever added (old commitments need them: the watcher rebuilds revoked ones).
        self.entries: dict[tuple[str, int], Entry] = {}
        #: The ones not yet removed from both sides' current commitments — the only ones
        #: that can matter for current and future commitments, so scans stay short.
        self.active: dict[tuple[str, int], Entry] = {}
        #: Balance moves of the archived (fully removed) HTLCs, and per side the highest
        #: commitment number at which one of them was removed: at or above it, the archived
        #: HTLCs are summarised exactly by ``archived_delta``.
        self.archived_delta: dict[str, int] = {LOCAL: 0, REMOTE: 0}
        self.horizon: dict[str, int] = {LOCAL: 0, REMOTE: 0}
        self.next_id: dict[str, int] = {LOCAL: 0, REMOTE: 0}
        self.dirty: set[tuple[str, int]] = set()

    # ------------------------------------------------------------------ updates
    def add(self, htlc: LoggedHtlc) -> Entry:
        """``htlc.proposer`` offers an HTLC: it enters the *other* side's next commitment."""
        if htlc.id != self.next_id[htlc.proposer]:
            raise HtlcLogError(f"htlc id {htlc.id} out of order "
                               f"(expected {self.next_id[htlc.proposer]})")
        target = other(htlc.proposer)
        added: dict[str, int | None] = {LOCAL: None, REMOTE: None}
        added[target] = self.latest[target] + 1
        entry = Entry(htlc, added, {LOCAL: None, REMOTE: None})
        self.entries[(htlc.proposer, htlc.id)] = entry
        self.active[(htlc.proposer, htlc.id)] = entry
        self.next_id[htlc.proposer] += 1
        self.dirty.add((htlc.proposer, htlc.id))
        return entry

    def remove(self, remover: str, proposer: str, htlc_id: int, outcome: str,
               preimage: bytes | None = None, reason: bytes = b"") -> Entry:
        """``remover`` (the side the HTLC was offered to) fulfills or fails it; the removal
        enters the proposer's next commitment first."""
        if remover == proposer:
            raise HtlcLogError("only the receiving side may remove an HTLC")
        entry = self.entries.get((proposer, htlc_id))
        if entry is None:
            raise HtlcLogError(f"unknown htlc {htlc_id}")
        if entry.outcome is not None:
            raise HtlcLogError(f"htlc {htlc_id} already removed")
        if not self.is_locked_in(entry):
            raise HtlcLogError(f"htlc {htlc_id} is not irrevocably committed yet")
        entry.removed[proposer] = self.latest[proposer] + 1
        entry.outcome = outcome
        entry.preimage = preimage
        entry.fail_reason = reason
        self.dirty.add((proposer, htlc_id))
        return entry

    # ------------------------------------------------------------------ commitments
    def pending_for(self, subject: str) -> bool:
        """Whether ``subject``'s next commitment would differ from its latest one."""
        nxt = self.latest[subject] + 1
        return any(e.added[subject] == nxt or e.removed[subject] == nxt
                   for e in self.active.values())

    def commitment_signed(self, subject: str) -> int:
        """A new commitment of ``subject`` was signed (sent or received): its number."""
        self.latest[subject] += 1
        return self.latest[subject]

    def revoked(self, subject: str) -> None:
        """``subject`` revoked its previous commitment: updates that entered it now enter the
        counterparty's next commitment (the BOLT 2 "irrevocably committed" hand-over)."""
        if self.oldest_unrevoked[subject] >= self.latest[subject]:
            raise HtlcLogError("nothing to revoke")
        self.oldest_unrevoked[subject] += 1
        counter = other(subject)
        nxt = self.latest[counter] + 1
        acked = self.oldest_unrevoked[subject]
        for key, e in self.active.items():
            a, r = e.added[subject], e.removed[subject]
            if a is not None and a <= acked and e.added[counter] is None:
                e.added[counter] = nxt
                self.dirty.add(key)
            if r is not None and r <= acked and e.removed[counter] is None:
                e.removed[counter] = nxt
                self.dirty.add(key)
        self._archive()

    def _archive(self) -> None:
        """Move HTLCs removed from both current commitments out of the active set."""
        done = [k for k, e in self.active.items() if self.is_removed_fully(e)]
        for key in done:
            e = self.active.pop(key)
            if e.outcome == "fulfill":
                self.archived_delta[e.htlc.proposer] -= e.htlc.amount_msat
                self.archived_delta[other(e.htlc.proposer)] += e.htlc.amount_msat
            for side in SIDES:
                self.horizon[side] = max(self.horizon[side], e.removed[side] or 0)

    def htlcs_in(self, subject: str, ctn: int) -> list[Entry]:
        """HTLCs present in ``subject``'s commitment number ``ctn`` (id order per proposer)."""
        pool = self.active if ctn >= self.horizon[subject] else self.entries
        out = []
        for e in pool.values():
            a, r = e.added[subject], e.removed[subject]
            if a is not None and a <= ctn and (r is None or r > ctn):
                out.append(e)
        return out

    def balance_delta_msat(self, subject: str, ctn: int) -> dict[str, int]:
        """How much each side's balance moved by HTLCs at ``subject``'s commitment ``ctn``:
        in-flight HTLCs are taken off their proposer, fulfilled ones go to the receiver."""
        if ctn >= self.horizon[subject]:
            delta, pool = dict(self.archived_delta), self.active
        else:
            delta, pool = {LOCAL: 0, REMOTE: 0}, self.entries
        for e in pool.values():
            a, r = e.added[subject], e.removed[subject]
            if a is None or a > ctn:
                continue
            proposer = e.htlc.proposer
            if r is not None and r <= ctn:
                if e.outcome == "fulfill":
                    delta[proposer] -= e.htlc.amount_msat
                    delta[other(proposer)] += e.htlc.amount_msat
            else:
                delta[proposer] -= e.htlc.amount_msat
        return delta

    def is_locked_in(self, entry: Entry) -> bool:
        """Added to both commitments and the commitments without it revoked on both sides."""
        a_l, a_r = entry.added[LOCAL], entry.added[REMOTE]
        return (a_l is not None and a_r is not None
                and a_l <= self.oldest_unrevoked[LOCAL] and a_r <= self.oldest_unrevoked[REMOTE])

    def is_removed_fully(self, entry: Entry) -> bool:
        r_l, r_r = entry.removed[LOCAL], entry.removed[REMOTE]
        return (r_l is not None and r_r is not None
                and r_l <= self.oldest_unrevoked[LOCAL] and r_r <= self.oldest_unrevoked[REMOTE])

    def unresolved(self) -> list[Entry]:
        """HTLCs not yet removed from both current commitments (closing must wait for them)."""
        return [e for e in self.active.values() if not self.is_removed_fully(e)]

    # ------------------------------------------------------------------ persistence
    def header_record(self) -> dict[str, Any]:
        return {"latest": self.latest, "oldest": self.oldest_unrevoked, "next": self.next_id}

    def take_dirty(self) -> list[Entry]:
        out = [self.entries[k] for k in sorted(self.dirty)]
        self.dirty.clear()
        return out

    @classmethod
    def restore(cls, header: dict[str, Any], records: list[dict[str, Any]]) -> "HtlcLog":
        log = cls()
        log.latest = dict(header["latest"])
        log.oldest_unrevoked = dict(header["oldest"])
        log.next_id = dict(header["next"])
        for rec in records:
            entry = Entry.from_record(rec)
            log.entries[(entry.htlc.proposer, entry.htlc.id)] = entry
            log.active[(entry.htlc.proposer, entry.htlc.id)] = entry
        log._archive()
        return log
