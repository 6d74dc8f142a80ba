"""The node and the arbitration API as child processes, as a user would run them.

The node is `coledger node start --data-dir DIR --allow-time-travel --block-period 0` (the same
start-up as the two commands: keystores, deployment, deployment record), the API is
`coledger api start --data-dir DIR`; each writes its log under `DIR/demo/`. Both get a new session
(`start_new_session`), so a Ctrl-C in the terminal reaches the demo only, and the demo stops them
in order — the API first (it reads the chain), then the node — each with SIGTERM, the way they
expect to be stopped, and SIGKILL only for one that does not exit in time.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import DemoProcessError

__all__ = ["Child", "pick_port", "start_api", "start_node", "wait_healthy", "wait_node_ready"]

READY_LINE = "stop with Ctrl-C"  # the last line `coledger node start` prints once deployed
_START_TIMEOUT = 180.0
_STOP_TIMEOUT = 20.0
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One child process and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    log_offset: int = 0  # where this run's output starts in a log kept across reruns

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def last_lines(self, n: int = 3) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def stop(self) -> int:
        """SIGTERM, wait, SIGKILL if it would not go; the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def pick_port(preferred: int) -> int:
    """`preferred` if it is free on 127.0.0.1 (0: any), else a free port the system gives."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise DemoProcessError("no free TCP port on 127.0.0.1")


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM me when the demo dies, even by SIGKILL (Linux
    PR_SET_PDEATHSIG) — an orphaned node would hold the port and, worse, the data dir's store."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):  # not Linux: the demo's own shutdown still stops the children
        pass


def _spawn(name: str, args: list[str], log: Path, extra_env: dict[str, str] | None = None) -> Child:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    offset = log.stat().st_size if log.exists() else 0
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "client.cli", *args], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=_die_with_parent)
    return Child(name, proc, log, offset)


def start_node(data_dir: Path, port: int, log: Path) -> Child:
    """Start the time-travel dev node on `data_dir` (see `wait_node_ready`)."""
    child = _spawn("node", ["node", "start", "--data-dir", str(data_dir), "--port", str(port),
                            "--block-period", "0", "--allow-time-travel"], log)
    return child


def wait_node_ready(child: Child, port: int) -> str:
    """Return the node's URL once it has deployed (its last start-up line is in its log)."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        with child.log.open("rb") as f:
            f.seek(child.log_offset)
            text = f.read().decode(errors="replace")
        if READY_LINE in text:
            return f"http://127.0.0.1:{port}"
        if not child.alive():
            raise DemoProcessError(f"the node exited ({child.proc.returncode}) before serving: "
                                   f"{child.last_lines()} (log: {child.log})")
        time.sleep(0.1)
    raise DemoProcessError(f"the node did not finish starting within {_START_TIMEOUT:.0f} s (log: {child.log})")


def start_api(data_dir: Path, port: int, rpc_url: str, log: Path, env: dict[str, str]) -> Child:
    """Start `coledger api start` in the background (see `wait_healthy`)."""
    return _spawn("arbitration API", ["api", "start", "--data-dir", str(data_dir), "--port", str(port),
                                      "--rpc", rpc_url], log, env)


def wait_healthy(child: Child, url: str) -> None:
    """Return once `GET /healthz` answers 200; a dead or silent API is one line naming its log."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if not child.alive():
            raise DemoProcessError(f"the arbitration API exited ({child.proc.returncode}): "
                                   f"{child.last_lines()} (log: {child.log})")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise DemoProcessError(f"the arbitration API did not answer {url}/healthz within "
                           f"{_START_TIMEOUT:.0f} s (log: {child.log})")
