"""Cut a validator off the others: every p2p link goes through a TCP relay the test can cut.

Why relays rather than firewall rules: this machine has no iptables, and on loopback the kernel
picks 127.0.0.1 as the source of outgoing connections, so per-address rules could not tell the
validators' own dials apart. Each validator ``a`` reaches each other validator ``b`` through its
own relay ``(a, b)``; cutting ``v`` closes every relay that touches ``v`` (live connections
reset, new ones refused), which is what a pulled cable does to TCP. Healing listens again;
CometBFT re-dials its persistent peers by itself.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from node.cometbft.home import load_validator_spec, patch_toml

__all__ = ["Relay", "Partitioner"]


class Relay:
    """Listens on 127.0.0.1:<port> and forwards every connection to ``target``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()

    def listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close() alone would not on Linux
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv; FIN both ways
            except OSError:
                pass
            c.close()


class Partitioner:
    """Relays for every ordered pair of validators of a network directory (before its start)."""

    def __init__(self, root: Path) -> None:
        homes = sorted(root.glob("validator-*"), key=lambda p: int(p.name.split("-")[1]))
        self.specs = [load_validator_spec(h) for h in homes]
        self.relays: dict[tuple[int, int], Relay] = {}
        for a in self.specs:
            peers = []
            for b in self.specs:
                if a.index == b.index:
                    continue
                relay = Relay((b.host, b.ports.p2p))
                relay.listen()
                self.relays[(a.index, b.index)] = relay
                peers.append(f"{b.node_id}@127.0.0.1:{relay.port}")
            config = homes[a.index] / "cometbft" / "config" / "config.toml"
            config.write_text(patch_toml(config.read_text(), {"p2p": {
                "persistent_peers": '"' + ",".join(peers) + '"',
                # a peer's own listen address is not reachable around the relays
                "external_address": '""',
            }}))

    def isolate(self, index: int) -> None:
        for (a, b), relay in self.relays.items():
            if index in (a, b):
                relay.cut()

    def heal(self, index: int) -> None:
        for (a, b), relay in self.relays.items():
            if index in (a, b) and relay._listener is None:
                relay.listen()

    def close(self) -> None:
        for relay in self.relays.values():
            relay.cut()
