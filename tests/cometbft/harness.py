"""Running the real CometBFT binary in tests: config patching, processes, JSON-RPC, waiting.

Everything is on loopback with ports picked free, and every process started here is killed by
`stop_process` (called from fixture teardown), so a failing test never leaves a node behind.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

TomlValue = str | int | bool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else json.dumps(value)


def patch_config(path: Path, settings: Mapping[str, Mapping[str, TomlValue]]) -> None:
    """Set `settings[section][key]` in CometBFT's config.toml ("" = top level, before any header).

    Every key must already exist: a renamed key in a new CometBFT fails here, not silently.
    """
    todo = {(section, key): value for section, keys in settings.items() for key, value in keys.items()}
    section = ""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1]
            continue
        key = stripped.partition("=")[0].strip()
        if (section, key) in todo and "=" in stripped and not stripped.startswith("#"):
            lines[i] = f"{key} = {_toml(todo.pop((section, key)))}"
    if todo:
        raise KeyError(f"keys not found in {path}: {sorted(todo)}")
    path.write_text("\n".join(lines) + "\n")


def node_settings(
    *, proxy_app: str, rpc_port: int, p2p_port: int, persistent_peers: str = ""
) -> dict[str, dict[str, TomlValue]]:
    """Fast, loopback-only settings for a test node."""
    return {
        "": {"proxy_app": proxy_app, "log_level": "info"},
        "rpc": {"laddr": f"tcp://127.0.0.1:{rpc_port}"},
        "p2p": {
            "laddr": f"tcp://127.0.0.1:{p2p_port}",
            "persistent_peers": persistent_peers,
            "allow_duplicate_ip": True,
            "addr_book_strict": False,
            "pex": False,
        },
        "consensus": {"timeout_commit": "200ms", "timeout_propose": "2s", "create_empty_blocks": False},
    }


def start_process(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class RpcError(Exception):
    """The node answered a JSON-RPC call with an error object."""


def rpc(port: int, method: str, **params: Any) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise RpcError(f"{method}: {answer['error']}")
    result: dict[str, Any] = answer["result"]
    return result


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def height(port: int) -> int:
    return int(rpc(port, "status")["sync_info"]["latest_block_height"])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, logs: Sequence[Path] = ()) -> None:
    """Poll `predicate` (exceptions count as "not yet"); on timeout, fail showing the node logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, RpcError, KeyError, ValueError):
            pass
        time.sleep(0.05)
    tails = "\n".join(f"--- {p} ---\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tails}")
