"""What can stop the demo, one class per kind; each message is the one line the user sees."""

from __future__ import annotations

from client.errors import CoLedgerError

__all__ = ["DemoDirError", "DemoError", "DemoProcessError", "DemoStepError"]


class DemoError(CoLedgerError):
    """Root of the demo's failures (a `CoLedgerError`, so the CLI prints it as one line)."""


class DemoDirError(DemoError):
    """The data dir cannot hold this demo: not empty and not a demo's, or a demo that did not finish."""


class DemoProcessError(DemoError):
    """The node or the arbitration API child process did not start, or died."""


class DemoStepError(DemoError):
    """A step of the story failed or did not come out as the story says; names the step."""
