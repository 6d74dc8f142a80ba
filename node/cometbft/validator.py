"""One consortium validator: the ledger node as ABCI app plus its supervised CometBFT.

What a bank runs on its own server (``coledger node start --consensus cometbft --home DIR``,
or ``python -m node.cometbft --home DIR``). Start order matters: the app's store is opened and
checked against the network genesis, its ABCI socket and JSON-RPC are up, and only then is
CometBFT started (it connects to the app and replays whatever blocks the app is missing).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from .._private import write_private
from ..config import NodeConfig
from ..errors import GenesisMismatchError
from ..evm import GenesisSpec
from ..node import EmbeddedNode
from .engine_process import EngineProcess
from .genesis import NetworkGenesis, read_network_genesis
from .home import ValidatorSpec, load_validator_spec, patch_toml
from .producer import CometProducer, abci_socket_path

__all__ = ["EXIT_DIVERGED", "Validator", "ValidatorOptions", "check_ledger_genesis"]

#: exit status of a validator whose consensus failed (its state diverged from the network's):
#: restarting it cannot help, so supervisors leave it stopped
EXIT_DIVERGED = 3

log = logging.getLogger("coledger.node.cometbft.validator")


@dataclass(frozen=True)
class ValidatorOptions:
    home: Path
    cometbft: Path
    #: test-only fault: report a wrong app hash from this height on
    wrong_app_hash_from: int | None = None
    stock_evm: bool = False


def check_ledger_genesis(chain_dir: Path, genesis: NetworkGenesis) -> None:
    """Write the ledger's genesis spec into a new data dir, or refuse one holding another."""
    chain_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = chain_dir / "genesis.json"
    if path.exists():
        mine = GenesisSpec.from_json(path.read_text())
        if mine != genesis.spec:
            raise GenesisMismatchError(
                f"this validator's ledger ({path}) was created from another genesis than "
                f"CometBFT's ({genesis.chain_id}, Ethereum genesis {genesis.genesis_hash}); "
                f"a validator joins one network only")
        return
    write_private(path, genesis.spec.to_json().encode())


class Validator:
    """Starts, serves and stops one validator."""

    def __init__(self, options: ValidatorOptions) -> None:
        self.options = options
        self.spec: ValidatorSpec = load_validator_spec(options.home)
        self.engine_home = options.home / "cometbft"
        self.genesis, _ = read_network_genesis(self.engine_home / "config" / "genesis.json")
        self.node: EmbeddedNode | None = None
        self.engine: EngineProcess | None = None
        self.failed = threading.Event()
        self.failure = ""

    def _ensure_socket_config(self) -> Path:
        """The engine's proxy_app must name this home's socket (the home may have moved)."""
        socket = abci_socket_path(self.options.home)
        config = self.engine_home / "config" / "config.toml"
        text = config.read_text()
        wanted = patch_toml(text, {"": {"proxy_app": json.dumps(f"unix://{socket}")}})
        if wanted != text:
            config.write_text(wanted)
        return socket

    def start(self) -> None:
        chain_dir = self.options.home / "chain"
        check_ledger_genesis(chain_dir, self.genesis)
        socket = self._ensure_socket_config()
        spec = self.genesis.spec
        config = NodeConfig(
            data_dir=chain_dir, validator_key=b"", bootstrap_address=self.genesis.bootstrap,
            chain_id=spec.chain_id, host=self.spec.host, port=self.spec.ports.rpc,
            block_gas_limit=spec.gas_limit, stock_evm=self.options.stock_evm,
        )
        address = bytes.fromhex(self.spec.validator_address)
        node = EmbeddedNode(config, producer=lambda n: CometProducer(
            n, self.genesis, socket, self.spec.engine_url, address,
            wrong_app_hash_from=self.options.wrong_app_hash_from, on_fatal=self._give_up))
        node.start()
        self.node = node
        self.engine = EngineProcess(self.options.cometbft, self.engine_home,
                                    self.options.home / "cometbft.log", on_give_up=self._give_up)
        try:
            self.engine.start()
        except OSError:
            node.stop()
            raise
        log.info("validator %s (%s): JSON-RPC %s, ledger at block %d, %s EVM", self.spec.moniker,
                 self.genesis.chain_id, node.url, node.core.head.block_number,
                 "stock py-evm" if self.options.stock_evm else "fast")

    def _give_up(self, message: str) -> None:
        """Stop serving; the first reason is kept (a failed Commit makes CometBFT stop as well,
        and the engine's own account of that comes after and says less)."""
        if not self.failure:
            self.failure = message
        self.failed.set()

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        if self.node is not None:
            self.node.stop()

    def serve_forever(self) -> int:
        """Serve until SIGINT/SIGTERM (0), until the engine cannot be kept up (1) or until
        consensus failed on this validator (:data:`EXIT_DIVERGED`).

        The engine stops first (CometBFT finishes its step and closes cleanly), then the app."""
        stop = self.failed

        def _handler(signum: int, frame: object) -> None:
            stop.set()

        old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stop.wait(0.5):
                pass
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.stop()
        if not self.failure:
            return 0
        return EXIT_DIVERGED if self.failure.startswith("consensus failure") else 1
