"""`coledger network init|start|status`: a consortium network of validators on this machine.

``init`` creates the member keystores (as ``node start`` does), one validator home per
institution (CometBFT keys, the shared genesis carrying the ledger's genesis and the bootstrap
address, configs on their own loopback addresses). ``start`` runs every validator as its own
process (each supervises its CometBFT), restarts a validator process that dies, deploys the
consortium and the contract suite through the first validator on first start, and prints every
validator's JSON-RPC URL. Any validator serves the same chain: point the SDK, CLI, arbitration
API or auditor at any of them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from client.config import DEMO_CONFIG, ConsortiumConfig, DataDir, load_consortium_config
from client.errors import ConfigError
from client.keys import Keystore, demo_password

__all__ = ["NetworkDir", "NetworkRunner", "init_network", "network_status", "ValidatorProcess"]

#: node.cometbft.validator.EXIT_DIVERGED (not imported: the node is imported lazily)
_EXIT_DIVERGED = 3
VALIDATOR_COUNTS = "at least 4 (f = 1 crash or lie tolerated), or 1 for benchmarks"


@dataclass(frozen=True)
class NetworkDir:
    """A network directory: ``consortium.json``, ``keystore/``, ``validator-<i>/``,
    ``deployment.json`` (after the first start)."""

    root: Path

    @property
    def data(self) -> DataDir:
        return DataDir(self.root)

    def homes(self) -> list[Path]:
        homes = sorted(self.root.glob("validator-*"), key=lambda p: int(p.name.split("-")[1]))
        if not homes:
            raise ConfigError(f"{self.root} holds no validators; create them with "
                              f"`coledger network init --dir {self.root}`")
        return homes


def _monikers(config: ConsortiumConfig, count: int) -> list[str]:
    """Governing institutions first: they are the ones a consortium expects to validate."""
    keys = [m.key for m in config.members if any(r.name == "GOVERNOR" for r in m.roles)]
    keys += [m.key for m in config.members if m.key not in keys]
    keys += [f"validator-{i}" for i in range(len(keys), count)]
    return keys[:count]


def init_network(root: Path, validators: int = 4, config_path: Path | None = None,
                 first_host: str = "127.0.0.11", rpc_port: int = 8545,
                 p2p_port: int = 26656, engine_rpc_port: int = 26657,
                 out: TextIO = sys.stdout) -> list[Any]:
    """Create keystores and validator homes under ``root``; the validator specs."""
    from node.cometbft.home import ValidatorPorts, create_network
    from node.cometbft.toolchain import ensure_cometbft

    if validators != 1 and validators < 4:
        raise ConfigError(f"--validators {validators}: a network needs {VALIDATOR_COUNTS}")
    net = NetworkDir(root)
    if any(root.glob("validator-*")):
        raise ConfigError(f"{root} already holds a network; start it with "
                          f"`coledger network start {root}` or choose another --dir")
    source = config_path or DEMO_CONFIG
    config = load_consortium_config(source)
    if validators > len(config.members):
        raise ConfigError(f"--validators {validators}: the consortium has {len(config.members)} "
                          f"members, and every validator is run by a member institution")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    shutil.copyfile(source, net.data.config)
    keystore = Keystore(net.data.keystore, demo_password(net.data.keystore))
    accounts = {m.key: keystore.load_or_create(m.key) for m in config.members}
    binary = ensure_cometbft(lambda line: print(line, file=out, flush=True))
    specs = create_network(
        root, binary, _monikers(config, validators), chain_id=config.chain_id,
        bootstrap_address=accounts[config.bootstrap].address, first_host=first_host,
        ports=ValidatorPorts(rpc=rpc_port, engine_rpc=engine_rpc_port, p2p=p2p_port),
    )
    return specs


@dataclass
class ValidatorProcess:
    """One validator's process (app + its CometBFT child), as the runner started it."""

    home: Path
    index: int
    rpc_url: str
    #: its CometBFT's RPC: transactions can be submitted once this answers too
    engine_url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    #: set by stop()/kill() callers that do not want the runner to restart it
    held: bool = False
    restarts: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self) -> None:
        from node.cometbft.engine_process import die_with_parent

        env = dict(os.environ)
        # validators must agree bit for bit whatever Python's hash randomisation does
        env["PYTHONHASHSEED"] = str(1009 * (self.index + 1) + self.restarts)
        env.update(self.extra_env)
        log = os.open(self.home / "validator.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "node.cometbft", "--home", str(self.home)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,  # its own process group: app and engine signalled together
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl; no orphans if we are killed
            )
        finally:
            os.close(log)

    def signal_group(self, sig: int) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass


def _rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 3.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback URL
        reply = json.loads(resp.read())
    if "error" in reply:
        raise ConfigError(f"{url} {method}: {reply['error'].get('message')}")
    return reply["result"]


