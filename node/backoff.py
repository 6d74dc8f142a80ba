"""Exponential backoff with a cap, for a loop that retries a failing step.

Why: the solo sealer retried a failed block every 0.1 s, rebuilding it each time; on a full disk
that burned ~42% of a core for nothing. Waiting doubles per failure up to a cap, so a lasting
failure costs a retry every few seconds, and a success starts over from the first delay.
"""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Delays ``first, 2*first, 4*first, ...`` capped at ``cap`` seconds; :meth:`reset` restarts."""

    def __init__(self, first: float = 0.1, cap: float = 2.0) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap, got first={first}, cap={cap}")
        self.first = first
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        """Count one more failure; the seconds to wait before the next attempt."""
        delay = min(self.cap, self.first * (1 << min(self.failures, 32)))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
