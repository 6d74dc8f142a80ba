"""``eth_subscribe`` notifications: new heads, matching logs, pending transaction hashes.

Why a hub with its own thread: the chain's events (:mod:`node.events`) are reported on the
producer's thread, often under the chain lock, and must cost it nothing. The hub only records
"the head is now N" and "these hashes became pending" there; its thread then reads each new
block's header and logs once from the store and hands every live subscription its encoded
notification. Nothing grows without bound: blocks are a range (the newest number seen, not a
queue), pending hashes a ring of :data:`MAX_PENDING_BACKLOG`, subscriptions per connection
capped, and each connection bounds what it queues for its client (:mod:`node.websocket`).

Subscriptions belong to one connection (:class:`Session`) and die with it.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import encode_hex

from ._filters import LogCriteria, log_criteria
from ._params import echo
from .core import SealResult
from .errors import InvalidParamsError, LimitExceededError
from .store import PooledReader

__all__ = ["SubscriptionHub", "Session", "TooManySubscriptionsError", "KINDS",
           "MAX_PENDING_BACKLOG"]

log = logging.getLogger("coledger.node.subscriptions")

KINDS = ("newHeads", "logs", "newPendingTransactions")
#: pending hashes waiting for the hub's thread; older ones are dropped past this (with a log line)
MAX_PENDING_BACKLOG = 10_000

#: a connection's sink: takes one encoded notification, never blocks
Sink = Callable[[bytes], None]


class TooManySubscriptionsError(LimitExceededError):
    """The connection already holds its maximum of subscriptions."""


@dataclass(frozen=True)
class _Subscription:
    kind: str
    criteria: LogCriteria | None
    #: the head when it was made: only later blocks are reported
    since: int


_FRAME_HEAD = '{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"'


def _frame(sid: str, result_json: str) -> bytes:
    return (_FRAME_HEAD + sid + '","result":' + result_json + "}}").encode()


def _in_range(crit: LogCriteria, number: int) -> bool:
    """As geth: a subscription reports new blocks only; numeric fromBlock/toBlock bound them
    (a tag means no bound)."""
    return not ((isinstance(crit.from_block, int) and number < crit.from_block)
                or (isinstance(crit.to_block, int) and number > crit.to_block))


def _matches(crit: LogCriteria, address: bytes, topics: tuple[bytes | None, ...]) -> bool:
    """eth_getLogs semantics: any listed address; at each topic position any listed value."""
    if crit.addresses and address not in crit.addresses:
        return False
    return all(alts is None or topics[i] in alts for i, alts in enumerate(crit.topics))


class Session:
    """One connection's subscriptions; its ``methods`` answer eth_subscribe/eth_unsubscribe."""

    def __init__(self, hub: SubscriptionHub, sink: Sink, limit: int) -> None:
        self._hub = hub
        self._sink = sink
        self._limit = limit
        self._subs: dict[str, _Subscription] = {}
        self._lock = threading.Lock()
        self.methods: dict[str, Callable[[list[Any] | None], Any]] = {
            "eth_subscribe": self.subscribe, "eth_unsubscribe": self.unsubscribe}

    def subscribe(self, params: list[Any] | None) -> str:
        if not params or len(params) > 2:
            raise InvalidParamsError("eth_subscribe: expected [kind] or [kind, options] with kind "
                                     f"one of {', '.join(KINDS)}")
        kind, options = params[0], params[1] if len(params) > 1 else None
        criteria = None
        if kind == "logs":
            criteria = log_criteria({} if options is None else options, "eth_subscribe")
            if criteria.block_hash is not None:
                raise InvalidParamsError("eth_subscribe: a logs subscription reports logs of new "
                                         "blocks; blockHash is for eth_getLogs")
        elif kind == "newHeads":
            if options not in (None, {}):
                raise InvalidParamsError("eth_subscribe: newHeads takes no options")
        elif kind == "newPendingTransactions":
            if options not in (None, False):
                raise InvalidParamsError("eth_subscribe: newPendingTransactions reports "
                                         "transaction hashes only (no full transactions)")
        else:
            raise InvalidParamsError(f"eth_subscribe: unknown subscription kind {echo(kind)} "
                                     f"(supported: {', '.join(KINDS)})")
        sid = hex(secrets.randbits(127) | 1 << 127)  # 128 bits, no leading zero: a quantity, as geth's ids
        with self._lock:
            if len(self._subs) >= self._limit:
                raise TooManySubscriptionsError(
                    f"too many subscriptions: this connection holds {self._limit}, the limit; "
                    f"eth_unsubscribe one first")
            self._subs[sid] = _Subscription(kind, criteria, self._hub.head())
        if kind == "newPendingTransactions":
            self._hub.count_pending(+1)
        return sid

    def unsubscribe(self, params: list[Any] | None) -> bool:
        if not params or len(params) != 1 or not isinstance(params[0], str) \
                or len(params[0]) > 66:
            raise InvalidParamsError("eth_unsubscribe: expected [subscription id]")
        with self._lock:
            gone = self._subs.pop(params[0].lower(), None)
        if gone is not None and gone.kind == "newPendingTransactions":
            self._hub.count_pending(-1)
        return gone is not None

    def close(self) -> None:
        """The connection is gone: its subscriptions with it."""
        with self._lock:
            pending = sum(s.kind == "newPendingTransactions" for s in self._subs.values())
            self._subs.clear()
        self._hub.count_pending(-pending)
        self._hub.forget(self)

    def kinds(self) -> set[str]:
        with self._lock:
            return {s.kind for s in self._subs.values()}

    def __len__(self) -> int:
        return len(self._subs)

    # ---- delivery (the hub's thread) ----------------------------------------------------
    def deliver_block(self, number: int, header_json: str | None,
                      logs: list[tuple[bytes, tuple[bytes | None, ...], str]]) -> None:
        # the sink is called under the session lock, so a notification is never queued after
        # the answer to the eth_unsubscribe that ended its subscription
        with self._lock:
            for sid, sub in self._subs.items():
                if number <= sub.since:
                    continue
                if sub.kind == "newHeads" and header_json is not None:
                    self._sink(_frame(sid, header_json))
                elif sub.kind == "logs":
                    assert sub.criteria is not None
                    if not _in_range(sub.criteria, number):
                        continue
                    for address, topics, text in logs:
                        if _matches(sub.criteria, address, topics):
                            self._sink(_frame(sid, text))

    def deliver_pending(self, hashes: list[str]) -> None:
        with self._lock:
            for sid, sub in self._subs.items():
                if sub.kind == "newPendingTransactions":
                    for h in hashes:
                        self._sink(_frame(sid, h))


