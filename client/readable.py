"""Numbers as a bank engineer reads them: yuan with fen, percentages, durations, ISO dates.

Why: the chain speaks integers (fen, basis points, seconds, epoch seconds). Every human-facing
output shows the readable form *beside* the integer, never instead of it, so nothing is lost and
a reader can check one against the other. Exact integer arithmetic only (no floats).
"""

from __future__ import annotations

from datetime import UTC, datetime

from client.parameters import Parameter, Unit

__all__ = ["bp", "duration", "fen", "iso", "parameter_value"]

_MAX_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second datetime can show


def fen(amount: int) -> str:
    """``100001`` -> ``1,000.01 RMB``."""
    sign = "-" if amount < 0 else ""
    yuan, cents = divmod(abs(amount), 100)
    return f"{sign}{yuan:,}.{cents:02d} RMB"


def bp(value: int) -> str:
    """Basis points as a percentage: ``2000`` -> ``20%``, ``1250`` -> ``12.5%``, ``5`` -> ``0.05%``."""
    whole, frac = divmod(value, 100)
    text = f"{whole:,}.{frac:02d}".rstrip("0").rstrip(".")
    return f"{text}%"


def duration(seconds: int) -> str:
    """``93780`` -> ``1 d 2 h 3 min``; ``86400`` -> ``1 day``; ``45`` -> ``45 s``."""
    if seconds == 86_400:
        return "1 day"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n:,} {u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")) if n]
    return " ".join(parts) or "0 s"


def iso(epoch: int) -> str:
    """Epoch seconds as an ISO 8601 UTC time, ``2026-12-05T16:00:00Z`` (or ``beyond 9999``)."""
    if not 0 <= epoch <= _MAX_DATE:
        return "beyond 9999" if epoch > 0 else "before 1970"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parameter_value(parameter: Parameter, value: int) -> str:
    """A parameter's integer with its readable form: ``30000000 fen (300,000.00 RMB)``."""
    if parameter.unit is Unit.FEN:
        return f"{value:,} fen ({fen(value)})"
    if parameter.unit is Unit.BP:
        return f"{value:,} bp ({bp(value)})"
    if parameter.unit is Unit.SECONDS:
        return f"{value:,} s ({duration(value)})"
    return f"{value:,} day{'' if value == 1 else 's'}"
