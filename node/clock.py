"""The solo node's block clock: wall time plus a persisted dev offset.

Why only the solo node has one: on a consortium network the block time is CometBFT's BFT time
(the weighted median of the validators' precommit times), and no single operator may move it;
dev time travel exists only where one key seals every block.
"""

from __future__ import annotations

import threading
import time

from .errors import InvalidParamsError
from .store import SqliteStore

__all__ = ["DevClock"]

_OFFSET_KEY = "time_offset"

#: a block header's timestamp is a uint64: a later time would seal a block no node accepts as
#: a parent (the chain would stop), so such a time is refused as invalid params
MAX_TIMESTAMP = 2**64 - 1


class DevClock:
    """Timestamps for the next solo block; the offset survives restarts (store meta)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.offset = int(store.get_meta(_OFFSET_KEY) or 0)
        self.next_timestamp: int | None = None

    def now(self) -> int:
        """Wall clock plus the persisted dev offset."""
        return int(time.time()) + self.offset

    def timestamp_for_next(self, parent_timestamp: int) -> int:
        """The next block's time: a pinned one if set, else now; at least the parent's + 1."""
        if self.next_timestamp is not None:
            return max(self.next_timestamp, parent_timestamp + 1)
        return max(self.now(), parent_timestamp + 1)

    def block_sealed(self) -> None:
        """A pinned timestamp applies to one block only."""
        self.next_timestamp = None

    def increase_time(self, seconds: int, head_timestamp: int) -> int:
        """Move chain time ``seconds`` past the head block's time (not merely past the clock).

        Blocks sealed faster than one a second run ahead of the wall clock (each timestamp is at
        least its parent's + 1), so the offset first catches up with the head, then advances.
        """
        with self._lock:
            behind_head = head_timestamp - int(time.time())
            offset = max(self.offset, behind_head) + seconds
            if int(time.time()) + offset > MAX_TIMESTAMP - 3600:  # an hour's room for blocks
                raise InvalidParamsError(
                    f"seconds: moving time {seconds} s ahead passes the largest block timestamp "
                    f"2**64 - 1")
            self._store.set_meta({_OFFSET_KEY: str(offset)})  # durable first: a failed write
            self.offset = offset  # (a full disk) leaves chain time as it was
            return self.offset

    def set_next_timestamp(self, ts: int, head_timestamp: int) -> None:
        if ts > MAX_TIMESTAMP - 3600:
            raise InvalidParamsError(f"timestamp: {ts} is beyond the largest block timestamp "
                                     f"2**64 - 1 (less an hour's room for later blocks)")
        if ts <= head_timestamp:
            raise InvalidParamsError(
                f"timestamp {ts} must be greater than the head block's {head_timestamp}"
            )
        self.next_timestamp = ts
