"""`PageCache`: serialized answers computed from the index, reused until the index changes.

Why: a page of a loan's evidence costs ~1.5 ms of CPU to query, check (hash-chain links) and
serialize, and the same pages are asked again and again while the index stands still. An entry
is stored with the index state it was computed from — `SyncedIndex.version` (bumped by every sync
that changed anything) and the index cursor (moved by any other writer of the file) — read
*before* the computation, so an entry can be older than its state, never newer; a lookup under
another state misses. What is cached is only ever served after the route's dependencies have
authenticated the caller, rechecked its roles and checked that it may see the resource: the cache
never decides who sees what.

Bounded by the total size of the stored bodies (least recently used out first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["PageCache"]

State = tuple[int, int]


class PageCache:
    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[State, bytes]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, state: State) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != state:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, state: State, body: bytes) -> None:
        if len(body) > self._max // 8:  # one huge page must not flush everything else
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = (state, body)
            self._bytes += len(body)
            while self._bytes > self._max:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes
