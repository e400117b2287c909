"""The persistent address book: peers' listen addresses and the ban list, in one JSON file.

A JSON file (``peers.json`` in the node's datadir) rather than LevelDB: it is small, read once
at start and written on change/shutdown, and a human can inspect it. Writes go to a temporary
file renamed over the old one, so a crash leaves either the old or the new book, never half.
A corrupt file is set aside (renamed ``.bad``) and the node starts with an empty book: losing
peer addresses is an inconvenience, refusing to start would be worse.
"""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from wattchain.p2p.peers import Backoff, BanList

log = logging.getLogger(__name__)

#: Bound on remembered addresses (a peer cannot make us store unlimited junk).
MAX_ADDRESSES = 4096
FILE_NAME = "peers.json"


@dataclass
class AddressInfo:
    host: str
    port: int
    last_seen: float = 0.0
    backoff: Backoff = field(default_factory=Backoff)


class AddressBook:
    """Known peer addresses with reconnect backoff, plus the :class:`BanList`."""

    def __init__(self, path: Path | None, rng: random.Random | None = None) -> None:
        self.path = path
        self._rng = rng or random.Random()
        self.addresses: dict[tuple[str, int], AddressInfo] = {}
        self.bans = BanList()
        if path is not None:
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text())
            for item in data.get("addresses", []):
                info = AddressInfo(str(item["host"]), int(item["port"]),
                                   float(item.get("last_seen", 0.0)))
                self.addresses[(info.host, info.port)] = info
            self.bans = BanList({str(h): float(t) for h, t in data.get("bans", {}).items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("address book %s is corrupt (%s); starting empty", self.path, exc)
            self.path.replace(self.path.with_suffix(".bad"))
            self.addresses.clear()
            self.bans = BanList()

    def save(self) -> None:
        if self.path is None:
            return
        data = {"addresses": [{"host": a.host, "port": a.port, "last_seen": a.last_seen}
                              for a in self.addresses.values()],
                "bans": self.bans.as_dict()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    def add(self, host: str, port: int, now: float) -> bool:
        """Remember an address; True if it is new."""
        key = (host, port)
        info = self.addresses.get(key)
        if info is not None:
            info.last_seen = max(info.last_seen, now)
            return False
        if len(self.addresses) >= MAX_ADDRESSES:
            oldest = min(self.addresses.values(), key=lambda a: a.last_seen)
            del self.addresses[(oldest.host, oldest.port)]
        self.addresses[key] = AddressInfo(host, port, now)
        return True

    def get(self, host: str, port: int) -> AddressInfo | None:
        return self.addresses.get((host, port))

    def sample(self, n: int) -> list[tuple[str, int]]:
        """Up to ``n`` random addresses (for ``addr`` replies)."""
        keys = list(self.addresses)
        return self._rng.sample(keys, min(n, len(keys)))

    def candidates(self, monotonic_now: float, wall_now: float,
                   exclude: set[tuple[str, int]]) -> list[AddressInfo]:
        """Addresses worth dialling now: not excluded, not banned (bans are wall-clock times,
        they survive restarts), backoff elapsed (monotonic, per process)."""
        found = [a for k, a in self.addresses.items()
                 if k not in exclude and a.backoff.ready(monotonic_now)
                 and not self.bans.is_banned(a.host, wall_now)]
        self._rng.shuffle(found)
        return found