def _refuse_shared_keys(homes: list[Path]) -> None:
    """Two validators signing with one key would double-sign (BFT counts that key once, and the
    evidence would name the institution as faulty): refuse before anything starts."""
    seen: dict[str, Path] = {}
    for home in homes:
        key_file = home / "cometbft" / "config" / "priv_validator_key.json"
        try:
            address = json.loads(key_file.read_text())["address"]
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"{key_file}: cannot read the validator key ({e})") from None
        if address in seen:
            raise ConfigError(f"{seen[address].name} and {home.name} have the same validator key "
                              f"{address} ({key_file.name}); each validator needs its own")
        seen[address] = home


class NetworkRunner:
    """Runs every validator of a network directory and restarts one whose process dies."""

    def __init__(self, root: Path, extra_env: dict[int, dict[str, str]] | None = None) -> None:
        from node.cometbft.home import load_validator_spec

        self.net = NetworkDir(root)
        self.validators: list[ValidatorProcess] = []
        _refuse_shared_keys(self.net.homes())
        for home in self.net.homes():
            spec = load_validator_spec(home)
            self.validators.append(ValidatorProcess(
                home=home, index=spec.index, rpc_url=spec.rpc_url, engine_url=spec.engine_url,
                extra_env=(extra_env or {}).get(spec.index, {})))
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return [v.rpc_url for v in self.validators]

    def add(self, home: Path, wait: float = 120.0) -> ValidatorProcess:
        """Start one more validator (a joining institution's home) under this runner."""
        from node.cometbft.home import load_validator_spec

        spec = load_validator_spec(home)
        _refuse_shared_keys([v.home for v in self.validators] + [home])
        v = ValidatorProcess(home=home, index=spec.index, rpc_url=spec.rpc_url,
                             engine_url=spec.engine_url)
        with self._lock:
            self.validators.append(v)
            v.spawn()
        self.wait_ready(wait, [len(self.validators) - 1])
        return v

    def start(self, wait: float = 120.0) -> None:
        for v in self.validators:
            v.spawn()
        self.wait_ready(wait)
        self._watcher = threading.Thread(target=self._watch, name="network-watch", daemon=True)
        self._watcher.start()

    def wait_ready(self, timeout: float, which: list[int] | None = None) -> None:
        """Until each validator's JSON-RPC answers (its store opened, its genesis checked) and
        its CometBFT's RPC does (before that, a submitted transaction would be refused)."""
        deadline = time.monotonic() + timeout
        for v in (self.validators if which is None else [self.validators[i] for i in which]):
            while True:
                if v.proc is not None and v.proc.poll() is not None and not v.held:
                    raise ConfigError(
                        f"validator {v.index} exited with code {v.proc.returncode} while starting; "
                        f"see {v.home / 'validator.log'}:\n{_tail(v.home / 'validator.log')}")
                try:
                    _rpc(v.rpc_url, "eth_blockNumber", timeout=1.0)
                    if v.engine_url:  # the app serves before its CometBFT has started
                        _rpc(v.engine_url, "status", timeout=1.0)
                    break
                except (OSError, ConfigError, ValueError):
                    if time.monotonic() > deadline:
                        raise ConfigError(f"validator {v.index} ({v.rpc_url}) did not answer within "
                                          f"{timeout:.0f} s; see {v.home / 'validator.log'}") from None
                    time.sleep(0.2)

    def _watch(self) -> None:
        backoff: dict[int, float] = {}
        while not self._stopping.wait(0.5):
            with self._lock:
                for v in self.validators:
                    if v.held or v.alive() or v.proc is None:
                        continue
                    if v.proc.returncode == _EXIT_DIVERGED:
                        v.held = True
                        print(f"[network] validator {v.index} stopped: its state diverged from "
                              f"the network's (consensus failure); not restarting it. See "
                              f"{v.home / 'validator.log'}", file=sys.stderr, flush=True)
                        continue
                    due = backoff.get(v.index)
                    if due is None:
                        print(f"[network] validator {v.index} exited with code "
                              f"{v.proc.returncode}; restarting", file=sys.stderr, flush=True)
                        backoff[v.index] = time.monotonic() + 1.0
                        continue
                    if time.monotonic() >= due:
                        v.restarts += 1
                        v.spawn()
                        backoff.pop(v.index, None)

    # ---- fault controls (tests, operators) ----------------------------------------------
    def kill(self, index: int, sig: int = signal.SIGKILL, hold: bool = True) -> None:
        """Signal a validator's whole process group (app and engine); ``hold`` keeps the runner
        from restarting it until :meth:`restart`."""
        with self._lock:
            v = self.validators[index]
            v.held = hold
            v.signal_group(sig)
        if sig == signal.SIGKILL and v.proc is not None:
            v.proc.wait()

    def kill_app_only(self, index: int) -> None:
        """kill -9 the Python app alone (its CometBFT notices and exits); the runner restarts it."""
        v = self.validators[index]
        if v.proc is not None:
            os.kill(v.proc.pid, signal.SIGKILL)

    def pause(self, index: int) -> None:
        self.validators[index].signal_group(signal.SIGSTOP)

    def resume(self, index: int) -> None:
        self.validators[index].signal_group(signal.SIGCONT)

    def restart(self, index: int, wait: float = 120.0) -> None:
        with self._lock:
            v = self.validators[index]
            if v.alive():
                v.signal_group(signal.SIGTERM)
                assert v.proc is not None
                v.proc.wait(30)
            _wait_engine_gone(v.home)
            v.held = False
            v.restarts += 1
            v.spawn()
        self.wait_ready(wait, [index])

    def stop(self) -> None:
        """SIGTERM every validator (each stops its engine, then its app), SIGKILL stragglers."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)
        for v in self.validators:
            v.signal_group(signal.SIGCONT)
            v.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for v in self.validators:
            if v.proc is None:
                continue
            try:
                v.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                v.signal_group(signal.SIGKILL)
                v.proc.wait()


def _wait_engine_gone(home: Path, timeout: float = 15.0) -> None:
    """A killed app's CometBFT exits on its own (parent-death signal); give it time to."""
    deadline = time.monotonic() + timeout
    marker = str(home / "cometbft")
    while time.monotonic() < deadline:
        if not any(marker in _cmdline(pid) for pid in _pids()):
            return
        time.sleep(0.2)


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def deploy_network(root: Path, rpc_url: str, urls: list[str], out: TextIO) -> Any:
    """Deploy (or find) the consortium and contracts through ``rpc_url``; record the network."""
    from client.node_start import ensure_deployed

    net = NetworkDir(root)
    config = load_consortium_config(net.data.config)
    keystore = Keystore(net.data.keystore, demo_password(net.data.keystore))
    accounts = {m.key: keystore.load(m.key) for m in config.members}
    deployment = ensure_deployed(rpc_url, net.data, config, accounts,
                                 extra={"validators": urls, "consensus": "cometbft"},
                                 validators=network_validators(net, config))
    deployment.print_summary(f"coledger network of {len(urls)} validators "
                             f"(chain id {config.chain_id})", out)
    return deployment