class SubscriptionHub:
    """Turns chain events into notifications for every :class:`Session` (a ChainListener)."""

    def __init__(self, reader: Callable[[], PooledReader], head: Callable[[], int]) -> None:
        self._reader = reader
        self.head = head
        self._cond = threading.Condition()
        self._sessions: set[Session] = set()
        self._pending_subs = 0
        self._seen = head()
        self._done = self._seen
        self._pending: deque[bytes] = deque(maxlen=MAX_PENDING_BACKLOG)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="coledger-subscriptions",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def session(self, sink: Sink, limit: int) -> Session:
        s = Session(self, sink, limit)
        with self._cond:
            self._sessions.add(s)
        return s

    def forget(self, session: Session) -> None:
        with self._cond:
            self._sessions.discard(session)

    def count_pending(self, delta: int) -> None:
        """Pending-transaction subscriptions came (+) or went (-)."""
        with self._cond:
            self._pending_subs += delta
            if self._pending_subs <= 0:
                self._pending.clear()

    # ---- ChainListener (the producer's thread: record and return) -----------------------
    def block_committed(self, result: SealResult) -> None:
        with self._cond:
            self._seen = max(self._seen, result.number)
            if self._sessions:  # what they want is looked at when the block is delivered
                self._cond.notify()
            else:
                self._done = self._seen  # nobody listens: nothing to read later

    def transactions_pending(self, hashes: list[bytes]) -> None:
        with self._cond:
            if self._pending_subs <= 0:
                return
            if len(self._pending) + len(hashes) > MAX_PENDING_BACKLOG:
                log.warning("pending-transaction notifications fell behind; the oldest are "
                            "dropped (backlog limit %d)", MAX_PENDING_BACKLOG)
            self._pending.extend(hashes)
            self._cond.notify()

    # ---- the hub's thread ---------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and self._done >= self._seen and not self._pending:
                    self._cond.wait()
                if self._stopped:
                    return
                lo, hi = self._done + 1, self._seen
                self._done = hi
                pending = [encode_hex(h) for h in self._pending]
                self._pending.clear()
                sessions = list(self._sessions)
            try:
                if pending:
                    quoted = [json.dumps(h) for h in pending]
                    for s in sessions:
                        s.deliver_pending(quoted)
                wants: set[str] = set()
                for s in sessions:
                    wants |= s.kinds()
                if lo <= hi and ("newHeads" in wants or "logs" in wants):
                    for n in range(lo, hi + 1):
                        self._deliver_block(n, sessions, wants)
            except Exception:  # a failed read never ends notifications for later blocks
                log.exception("subscription notifications for blocks %d..%d failed", lo, hi)

    def _deliver_block(self, number: int, sessions: list[Session], wants: set[str]) -> None:
        reader = self._reader()
        header_json = None
        if "newHeads" in wants:
            row = reader.execute("SELECT json FROM blocks WHERE number=?", (number,)).fetchone()
            if row is not None:
                header = json.loads(row[0])
                header.pop("transactions", None)
                header_json = json.dumps(header, separators=(",", ":"))
        logs: list[tuple[bytes, tuple[bytes | None, ...], str]] = []
        if "logs" in wants:
            rows = reader.execute(
                "SELECT address, topic0, topic1, topic2, topic3, json FROM logs "
                "WHERE block_number=? ORDER BY log_index", (number,)).fetchall()
            logs = [(bytes(r[0]), tuple(None if t is None else bytes(t) for t in r[1:5]), r[5])
                    for r in rows]
        for s in sessions:
            s.deliver_block(number, header_json, logs)
