"""Contract events for the domain replay: fetched by address with ``eth_getLogs``, decoded from the
committed artifacts' ABIs, each tagged with its transaction's sender and its block's time.

Only the logs and the receipts' ``from`` are used, never contract storage: the domain replay
(:mod:`client.audit.domain`) rebuilds the ledger from these events alone and then compares it
with the contracts' view functions.

Decoding is the hot path of the event replay (the benchmark's events/s figure): events whose
data holds only static words are sliced by hand; the rest (tuples, strings, bytes) go through
eth_abi.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from client._abi import canonical_type
from client.artifacts import load_artifact
from client.audit.errors import AuditError, AuditRpcError
from client.audit.fetch import RpcClient

__all__ = ["CONTRACTS", "Event", "EventDecoder", "fetch_events", "decode_logs"]

CONTRACTS: tuple[str, ...] = ("Consortium", "ProductCatalog", "CreditLines", "LoanLedger", "FundFlows",
                              "EvidenceRegistry", "ArbitrationCases")
"""Contracts whose events the domain replay reads (FundFlows and the evidence ones only if deployed)."""

_LIMIT_EXCEEDED = -32005
_INITIAL_RANGE = 20_000
_BATCH = 500  # receipts / headers per JSON-RPC batch


@dataclass(slots=True)
class Event:
    """One decoded log: where it is (block, log index, tx), who sent the tx, and its arguments."""

    contract: str
    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx_hash: str
    sender: str = ""  # the transaction's `from`, lower-case hex
    timestamp: int = 0
    tx_index: int = 0
    created: str = ""  # the receipt's contractAddress (lower-case) when the tx created a contract

    @property
    def position(self) -> tuple[int, int]:
        return (self.block, self.log_index)

    def where(self) -> dict[str, Any]:
        """Block, log index, tx and sender: how a counterexample names its event."""
        return {"event": self.name, "block": self.block, "log_index": self.log_index,
                "tx": self.tx_hash, "from": self.sender}


@dataclass
class _Spec:
    contract: str
    name: str
    indexed: list[tuple[str, str]]
    data_names: list[str]
    data_types: list[str]
    static_kinds: list[str] | None  # None: decode with eth_abi
    tuple_fields: dict[str, tuple[list[str], bool]] = field(default_factory=dict)


def _static_kind(t: str) -> str | None:
    if t.startswith("uint"):
        return "u"
    if t.startswith("int"):
        return "i"
    if t == "bool":
        return "b"
    if t == "address":
        return "a"
    if t == "bytes32":
        return "h"
    return None


class EventDecoder:
    """topic0 -> event spec for the named contracts' artifacts; decodes raw JSON-RPC logs."""

    def __init__(self, contracts: Iterable[str] = CONTRACTS) -> None:
        self._specs: dict[bytes, dict[str, _Spec]] = {}
        for contract in contracts:
            for entry in load_artifact(contract).abi:
                if entry.get("type") != "event":
                    continue
                inputs = entry["inputs"]
                sig = f"{entry['name']}({','.join(canonical_type(i) for i in inputs)})"
                topic = keccak(text=sig)
                indexed = [(i["name"], canonical_type(i)) for i in inputs if i.get("indexed")]
                data = [i for i in inputs if not i.get("indexed")]
                types = [canonical_type(i) for i in data]
                kinds = [_static_kind(t) for t in types]
                static = None if any(k is None for k in kinds) else [str(k) for k in kinds]
                fields = {i["name"]: ([c["name"] for c in i["components"]], i["type"].endswith("]"))
                          for i in data if "components" in i}
                self._specs.setdefault(topic, {})[contract] = _Spec(
                    contract, entry["name"], indexed, [i["name"] for i in data], types, static, fields)

    def decode(self, log: dict[str, Any], contract: str) -> Event | None:
        """The event of `log` emitted by `contract`, or None for a topic it does not declare."""
        topics = log.get("topics") or []
        if not topics:
            return None
        specs = self._specs.get(bytes.fromhex(str(topics[0])[2:]))
        spec = specs.get(contract) if specs else None
        if spec is None:
            return None
        args: dict[str, Any] = {}
        for (name, typ), topic in zip(spec.indexed, topics[1:], strict=False):
            args[name] = _topic_value(typ, str(topic))
        data = bytes.fromhex(str(log.get("data", "0x"))[2:])
        if spec.static_kinds is not None:
            for i, (name, kind) in enumerate(zip(spec.data_names, spec.static_kinds, strict=True)):
                word = data[32 * i: 32 * i + 32]
                args[name] = _word(kind, word)
        else:
            values = abi_decode(spec.data_types, data)
            for name, value in zip(spec.data_names, values, strict=True):
                if name in spec.tuple_fields:
                    names, is_array = spec.tuple_fields[name]
                    value = ([dict(zip(names, v, strict=True)) for v in value] if is_array
                             else dict(zip(names, value, strict=True)))
                args[name] = value
        return Event(
            contract, spec.name, args, int(str(log["blockNumber"]), 16), int(str(log["logIndex"]), 16),
            str(log["transactionHash"]), tx_index=int(str(log.get("transactionIndex", "0x0")), 16))