def network_validators(net: NetworkDir, config: ConsortiumConfig) -> list[Any]:
    """The genesis validators as the Consortium's registry records them: each validator home's
    consensus key and node id, owned by the member whose keystore name is its moniker."""
    from client.validators import GenesisValidator
    from node.cometbft.home import load_validator_spec

    member_ids = {m.key: i + 1 for i, m in enumerate(config.members)}
    genesis = json.loads((net.homes()[0] / "cometbft" / "config" / "genesis.json").read_text())
    power = {v["pub_key"]["value"]: int(v["power"]) for v in genesis["validators"]}
    out = []
    for home in net.homes():
        spec = load_validator_spec(home)
        if spec.moniker not in member_ids:
            raise ConfigError(f"{home.name} ({spec.moniker}) belongs to no member of the "
                              f"consortium: every validator is run by a member institution")
        key = json.loads((home / "cometbft" / "config" / "priv_validator_key.json").read_text())
        value = key["pub_key"]["value"]
        out.append(GenesisValidator(member_ids[spec.moniker], base64.b64decode(value),
                                    power.get(value, 10), bytes.fromhex(spec.node_id)))
    return out


def network_status(root: Path) -> list[dict[str, Any]]:
    """Height, peers and last commit time of each validator (None where it does not answer)."""
    from node.cometbft.home import load_validator_spec

    rows = []
    for home in NetworkDir(root).homes():
        spec = load_validator_spec(home)
        row: dict[str, Any] = {"validator": spec.index, "moniker": spec.moniker,
                               "rpc_url": spec.rpc_url, "height": None, "peers": None,
                               "last_commit": None, "catching_up": None, "validators": None}
        try:
            row["height"] = int(_rpc(spec.rpc_url, "eth_blockNumber", timeout=2.0), 16)
            row["peers"] = int(_rpc(spec.rpc_url, "net_peerCount", timeout=2.0), 16)
        except (OSError, ConfigError, ValueError):
            row["error"] = "JSON-RPC not answering"
        try:
            with urllib.request.urlopen(f"{spec.engine_url}/status", timeout=2.0) as resp:  # noqa: S310
                status = json.loads(resp.read())["result"]
            row["last_commit"] = status["sync_info"]["latest_block_time"]
            row["catching_up"] = status["sync_info"]["catching_up"]
            with urllib.request.urlopen(f"{spec.engine_url}/validators", timeout=2.0) as resp:  # noqa: S310
                row["validators"] = int(json.loads(resp.read())["result"]["total"])
        except (OSError, ValueError, KeyError):
            row.setdefault("error", "CometBFT not answering")
        rows.append(row)
    return rows
