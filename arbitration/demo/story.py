"""Play the story (or resume serving a played one), then serve until Ctrl-C or end (`--no-serve`).

Order of things, and why: the marker goes first (a dir is claimed as a demo's before anything is
in it); the node starts as a child and deploys; the API starts in the background while the first
acts play (it is only needed for the arbitrator's download, and starting it costs seconds); each
act checks its own outcome, so a story that went off script stops with one line naming the step.
Whatever happens — an error, Ctrl-C, SIGTERM — both children are stopped before the command ends.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from client.cli_errors import describe
from client.config import DataDir, load_consortium_config
from client.connection import connect
from client.keys import Keystore, demo_password
from client.private_files import ensure_private_dir, write_private

from . import act_audit, act_case, act_consortium, act_default, act_flows, act_lending
from .context import Story
from .errors import DemoDirError, DemoError, DemoProcessError, DemoStepError
from .look import where_to_look
from .processes import Child, pick_port, start_api, start_node, wait_healthy, wait_node_ready
from .progress import Progress
from .state import DemoPaths, DemoRecord, check_data_dir, hold_lock, start_fresh

__all__ = ["ACTS", "DemoOptions", "TOTAL_STEPS", "run_demo"]

ACTS = (act_consortium, act_lending, act_flows, act_default, act_case, act_audit)
TOTAL_STEPS = sum(a.STEPS for a in ACTS)


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    serve: bool = True
    port: int = 8545
    api_port: int = 8600


class _Stop(BaseException):
    """SIGTERM while the story plays: unwinds like Ctrl-C so the children are stopped."""


@contextmanager
def _children() -> Iterator[list[Child]]:
    """Children started inside are stopped on the way out, the last started first."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()


def _api_env(paths: DemoPaths, data: DataDir) -> dict[str, str]:
    """Token secret (kept for reruns) and the operator's key, so the API anchors its access log."""
    secret_file = paths.work / "api-token-secret"
    if not secret_file.is_file():
        write_private(secret_file, secrets.token_urlsafe(48).encode())
    password_file = paths.work / "api-signer.password"
    write_private(password_file, demo_password(data.keystore).encode())
    return {"COLEDGER_API_TOKEN_SECRET": secret_file.read_text().strip(),
            "COLEDGER_API_SIGNER_KEYFILE": str(data.keystore / "operator.json"),
            "COLEDGER_API_SIGNER_PASSWORD_FILE": str(password_file)}


def _claim(root: Path, serve: bool) -> tuple[DemoPaths, DemoRecord, int]:
    """The dir for this run, its record and this process's lock on it — or one line saying why not.

    A dir another demo is using is "in use", not "unfinished": it is locked before it is judged.
    """
    paths = DemoPaths(root)
    lock = hold_lock(paths) if paths.marker.is_file() and paths.work.is_dir() else None
    try:
        record = check_data_dir(root)  # refuses before anything is created
        if record is None:
            paths, record = start_fresh(root)
        elif not serve:
            raise DemoDirError(f"the story was already played in {root}; run `coledger demo --data-dir "
                               f"{root}` (without --no-serve) to serve it again, or use a fresh --data-dir")
        ensure_private_dir(paths.work)
        if lock is None:
            lock = hold_lock(paths)
    except BaseException:
        if lock is not None:
            os.close(lock)
        raise
    return paths, record, lock


def run_demo(options: DemoOptions, out: TextIO) -> int:
    root = options.data_dir
    paths, record, lock = _claim(root, options.serve)
    fresh = record.status != "played"
    data = DataDir(root)
    progress = Progress(TOTAL_STEPS, out, lambda step: _mark(paths, record, step))
    old = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with _children() as children:
            if fresh:
                progress.note(f"coledger demo: the whole story in {len(ACTS)} acts, {TOTAL_STEPS} steps, "
                              f"into {root} (logs in {paths.work})")
            port = pick_port(options.port)
            children.append(start_node(root, port, paths.node_log))
            rpc_url = wait_node_ready(children[-1], port)
            api_port = pick_port(options.api_port)
            api_url = f"http://127.0.0.1:{api_port}"
            api = start_api(root, api_port, rpc_url, paths.api_log, _api_env(paths, data))
            children.append(api)
            if fresh:
                _play(paths, record, data, rpc_url, api_url, lambda: wait_healthy(api, api_url), progress)
            else:
                wait_healthy(api, api_url)
                print(f"resuming the demo played in {root}: its chain is served again", file=out)
            print(where_to_look(root, record.summary, rpc_url, api_url, options.serve), file=out, flush=True)
            if options.serve:
                _serve(children, rpc_url, api_url, out)
            else:
                print("--no-serve: stopping the arbitration API and the node", file=out, flush=True)
            return 0
    except (KeyboardInterrupt, _Stop):
        print("interrupted: the arbitration API and the node are stopped", file=out, flush=True)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)
        os.close(lock)


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop()


def _mark(paths: DemoPaths, record: DemoRecord, step: str) -> None:
    """Remember the step in progress (an interrupted demo's marker names where it stopped)."""
    record.step = step
    record.save(paths)


def _play(paths: DemoPaths, record: DemoRecord, data: DataDir, rpc_url: str, api_url: str,
          wait_for_api: Callable[[], None], progress: Progress) -> None:
    config = load_consortium_config(data.config)
    keystore = Keystore(data.keystore, demo_password(data.keystore))
    keys = {m.key: keystore.load(m.key) for m in config.members}
    deployment = data.read_deployment()
    story = Story(paths, data, connect(rpc_url), rpc_url, api_url, dict(deployment["contracts"]), keys,
                  progress, wait_for_api)
    for act in ACTS:
        try:
            act.play(story)
        except DemoError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is reported as the step it stopped
            raise DemoStepError(f"step {progress.done + 1}/{TOTAL_STEPS} ({act.ACT}) failed: {describe(exc)} "
                                f"(logs in {paths.work})") from exc
    story.expect(progress.done == TOTAL_STEPS, f"{progress.done} of {TOTAL_STEPS} steps reported")
    record.status = "played"
    record.summary = {k: v for k, v in story.results.items() if k != "names"}
    record.save(paths)
    progress.note(f"the story is on the chain: {TOTAL_STEPS} steps in {progress.elapsed():.0f} s")


def _serve(children: list[Child], rpc_url: str, api_url: str, out: TextIO) -> None:
    """Until SIGINT/SIGTERM; a child that dies ends the demo with one line naming its log."""
    done = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        done.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"demo ready: node {rpc_url}, arbitration API {api_url}; Ctrl-C stops both", file=out, flush=True)
    try:
        while not done.wait(0.5):
            for child in children:
                if not child.alive():
                    raise DemoProcessError(f"the {child.name} exited ({child.proc.returncode}): "
                                           f"{child.last_lines()} (log: {child.log})")
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    print("stopping: arbitration API, then node", file=out, flush=True)
