"""Log criteria and installed filters (``eth_newFilter``, ``eth_newBlockFilter``).

Why a registry with bounds (issue 12, defect 4): a filter lives in the node's memory until it
is uninstalled, and clients that disappear never uninstall theirs. So, like geth, a filter not
polled for :data:`FILTER_TTL` seconds is dropped; beyond geth, at most :data:`MAX_FILTERS` live
at once and each holds at most :data:`MAX_CRITERIA_ENTRIES` addresses and topics, already
parsed: the memory of all filters together is bounded (about 20 MB at worst), whatever clients
send. Filter ids are random (128 bits), so one client cannot poll or uninstall another's.

Criteria are parsed once, here, for ``eth_getLogs`` and ``eth_newFilter`` alike: an unknown
key, a malformed address or topic is -32602 naming it, never a filter that silently matches
nothing (or everything).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ._params import address, echo, fixed, quantity
from .errors import InvalidParamsError, LimitExceededError

__all__ = [
    "FILTER_TTL", "MAX_FILTERS", "MAX_CRITERIA_ENTRIES", "BLOCK_TAGS", "LogCriteria",
    "InstalledFilter", "FilterRegistry", "FilterNotFoundError", "TooManyFiltersError",
    "log_criteria",
]

#: seconds a filter lives without being polled (geth's deadline)
FILTER_TTL = 300.0
#: live filters per node
MAX_FILTERS = 1_000
#: addresses plus topic alternatives in one criteria object
MAX_CRITERIA_ENTRIES = 256
BLOCK_TAGS = ("latest", "pending", "safe", "finalized", "earliest")
_KEYS = ("address", "blockHash", "fromBlock", "toBlock", "topics")

#: a block bound: None (default), a tag from BLOCK_TAGS, or a block number
BlockBound = str | int | None


class FilterNotFoundError(InvalidParamsError):
    """No live filter has this id (never installed, uninstalled, or expired unpolled)."""


class TooManyFiltersError(LimitExceededError):
    """:data:`MAX_FILTERS` filters are live; uninstall one or wait for unpolled ones to expire."""


@dataclass(frozen=True)
class LogCriteria:
    """A parsed filter object; ``topics[i]`` None matches anything at position i."""

    from_block: BlockBound = None
    to_block: BlockBound = None
    block_hash: bytes | None = None
    addresses: tuple[bytes, ...] = ()
    topics: tuple[tuple[bytes, ...] | None, ...] = ()


def _bound(value: Any, what: str) -> BlockBound:
    if value is None or value in BLOCK_TAGS:
        return value  # type: ignore[no-any-return]
    return quantity(value, what)


def log_criteria(obj: Any, method: str) -> LogCriteria:
    """Parse an ``eth_getLogs`` / ``eth_newFilter`` filter object, or say what is wrong."""
    if not isinstance(obj, dict):
        raise InvalidParamsError(f"{method}: filter must be an object")
    unknown = sorted(k for k in obj if k not in _KEYS)
    if unknown:
        raise InvalidParamsError(f"filter: unknown key {echo(unknown[0])!r} (allowed: "
                                 f"{', '.join(_KEYS)})")
    block_hash = None
    if obj.get("blockHash") is not None:
        if obj.get("fromBlock") is not None or obj.get("toBlock") is not None:
            raise InvalidParamsError("filter: blockHash excludes fromBlock and toBlock")
        block_hash = fixed(obj["blockHash"], 32, "blockHash")
    from_block = _bound(obj.get("fromBlock"), "fromBlock")
    to_block = _bound(obj.get("toBlock"), "toBlock")
    if isinstance(from_block, int) and isinstance(to_block, int) and from_block > to_block:
        raise InvalidParamsError(f"fromBlock: block {from_block} is after toBlock {to_block}")
    raw_addresses = obj.get("address")
    if raw_addresses is None:
        addresses: tuple[bytes, ...] = ()
    elif isinstance(raw_addresses, list):
        addresses = tuple(address(a, f"address[{i}]") for i, a in
                          enumerate(raw_addresses[:MAX_CRITERIA_ENTRIES + 1]))
    else:
        addresses = (address(raw_addresses, "address"),)
    raw_topics = obj.get("topics")
    if raw_topics is None:
        raw_topics = []
    if not isinstance(raw_topics, list) or len(raw_topics) > 4:
        raise InvalidParamsError("topics: expected an array of at most 4 positions")
    topics: list[tuple[bytes, ...] | None] = []
    for i, t in enumerate(raw_topics):
        alts = (t if isinstance(t, list) else [t])[:MAX_CRITERIA_ENTRIES + 1]
        parsed = tuple(fixed(a, 32, f"topics[{i}]") for a in alts if a is not None)
        # null, [] or an OR-list holding null: anything matches at this position
        topics.append(None if len(parsed) < len(alts) or not alts else parsed)
    entries = len(addresses) + sum(len(t) for t in topics if t)
    if entries > MAX_CRITERIA_ENTRIES:
        raise InvalidParamsError(f"filter: more than {MAX_CRITERIA_ENTRIES} addresses and topics "
                                 f"in one filter; split the query")
    return LogCriteria(from_block, to_block, block_hash, addresses, tuple(topics))


@dataclass
class InstalledFilter:
    """One live filter: ``last_block`` is the newest block already reported to its poller."""

    kind: str  # "logs" or "blocks"
    criteria: LogCriteria | None
    last_block: int
    last_poll: float


def filter_id(value: Any) -> str:
    """A filter id as a client sends it (a hex string), refused if it cannot be one."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise InvalidParamsError(f"filter id: expected a hex id like 0x1f, got {echo(value)}")
    return value.lower()


