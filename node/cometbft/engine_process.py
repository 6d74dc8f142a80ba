"""Run this validator's CometBFT as a child process and restart it when it stops.

Why the app supervises its engine: they are one validator. CometBFT exits (with code 0) when
its connection to the app breaks, and a crashed engine must come back without an operator. The
child gets SIGTERM if this process dies (Linux parent-death signal), so a kill -9 of the app
never leaves an orphan engine holding the validator's ports and key. Output goes to
``<home>/cometbft.log``; when the engine keeps failing, the tail of that log is what the
operator sees (for example CometBFT's handshake error when the app's state does not match its
height).
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import NodeError

__all__ = ["EngineProcess", "EngineFailedError", "die_with_parent"]

log = logging.getLogger("coledger.node.cometbft.engine")

_PR_SET_PDEATHSIG = 1


#: CometBFT log lines that mean consensus stopped for good on this validator
_FAILURE_MARKERS = ("CONSENSUS FAILURE", "+2/3 committed an invalid block")


def describe_consensus_failure(line: str) -> str:
    """An operator's sentence for CometBFT's consensus-failure log line."""
    found = re.search(r"Expected ([0-9A-F]{64}), got ([0-9A-F]{64})", line)
    height = re.search(r"height=(\d+)", line)
    where = f" at height {height.group(1)}" if height else ""
    if "AppHash" in line and found:
        return (f"consensus failure{where}: more than 2/3 of the validators committed a block "
                f"whose app hash differs from this validator's (the network's "
                f"{found.group(1)}, this app computed {found.group(2)}): this validator's "
                f"ledger state diverged, so it stops. Restore its data dir from another "
                f"validator (or a backup) and start it again. CometBFT said: {line.strip()}")
    return f"consensus failure{where}: CometBFT stopped deciding: {line.strip()}"


class EngineFailedError(NodeError):
    """CometBFT failed to stay up (repeatedly, right after start)."""


def die_with_parent() -> None:
    """For ``preexec_fn`` (runs in the child between fork and exec): SIGTERM when we die."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class EngineProcess:
    """``cometbft start --home HOME`` kept running until :meth:`stop`."""

    #: failures within this many seconds of a start count as "failed right away"
    QUICK_FAILURE = 10.0
    #: this many quick failures in a row and the validator gives up
    MAX_QUICK_FAILURES = 5

    def __init__(self, binary: Path, home: Path, log_path: Path,
                 on_give_up: Callable[[str], None] | None = None) -> None:
        self._binary = binary
        self._home = home
        self._log_path = log_path
        self._on_give_up = on_give_up
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        try:
            self._log_offset = self._log_path.stat().st_size  # only this run's lines count
        except OSError:
            self._log_offset = 0
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name="cometbft-watch", daemon=True)
        self._thread.start()
        self._log_thread = threading.Thread(target=self._watch_log, name="cometbft-log-watch",
                                            daemon=True)
        self._log_thread.start()

    def _watch_log(self) -> None:
        """Watch the engine's log for a consensus failure: CometBFT then stops deciding but keeps
        running, so without this the validator would sit silently at a height forever."""
        pending = ""
        while not self._stopping.wait(1.0):
            try:
                with open(self._log_path, "rb") as f:
                    f.seek(self._log_offset)
                    chunk = f.read(1 << 20)
            except OSError:
                continue
            self._log_offset += len(chunk)
            lines = (pending + chunk.decode("utf-8", "replace")).split("\n")
            pending = lines.pop()
            for line in lines:
                if any(marker in line for marker in _FAILURE_MARKERS):
                    message = describe_consensus_failure(line)
                    log.critical("%s", message)
                    if self._on_give_up is not None:
                        self._on_give_up(message)
                    return

    def _spawn(self) -> None:
        fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self._proc = subprocess.Popen(
                [str(self._binary), "start", "--home", str(self._home)],
                stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe
            )
        finally:
            os.close(fd)
        log.info("CometBFT started (pid %d), log %s", self._proc.pid, self._log_path)

    def _watch(self) -> None:
        quick_failures = 0
        backoff = 1.0
        while not self._stopping.is_set():
            proc = self._proc
            assert proc is not None
            started = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            lived = time.monotonic() - started
            tail = self.log_tail()
            log.error("CometBFT exited with code %s after %.1f s; last log lines:\n%s", code,
                      lived, tail)
            if lived < self.QUICK_FAILURE:
                quick_failures += 1
                backoff = min(backoff * 2, 10.0)
            else:
                quick_failures, backoff = 0, 1.0
            if quick_failures >= self.MAX_QUICK_FAILURES:
                message = (f"CometBFT failed {quick_failures} times in a row right after starting; "
                           f"giving up. Its last log lines ({self._log_path}):\n{tail}")
                log.critical("%s", message)
                if self._on_give_up is not None:
                    self._on_give_up(message)
                return
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            self._spawn()

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self._log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16_384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (CometBFT stops cleanly), then SIGKILL after ``timeout``."""
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=2)