def _word(kind: str, word: bytes) -> Any:
    if kind == "u":
        return int.from_bytes(word, "big")
    if kind == "b":
        return word[-1] == 1
    if kind == "a":
        return "0x" + word[12:].hex()
    if kind == "h":
        return word
    v = int.from_bytes(word, "big")
    return v - (1 << 256) if v >> 255 else v


def _topic_value(typ: str, topic: str) -> Any:
    raw = bytes.fromhex(topic[2:])
    kind = _static_kind(typ)
    return _word(kind, raw) if kind else raw  # dynamic indexed values are only their hash


def decode_logs(decoder: EventDecoder, logs: Sequence[dict[str, Any]],
                names: dict[str, str]) -> list[Event]:
    """Decode `logs` (address -> contract name in `names`), sorted by block and log index."""
    out: list[Event] = []
    for log in logs:
        contract = names.get(str(log.get("address", "")).lower())
        if contract is None:
            continue
        ev = decoder.decode(log, contract)
        if ev is not None:
            out.append(ev)
    out.sort(key=lambda e: (e.block, e.log_index))
    return out


def fetch_events(rpc: RpcClient, addresses: dict[str, str], to_block: int | None = None,
                 ) -> tuple[list[Event], int]:
    """Every event of the contracts in `addresses` (name -> address) up to `to_block` (default
    the head), with sender and block time filled in; returns (events, last block read)."""
    head = int(str(rpc.call("eth_blockNumber", [])), 16)
    last = head if to_block is None else min(head, to_block)
    names = {a.lower(): n for n, a in addresses.items()}
    decoder = EventDecoder([n for n in CONTRACTS if n in addresses])
    logs: list[dict[str, Any]] = []
    start, width = 0, _INITIAL_RANGE
    while start <= last:
        end = min(last, start + width - 1)
        (reply,) = rpc.batch([("eth_getLogs", [{
            "address": list(addresses.values()), "fromBlock": hex(start), "toBlock": hex(end)}])])
        err = reply.get("error")
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            if code == _LIMIT_EXCEEDED and width > 1:
                width = max(1, width // 4)
                continue
            raise AuditRpcError(f"eth_getLogs {start}..{end} failed: {err}")
        logs.extend(reply.get("result") or [])
        start = end + 1
    events = decode_logs(decoder, logs, names)
    _annotate(rpc, events)
    return events, last


def _annotate(rpc: RpcClient, events: list[Event]) -> None:
    """Fill each event's sender (receipt `from`), created contract and block time."""
    hashes = list(dict.fromkeys(e.tx_hash for e in events))
    senders: dict[str, tuple[str, str]] = {}
    for i in range(0, len(hashes), _BATCH):
        chunk = hashes[i:i + _BATCH]
        for h, reply in zip(chunk, rpc.batch([("eth_getTransactionReceipt", [h]) for h in chunk]),
                            strict=True):
            r = reply.get("result")
            if not isinstance(r, dict):
                raise AuditError(f"receipt of transaction {h} is missing: {reply.get('error')}")
            senders[h] = (str(r.get("from", "")).lower(), str(r.get("contractAddress") or "").lower())
    blocks = sorted({e.block for e in events})
    times: dict[int, int] = {}
    for i in range(0, len(blocks), _BATCH):
        numbers = blocks[i:i + _BATCH]
        for n, reply in zip(numbers, rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers]),
                            strict=True):
            b = reply.get("result")
            if not isinstance(b, dict):
                raise AuditError(f"block {n} is missing: {reply.get('error')}")
            times[n] = int(str(b["timestamp"]), 16)
    for e in events:
        e.sender, e.created = senders[e.tx_hash]
        e.timestamp = times[e.block]
