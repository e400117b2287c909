"""Peer bookkeeping that is pure state: token buckets, misbehaviour scores, bans, backoff.

No sockets and no clocks of its own: every method takes ``now`` so tests control time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Misbehaviour points at which a peer is disconnected and banned (Core's DISCOURAGEMENT
#: threshold).
BAN_THRESHOLD = 100
#: Default ban duration (Core's -bantime: 24 hours).
DEFAULT_BAN_SECONDS = 24 * 3600


@dataclass
class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second up to ``burst``; each message costs one
    token (or ``cost``). A peer that outruns the bucket gets its excess dropped and scored."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float, cost: float = 1.0) -> bool:
        elapsed = max(0.0, now - self.updated)
        self.updated = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


@dataclass
class Misbehaviour:
    """Accumulated misbehaviour points of one peer, with the reasons (for getpeerinfo/logs)."""

    score: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, points: int, reason: str) -> bool:
        """Add points; True once the peer crossed the ban threshold."""
        self.score += points
        if len(self.reasons) < 16:
            self.reasons.append(f"{reason} (+{points})")
        return self.score >= BAN_THRESHOLD


@dataclass
class Backoff:
    """Exponential reconnect backoff: ``base * 2**failures`` seconds, capped."""

    base: float = 1.0
    cap: float = 600.0
    failures: int = 0
    next_attempt: float = 0.0

    def failed(self, now: float) -> None:
        self.next_attempt = now + min(self.cap, self.base * (2 ** self.failures))
        self.failures += 1

    def succeeded(self) -> None:
        self.failures = 0
        self.next_attempt = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_attempt


class BanList:
    """Banned hosts (IP strings) with expiry times, persisted by the address book."""

    def __init__(self, bans: dict[str, float] | None = None) -> None:
        self._bans: dict[str, float] = dict(bans or {})

    def ban(self, host: str, until: float) -> None:
        self._bans[host] = max(until, self._bans.get(host, 0.0))

    def unban(self, host: str) -> None:
        self._bans.pop(host, None)

    def is_banned(self, host: str, now: float) -> bool:
        until = self._bans.get(host)
        if until is None:
            return False
        if until <= now:
            del self._bans[host]
            return False
        return True

    def as_dict(self) -> dict[str, float]:
        return dict(self._bans)


class BoundedSet:
    """A set that forgets its oldest members past ``limit`` (per-peer known inventory)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: dict[bytes, None] = {}

    def add(self, item: bytes) -> None:
        self._items.pop(item, None)
        self._items[item] = None
        if len(self._items) > self.limit:
            del self._items[next(iter(self._items))]

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def discard(self, item: bytes) -> None:
        self._items.pop(item, None)
