"""One progress line on stderr: blocks/s, tx/s, ETA; redrawn at most twice a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _eta(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Rate-limited progress reporter (carriage return on a terminal, lines otherwise)."""

    def __init__(self, first: int, last: int, stream: TextIO | None = None,
                 interval: float = 0.5, enabled: bool = True, label: str = "audit replay") -> None:
        self.first, self.last = first, last
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self._shown = 0.0
        self.blocks = 0
        self.txs = 0
        self.lines = 0

    def update(self, block: int, blocks: int, txs: int, force: bool = False) -> None:
        """Record that ``block`` is done (``blocks``/``txs`` re-executed so far)."""
        self.blocks, self.txs = blocks, txs
        now = time.monotonic()
        if not self.enabled or (not force and now - self._shown < self.interval):
            return
        self._shown = now
        elapsed = max(now - self.start, 1e-9)
        bps, tps = blocks / elapsed, txs / elapsed
        total = self.last - self.first + 1
        done = block - self.first + 1
        left = self.last - block
        eta = _eta(left / bps) if bps > 0 else "?"
        pct = 100.0 * done / total if total > 0 else 100.0
        text = (f"{self.label}: block {block}/{self.last} ({pct:.1f}%)  "
                f"{bps:,.0f} blocks/s  {tps:,.0f} tx/s  ETA {eta}")
        self.stream.write(("\r" + text + "\x1b[K") if self.tty else text + "\n")
        self.stream.flush()
        self.lines += 1

    def finish(self) -> None:
        if self.enabled and self.tty and self.lines:
            self.stream.write("\n")
            self.stream.flush()