class FilterRegistry:
    """The live filters of one node, bounded in number and expiring when not polled."""

    def __init__(self, limit: int = MAX_FILTERS, ttl: float = FILTER_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.ttl = ttl
        self.clock = clock
        self._filters: dict[str, InstalledFilter] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._filters)

    def install(self, kind: str, criteria: LogCriteria | None, head: int) -> str:
        with self._lock:
            now = self.clock()
            self._expire(now)
            if len(self._filters) >= self.limit:
                raise TooManyFiltersError(
                    f"too many filters: {self.limit} are live; uninstall one "
                    f"(eth_uninstallFilter) or wait for unpolled ones to expire "
                    f"({self.ttl:.0f} s)")
            fid = hex(secrets.randbits(127) | 1 << 127)  # 128 bits, no leading zero: a quantity, as geth's ids
            self._filters[fid] = InstalledFilter(kind, criteria, head, now)
            return fid

    def take_changes(self, fid: Any, head: int) -> InstalledFilter:
        """The filter as it was before this poll; it has now reported up to ``head``."""
        key = filter_id(fid)
        with self._lock:
            f = self._live(key)
            before = replace(f)
            f.last_block, f.last_poll = max(f.last_block, head), self.clock()
            return before

    def get(self, fid: Any) -> InstalledFilter:
        """The filter (a poll of its logs counts as use: it does not expire meanwhile)."""
        key = filter_id(fid)
        with self._lock:
            f = self._live(key)
            f.last_poll = self.clock()
            return replace(f)

    def uninstall(self, fid: Any) -> bool:
        key = filter_id(fid)
        with self._lock:
            self._expire(self.clock())
            return self._filters.pop(key, None) is not None

    def _live(self, key: str) -> InstalledFilter:
        f = self._filters.get(key)
        if f is not None and self.clock() - f.last_poll > self.ttl:
            del self._filters[key]
            f = None
        if f is None:
            raise FilterNotFoundError(f"filter not found: {echo(key)} (never installed, "
                                      f"uninstalled, or not polled for {self.ttl:.0f} s)")
        return f

    def _expire(self, now: float) -> None:
        stale = [k for k, f in self._filters.items() if now - f.last_poll > self.ttl]
        for k in stale:
            del self._filters[k]
