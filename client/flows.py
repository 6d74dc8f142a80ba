"""Typed API for closed-loop virtual accounts (the FundFlows contract, `IFundFlows`).

A gateway or lead bank records flows in batches (`record_flows` splits a long list into
transactions of at most `MAX_BATCH` flows that each stay under the block gas limit); the lead bank
resolves verifications, releases holds and closes (or reopens) accounts; governance sets rules
through calldata built here; anyone reads accounts, per-loan lineage totals (summed from
`FlowLineage` logs), flow history and per-product verdict counts (the latter derived from
`FlowRecorded` events, not stored on chain), and follows alerts with `alerts(cursor)` /
`watch_alerts(cursor)`: eth_getLogs in block ranges, resumable from a cursor.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from client.contracts import bind, deploy
from client.errors import CoLedgerValueError
from client.flow_rules import MAX_BATCH, FlowInput, FlowKind, RuleSet, Verdict
from client.tx import Call, RawReceipt, TransactionPipeline

__all__ = [
    "AccountInfo", "AlertCursor", "AlertEvent", "FlowResult", "FundFlowsClient", "deploy_fund_flows",
    "encode_record_flows",
]

_BLOCK_GAS_SHARE = 0.8  # a batch transaction may use at most this share of the block gas limit
_LOG_RANGE = 2_000  # blocks per eth_getLogs request
_IDS_PER_FILTER = 100  # flow ids OR-ed in one topic filter
_SPEND_KEYS = {FlowKind.MERCHANT_PAYMENT: "merchant", FlowKind.P2P_TRANSFER: "p2p",
               FlowKind.CASH_WITHDRAWAL: "cash", FlowKind.OFF_PLATFORM_PAYMENT: "offPlatform",
               FlowKind.REPAYMENT: "repayment", FlowKind.REFUND: "refunded"}


_FLOW_TUPLE = "(bytes32,uint8,uint16,uint64,bytes32,bool)"
_RECORD_FLOWS = keccak(text=f"recordFlows({_FLOW_TUPLE}[])")[:4]
_HEAD = (32).to_bytes(32, "big")  # the array's offset: right after the selector
_ZERO_PAD = bytes(31)


def encode_record_flows(flows: Sequence[FlowInput]) -> bytes:
    """`recordFlows(flows)` calldata, encoded by hand: the flow tuple is static, so the array is
    six 32-byte words a flow after the offset and length — a join, not a walk through eth_abi's
    (or web3's) generic encoders, which take most of a gateway's CPU at thousands of flows a
    second. Same bytes as the ABI encoding; a field out of its type's range raises."""
    words = [_RECORD_FLOWS, _HEAD, len(flows).to_bytes(32, "big")]
    for f in flows:
        if len(f.account) != 32 or len(f.counterparty) != 32:
            raise CoLedgerValueError(f"account and counterparty must be 32 bytes: {f}")
        if not (0 <= f.kind < 256 and 0 <= f.mcc < 65_536 and 0 <= f.amount < 2**64):
            raise CoLedgerValueError(f"kind, mcc or amount outside uint8 / uint16 / uint64: {f}")
        words += (f.account, f.kind.to_bytes(32, "big"), f.mcc.to_bytes(32, "big"), f.amount.to_bytes(32, "big"),
                  f.counterparty, _ZERO_PAD + (b"\x01" if f.to_other_lender else b"\x00"))
    return b"".join(words)


def deploy_fund_flows(pipeline: TransactionPipeline, consortium: str, loan_ledger: str) -> str:
    """Deploy FundFlows for `consortium` pulling drawdowns from `loan_ledger`; returns its address."""
    return deploy(pipeline, "FundFlows", consortium, loan_ledger)


@dataclass(frozen=True)
class AccountInfo:
    balance: int
    reserved: int
    available: int
    funded: int
    off_platform_spent: int
    product_id: int
    lead_member_id: int
    held: bool
    closed: bool
    bucket_head: int
    bucket_count: int
    p2p_count: int
    velocity_window_start: int
    velocity_base: int
    velocity_outflow: int


@dataclass(frozen=True)
class FlowResult:
    """One recorded flow as its receipt tells it (lineage: (loan id, amount) per bucket)."""

    flow_id: int
    account: bytes
    kind: FlowKind
    amount: int
    mcc: int
    product_id: int
    verdict: Verdict
    rules_fired: int
    lineage: tuple[tuple[int, int], ...]
    block_number: int


@dataclass(frozen=True, order=True)
class AlertCursor:
    """Where an alert stream resumes: after log `log_index` of block `block` (-1: whole block)."""

    block: int = 0
    log_index: int = -1


@dataclass(frozen=True)
class AlertEvent:
    flow_id: int
    account: bytes
    product_id: int
    verdict: Verdict
    rules_fired: int
    block_number: int
    log_index: int
    tx_hash: str

    @property
    def cursor(self) -> AlertCursor:
        return AlertCursor(self.block_number, self.log_index)


class FundFlowsClient:
    """FundFlows operations signed by one key (`pipeline`), or read-only."""

    def __init__(self, w3: Web3, address: str, pipeline: TransactionPipeline | None = None) -> None:
        self.w3 = w3
        self.pipeline = pipeline
        self.contract: Contract = bind(w3, "FundFlows", address)
        self.address = self.contract.address
        events = self.contract.events
        self._recorded_topic = _hex(events.FlowRecorded().topic)
        self._lineage_topic = _hex(events.FlowLineage().topic)

    # -- plumbing ----------------------------------------------------------------------------

    def call_data(self, fn: str, *args: Any) -> bytes:
        return bytes.fromhex(self.contract.encode_abi(fn, args=list(args))[2:])

    def _call(self, fn: str, *args: Any) -> Call:
        return Call(to=self.address, data=self.call_data(fn, *args), label=f"FundFlows.{fn}")

    def _send(self, fn: str, *args: Any) -> TxReceipt:
        if self.pipeline is None:
            raise CoLedgerValueError("this FundFlowsClient is read-only: give it a pipeline")
        return self.pipeline.transact(self._call(fn, *args))

    # -- writes ------------------------------------------------------------------------------

    def sync_drawdown(self, loan_id: int) -> TxReceipt:
        return self._send("syncDrawdown", loan_id)

    def record_flows(self, flows: Sequence[FlowInput]) -> list[FlowResult]:
        """Record `flows` in order, in as few transactions as fit: at most MAX_BATCH flows each,
        and each estimated under 80% of the block gas limit (a chunk over it is halved). A chunk
        with malformed input raises its `ContractRevert` (earlier chunks stay recorded). Hot path:
        calldata by `encode_record_flows`, receipts by `wait_many_raw` (no web3 formatting)."""
        if not flows:
            raise CoLedgerValueError("no flows to record")
        if self.pipeline is None:
            raise CoLedgerValueError("this FundFlowsClient is read-only: give it a pipeline")
        limit = int(self.w3.eth.get_block("latest")["gasLimit"] * _BLOCK_GAS_SHARE)
        results: list[FlowResult] = []
        start = 0
        size = MAX_BATCH
        while start < len(flows):
            chunk = flows[start : start + size]
            call = Call(self.address, encode_record_flows(chunk), label="FundFlows.recordFlows")
            gas = self.pipeline.estimate_gas(call)
            if gas > limit and len(chunk) > 1:
                size = max(1, len(chunk) // 2)
                continue
            sent = self.pipeline.send(Call(call.to, call.data, gas=gas, label=call.label))
            results.extend(self.results(self.pipeline.wait_many_raw([sent])[0]))
            start += len(chunk)
        return results

    def results(self, receipt: TxReceipt | RawReceipt) -> list[FlowResult]:
        """The flows a recordFlows (or resolveVerification) receipt recorded, with lineage."""
        if isinstance(receipt, RawReceipt):
            return self._raw_results(receipt)
        events = self.contract.events
        lineage: dict[int, list[tuple[int, int]]] = {}
        for e in events.FlowLineage().process_receipt(receipt, errors=DISCARD):
            lineage.setdefault(int(e["args"]["flowId"]), []).append(
                (int(e["args"]["loanId"]), int(e["args"]["amount"])))
        return [
            _flow_result(e, tuple(lineage.get(int(e["args"]["flowId"]), ())))
            for e in events.FlowRecorded().process_receipt(receipt, errors=DISCARD)
        ]

    def _raw_results(self, receipt: RawReceipt) -> list[FlowResult]:
        """`results` from the node's log JSON: FlowRecorded's data is six static words, FlowLineage's
        one, so they are sliced by hand (web3's per-log decoding would dominate a batch)."""
        address = self.address.lower()
        lineage: dict[int, list[tuple[int, int]]] = {}
        recorded: list[tuple[list[str], str]] = []
        for log in receipt.logs:
            topics = log["topics"]
            if not topics or log["address"].lower() != address:
                continue
            topic = topics[0].lower()
            if topic == self._lineage_topic:
                lineage.setdefault(int(topics[1], 16), []).append((int(topics[2], 16), int(log["data"], 16)))
            elif topic == self._recorded_topic:
                recorded.append((topics, log["data"]))
        out = []
        for topics, data in recorded:
            kind, amount, mcc, product, verdict, fired = (int(data[2 + 64 * i : 66 + 64 * i], 16) for i in range(6))
            flow_id = int(topics[1], 16)
            out.append(FlowResult(flow_id, bytes.fromhex(topics[2][2:]), FlowKind(kind), amount, mcc, product,
                                  Verdict(verdict), fired, tuple(lineage.get(flow_id, ())), receipt.block_number))
        return out

    def resolve_verification(self, flow_id: int, attestation_hash: bytes, approved: bool
                             ) -> tuple[tuple[int, int], ...]:
        """Settle or reject pending flow `flow_id`; returns the lineage (empty when rejected)."""
        receipt = self._send("resolveVerification", flow_id, _hash32(attestation_hash), approved)
        return tuple((int(e["args"]["loanId"]), int(e["args"]["amount"])) for e in
                     self.contract.events.FlowLineage().process_receipt(receipt, errors=DISCARD))

    def release_hold(self, account: bytes, reason_hash: bytes) -> TxReceipt:
        return self._send("releaseHold", _hash32(account), _hash32(reason_hash))

    def close_account(self, account: bytes, reason_hash: bytes) -> TxReceipt:
        """Close `account` (lead bank; zero balance, not held): later flows and syncs into it
        revert with `FundFlowsAccountClosed` until `reopen_account`."""
        return self._send("closeAccount", _hash32(account), _hash32(reason_hash))

    def reopen_account(self, account: bytes, reason_hash: bytes) -> TxReceipt:
        """Reopen closed `account` (lead bank), e.g. before syncing a new loan of its borrower."""
        return self._send("reopenAccount", _hash32(account), _hash32(reason_hash))

    # -- governance calldata (ConsortiumClient.propose_call(client.address, data)) ----------------

    def set_rules_call(self, product_id: int, rules: RuleSet) -> bytes:
        rules.check()
        return self.call_data("setRules", product_id, rules.as_abi())

    def set_prohibited_category_call(self, product_id: int, mcc: int, prohibited: bool) -> bytes:
        if not 1 <= mcc <= 9999:
            raise CoLedgerValueError(f"merchant category code {mcc} is outside 1..9999")
        return self.call_data("setProhibitedCategory", product_id, mcc, prohibited)

    # -- reads -------------------------------------------------------------------------------

    def account(self, account: bytes) -> AccountInfo:
        return AccountInfo(*self.contract.functions.account(_hash32(account)).call())

    def bucket(self, account: bytes, index: int) -> tuple[int, int, int, int, int]:
        """(loan id, remaining, amount, drawdown time, product id) of bucket `index`."""
        return tuple(int(v) for v in self.contract.functions.bucket(_hash32(account), index).call())  # type: ignore[return-value]

    def flow(self, flow_id: int) -> dict[str, Any]:
        account, kind, status, mcc, amount = self.contract.functions.flow(flow_id).call()
        return {"account": bytes(account), "kind": int(kind), "status": int(status), "mcc": int(mcc),
                "amount": int(amount)}

    def loan_spend(self, loan_id: int, from_block: int = 0) -> dict[str, int]:
        """Where loan `loan_id`'s money went, by kind, and what was refunded to it — not stored on
        chain: its `FlowLineage` logs (topic-filtered by loan) summed by the kind each flow's
        `FlowRecorded` gives (fetched by flow id). Keys: merchant, p2p, cash, offPlatform,
        repayment, refunded."""
        lineage = self.contract.events.FlowLineage
        taken: list[tuple[int, int]] = []
        for log in self._logs([lineage().topic, None, "0x" + loan_id.to_bytes(32, "big").hex()],
                              from_block, None):
            args = lineage().process_log(log)["args"]
            taken.append((int(args["flowId"]), int(args["amount"])))
        kinds = self._kinds(sorted({flow_id for flow_id, _ in taken}), from_block)
        totals = dict.fromkeys(_SPEND_KEYS.values(), 0)
        for flow_id, amount in taken:
            totals[_SPEND_KEYS[kinds[flow_id]]] += amount
        return totals

    def _kinds(self, flow_ids: Sequence[int], from_block: int) -> dict[int, FlowKind]:
        """The kind of each of `flow_ids`, from their `FlowRecorded` logs (indexed by flow id)."""
        event = self.contract.events.FlowRecorded
        kinds: dict[int, FlowKind] = {}
        for start in range(0, len(flow_ids), _IDS_PER_FILTER):
            ids = ["0x" + i.to_bytes(32, "big").hex() for i in flow_ids[start : start + _IDS_PER_FILTER]]
            for log in self._logs([event().topic, ids], from_block, None):
                args = event().process_log(log)["args"]
                kinds[int(args["flowId"])] = FlowKind(int(args["kind"]))
        missing = [i for i in flow_ids if i not in kinds]
        if missing:
            raise CoLedgerValueError(f"FlowLineage names flows with no FlowRecorded log: {missing[:5]}")
        return kinds

    def rules(self, product_id: int) -> RuleSet:
        return RuleSet.from_abi(self.contract.functions.rules(product_id).call())

    def flow_count(self) -> int:
        return int(self.contract.functions.flowCount().call())

    def synced(self, loan_id: int) -> bool:
        return bool(self.contract.functions.synced(loan_id).call())

    def history(self, account: bytes, from_block: int = 0) -> list[FlowResult]:
        """Every flow of `account` with its verdict (indexed `FlowRecorded` logs)."""
        event = self.contract.events.FlowRecorded
        logs = self._logs([event().topic, None, "0x" + _hash32(account).hex()], from_block, None)
        recorded = [event().process_log(log) for log in logs]
        lineage = self._lineage_of([int(e["args"]["flowId"]) for e in recorded], from_block)
        return [_flow_result(e, tuple(lineage.get(int(e["args"]["flowId"]), ()))) for e in recorded]

    def _lineage_of(self, flow_ids: list[int], from_block: int) -> dict[int, list[tuple[int, int]]]:
        """(loan id, amount) per flow, from the `FlowLineage` logs of those flows (topic OR-lists
        of at most 100 ids per query: a settled Verify flow gets its lineage when it settles)."""
        out: dict[int, list[tuple[int, int]]] = {}
        lineage = self.contract.events.FlowLineage
        for i in range(0, len(flow_ids), 100):
            ids = ["0x" + f.to_bytes(32, "big").hex() for f in flow_ids[i:i + 100]]
            for log in self._logs([lineage().topic, ids], from_block, None):
                args = lineage().process_log(log)["args"]
                out.setdefault(int(args["flowId"]), []).append(
                    (int(args["loanId"]), int(args["amount"])))
        return out

    def pending_verifications(self, account: bytes, from_block: int = 0) -> list[int]:
        """Flow ids of `account` still pending (Verify verdicts whose stored status is Pending)."""
        return [r.flow_id for r in self.history(account, from_block)
                if r.verdict == Verdict.VERIFY and self.flow(r.flow_id)["status"] == 1]

    def verdict_counts(self, product_id: int, from_block: int = 0) -> dict[str, dict[int, int]]:
        """Per-product counts from `FlowRecorded` events: {"verdict": {verdict: n}, "rule": {bit: n}}."""
        event = self.contract.events.FlowRecorded
        counts: dict[str, dict[int, int]] = {"verdict": {}, "rule": {}}
        for log in self._logs([event().topic], from_block, None):
            args = event().process_log(log)["args"]
            if int(args["productId"]) != product_id:
                continue
            v = int(args["verdict"])
            counts["verdict"][v] = counts["verdict"].get(v, 0) + 1
            for bit in range(16):
                if int(args["rulesFired"]) >> bit & 1:
                    counts["rule"][bit] = counts["rule"].get(bit, 0) + 1
        return counts

    # -- alert stream ------------------------------------------------------------------------

    def alerts(self, cursor: AlertCursor = AlertCursor(), to_block: int | None = None
               ) -> tuple[list[AlertEvent], AlertCursor]:
        """Alerts after `cursor` up to `to_block` (default: head), and the cursor to resume from.
        Persist the returned cursor; passing it back never repeats nor skips an alert."""
        event = self.contract.events.Alert
        head = int(self.w3.eth.block_number) if to_block is None else to_block
        found: list[AlertEvent] = []
        for log in self._logs([event().topic], cursor.block, head):
            if (int(log["blockNumber"]), int(log["logIndex"])) <= (cursor.block, cursor.log_index):
                continue
            args = event().process_log(log)["args"]
            found.append(AlertEvent(
                int(args["flowId"]), bytes(args["account"]), int(args["productId"]),
                Verdict(int(args["verdict"])), int(args["rulesFired"]), int(log["blockNumber"]),
                int(log["logIndex"]), "0x" + bytes(log["transactionHash"]).hex(),
            ))
        return found, (found[-1].cursor if found else max(cursor, AlertCursor(head, 2**31)))

    def watch_alerts(self, cursor: AlertCursor = AlertCursor(), poll_interval: float = 1.0
                     ) -> Iterator[AlertEvent]:
        """Yield alerts forever, polling the head; each alert's `.cursor` resumes after it."""
        while True:
            batch, cursor = self.alerts(cursor)
            yield from batch
            if not batch:
                time.sleep(poll_interval)

    def _logs(self, topics: list[Any], from_block: int, to_block: int | None) -> list[Any]:
        head = int(self.w3.eth.block_number) if to_block is None else to_block
        out: list[Any] = []
        start = from_block
        while start <= head:
            end = min(head, start + _LOG_RANGE - 1)
            out.extend(self.w3.eth.get_logs({"address": self.address, "fromBlock": start,
                                             "toBlock": end, "topics": topics}))
            start = end + 1
        return out


def _flow_result(event: Any, lineage: tuple[tuple[int, int], ...]) -> FlowResult:
    a = event["args"]
    return FlowResult(
        int(a["flowId"]), bytes(a["account"]), FlowKind(int(a["kind"])), int(a["amount"]), int(a["mcc"]),
        int(a["productId"]), Verdict(int(a["verdict"])), int(a["rulesFired"]), lineage,
        int(event["blockNumber"]),
    )


def _hex(topic: Any) -> str:
    """A topic as lower-case 0x-hex, whatever web3 gave (str or bytes)."""
    text = topic if isinstance(topic, str) else "0x" + bytes(topic).hex()
    return text.lower() if text.startswith("0x") else "0x" + text.lower()


def _hash32(value: bytes) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise CoLedgerValueError(f"expected 32 bytes, got {value!r}")
    return bytes(value)
