"""The progress display: one line per step — counter, seconds since start, act, what happened.

The total is known up front (each act module declares its `STEPS`), so a reader sees how far the
story has come; a step counter that would pass the total is a bug in the demo, refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "rmb"]


def rmb(fen: int) -> str:
    """An amount in fen as yuan with fen, e.g. 1000001 -> '10,000.01 RMB'."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d} RMB"


class Progress:
    """Prints `[ 7/29  12.3s] flows        ...` lines and remembers the step in progress."""

    def __init__(self, total: int, out: TextIO, on_step: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.done = 0
        self._out = out
        self._clock = clock
        self._start = clock()
        self._on_step = on_step

    def step(self, act: str, text: str) -> None:
        if self.done >= self.total:
            raise AssertionError(f"the demo reported more steps than its total {self.total}")
        self.done += 1
        width = len(str(self.total))
        print(f"[{self.done:>{width}}/{self.total} {self.elapsed():6.1f}s] {act:<11} {text}",
              file=self._out, flush=True)
        if self._on_step is not None:
            self._on_step(f"step {self.done}/{self.total} ({act})")

    def note(self, text: str) -> None:
        """A line that is not a step (the plan, the summary)."""
        print(text, file=self._out, flush=True)

    def elapsed(self) -> float:
        return self._clock() - self._start
