"""Load and comparison helpers for network tests: signed transactions, receipts, chain digests.

The load is a few member accounts each sending, in turn, a call to a tiny contract that writes a
storage slot and emits a log (state root, receipts root and logs all change). A sender keeps
its transaction until a validator returns its receipt, re-sending the same signed bytes to the
next validator when its own is down: that is what a client's resubmit path does, and it never
creates two transactions with one nonce.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

__all__ = ["rpc", "LOG_CONTRACT_INITCODE", "LoadGenerator", "chain_digest", "wait_for_receipts",
           "deploy_log_contract", "wait_height"]

_TOPIC = keccak(text="coledger.test.Logged")
_RUNTIME = (bytes.fromhex("365f5f37") + b"\x7f" + _TOPIC
            + bytes.fromhex("365fa1") + bytes.fromhex("5f353655") + b"\x00")
#: initcode returning _RUNTIME: CALLDATACOPY the input, LOG1 it, SSTORE(size, word 0)
LOG_CONTRACT_INITCODE = (bytes([0x60, len(_RUNTIME), 0x80, 0x60, 9, 0x5F, 0x39, 0x5F, 0xF3])
                         + _RUNTIME)
CHAIN_ID = 1337


class RpcFailure(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = json.loads(resp.read())
    except OSError as exc:
        raise RpcFailure(f"{url}: {exc}") from exc
    if "error" in reply:
        raise RpcFailure(str(reply["error"].get("message")), reply["error"].get("code"))
    return reply["result"]


def sign(account: LocalAccount, nonce: int, to: str | None, data: bytes, gas: int = 300_000,
         fees: dict[str, int] | None = None) -> bytes:
    """A signed call; ``fees`` replaces the zero gas price (offered, never charged)."""
    tx: dict[str, Any] = {"nonce": nonce, "gas": gas, "data": data, "chainId": CHAIN_ID,
                          "value": 0, **(fees or {"gasPrice": 0})}
    if to is not None:
        tx["to"] = to
    return bytes(Account.sign_transaction(tx, account.key).raw_transaction)


def wait_height(url: str, height: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            head = int(rpc(url, "eth_blockNumber", timeout=3), 16)
            if head >= height:
                return head
        except RpcFailure:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not reach height {height} within {timeout} s")
        time.sleep(0.2)


def wait_for_receipts(url: str, hashes: list[str], timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while True:
        for h in hashes:
            if h not in found:
                try:
                    r = rpc(url, "eth_getTransactionReceipt", [h], timeout=5)
                except RpcFailure:
                    r = None
                if r is not None:
                    found[h] = r
        if len(found) == len(hashes):
            return found
        if time.monotonic() > deadline:
            missing = [h for h in hashes if h not in found]
            raise AssertionError(f"{url}: {len(missing)} of {len(hashes)} receipts missing "
                                 f"after {timeout} s, e.g. {missing[:3]}")
        time.sleep(0.3)


def deploy_log_contract(url: str, account: LocalAccount) -> str:
    nonce = int(rpc(url, "eth_getTransactionCount", [account.address, "pending"]), 16)
    raw = sign(account, nonce, None, LOG_CONTRACT_INITCODE)
    h = rpc(url, "eth_sendRawTransaction", ["0x" + raw.hex()])
    receipt = wait_for_receipts(url, [h])[h]
    assert receipt["status"] == "0x1", receipt
    return str(receipt["contractAddress"])


def chain_digest(url: str, up_to: int) -> list[tuple[Any, ...]]:
    """Per block: hash, parent, state/receipts/transactions roots, time, the receipts and logs."""
    out = []
    for n in range(0, up_to + 1):
        b = rpc(url, "eth_getBlockByNumber", [hex(n), False])
        receipts = [rpc(url, "eth_getTransactionReceipt", [h]) for h in b["transactions"]]
        out.append((b["number"], b["hash"], b["parentHash"], b["stateRoot"], b["receiptsRoot"],
                    b["transactionsRoot"], b["timestamp"], b["miner"], tuple(b["transactions"]),
                    json.dumps(receipts, sort_keys=True)))
    logs = rpc(url, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(up_to)}])
    out.append(("logs", json.dumps(logs, sort_keys=True)))
    return out


@dataclass
class LoadGenerator:
    """Senders calling ``contract`` until stopped; records every receipt a validator returned."""

    urls: list[str]
    senders: list[LocalAccount]
    contract: str
    pause: float = 0.05
    acknowledged: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for i, account in enumerate(self.senders):
            t = threading.Thread(target=self._run, args=(i, account), daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        return dict(self.acknowledged)

    def _run(self, index: int, account: LocalAccount) -> None:
        which = index % len(self.urls)
        nonce: int | None = None
        seq = 0
        while not self._stop.is_set():
            url = self.urls[which]
            try:
                if nonce is None:
                    nonce = int(rpc(url, "eth_getTransactionCount", [account.address, "pending"],
                                    timeout=3), 16)
                seq += 1
                data = keccak(text=f"{account.address}:{seq}")
                raw = sign(account, nonce, self.contract, data)
                tx_hash = "0x" + keccak(raw).hex()
                receipt = self._deliver(raw, tx_hash, which)
            except RpcFailure:
                which = (which + 1) % len(self.urls)
                nonce = None
                self._stop.wait(0.5)
                continue
            if receipt is not None:
                with self._lock:
                    self.acknowledged[tx_hash] = receipt
                nonce += 1
            else:
                nonce = None  # unknown fate: ask again (the pending nonce covers it)
            self._stop.wait(self.pause)

    def _deliver(self, raw: bytes, tx_hash: str, which: int) -> Any | None:
        """Send ``raw`` (re-sending the same bytes elsewhere on failure) until a receipt."""
        deadline = time.monotonic() + 60
        sent = False
        while time.monotonic() < deadline and not self._stop.is_set():
            url = self.urls[which]
            try:
                if not sent:
                    try:
                        rpc(url, "eth_sendRawTransaction", ["0x" + raw.hex()], timeout=5)
                    except RpcFailure as exc:
                        if "already known" not in str(exc) and "nonce too low" not in str(exc):
                            raise
                    sent = True
                for _ in range(40):
                    r = rpc(url, "eth_getTransactionReceipt", [tx_hash], timeout=5)
                    if r is not None:
                        return r
                    time.sleep(0.1)
                sent = False  # not committed in 4 s on this validator: try it again, elsewhere
                which = (which + 1) % len(self.urls)
            except RpcFailure as exc:
                with self._lock:
                    self.errors.append(str(exc))
                sent = False
                which = (which + 1) % len(self.urls)
                time.sleep(0.3)
        return None
