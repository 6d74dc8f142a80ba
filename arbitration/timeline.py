"""A loan's story from the lending contracts' events: disbursement, flows and verdicts, repayments,
classification and collection steps, defaults — decoded for the evidence index's timeline.

Why a separate decoder: LoanLedger and CreditLines key their events by loan id, but FundFlows
keys them by virtual account and flow id. A flow is tied to loans by its ``FlowLineage`` logs
(which bucket — i.e. which drawdown — the money came from or, for a refund, went back to), and an
account to loans by ``DrawdownSynced``. A flow without lineage (pending verification, held,
rejected) and account-level events (holds, closing) are attributed to every loan synced to the account so
far — what an arbitrator of any of those loans must see. The index supplies those maps
(``LoanMaps``) from its tables, so they survive across sync ranges.

Decoding reuses ``client.audit.events.EventDecoder`` (the compiled ABIs, the audit's fast path).
Payloads are JSON-ready: ``bytes`` as 0x-hex, addresses lower-case hex, enum fields (category,
step, kind, verdict) as lower-case names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from client.audit.events import Event, EventDecoder

__all__ = ["LOAN_CONTRACTS", "TIMELINE_KINDS", "LoanEvent", "LoanMaps", "LoanEventDecoder", "TimelineEntry", "loan32"]

LOAN_CONTRACTS: tuple[str, ...] = ("LoanLedger", "CreditLines", "FundFlows")

# (contract, event) -> timeline kind; events keyed by loan id name that argument.
_BY_LOAN: dict[tuple[str, str], tuple[str, str]] = {
    ("LoanLedger", "LoanOpened"): ("loan_opened", "loanId"),
    ("LoanLedger", "VirtualAccountCredited"): ("disbursement_credited", "loanId"),
    ("LoanLedger", "PenaltyAccrued"): ("penalty_accrued", "loanId"),
    ("LoanLedger", "Repaid"): ("repaid", "loanId"),
    ("LoanLedger", "LenderCredited"): ("lender_credited", "loanId"),
    ("LoanLedger", "LoanClosed"): ("loan_closed", "loanId"),
    ("LoanLedger", "LoanClassified"): ("classified", "loanId"),
    ("LoanLedger", "CollectionStepRecorded"): ("collection_step", "loanId"),
    ("LoanLedger", "LoanDefaulted"): ("defaulted", "loanId"),
    ("CreditLines", "DrawdownProposed"): ("drawdown_proposed", "drawdownId"),
    ("CreditLines", "DrawdownCommitted"): ("drawdown_committed", "drawdownId"),
    ("CreditLines", "DrawdownDisbursed"): ("disbursed", "drawdownId"),
    ("FundFlows", "DrawdownSynced"): ("drawdown_synced", "loanId"),
}
_BY_FLOW: dict[str, str] = {
    "FlowRecorded": "flow",
    "VerificationResolved": "verification_resolved",
    "HoldPlaced": "hold_placed",
    "HoldReleased": "hold_released",
    "AccountClosed": "account_closed",
    "AccountReopened": "account_reopened",
}
#: Every kind a timeline entry can have (evidence items are "evidence"; cases add their three).
TIMELINE_KINDS: frozenset[str] = frozenset(
    [k for k, _ in _BY_LOAN.values()] + list(_BY_FLOW.values())
    + ["evidence", "case_opened", "award_recorded", "access_log_anchored"]
)

_ENUMS: dict[str, tuple[str, ...]] = {
    "category": ("normal", "special_mention", "substandard", "doubtful", "loss"),
    "step": ("none", "reminder", "automated_collection", "outsourced_recovery", "arbitration"),
    "kind": ("merchant_payment", "p2p_transfer", "cash_withdrawal", "off_platform_payment", "repayment", "refund"),
    "verdict": ("allow", "flag", "verify", "hold", "rejected"),
}


def loan32(loan_id: int | bytes) -> bytes:
    """A loan id in the 32-byte form evidence records (and the index) use."""
    if isinstance(loan_id, bytes | bytearray):
        if len(loan_id) != 32:
            raise ValueError(f"a 32-byte loan id was expected, got {len(loan_id)} bytes")
        return bytes(loan_id)
    if isinstance(loan_id, bool) or not isinstance(loan_id, int) or not 0 <= loan_id < 1 << 256:
        raise ValueError(f"loan id {loan_id!r} is not a non-negative integer")
    return loan_id.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class LoanEvent:
    """One timeline row as the index stores it (``loan`` is the 32-byte loan id)."""

    loan: bytes
    block: int
    log_index: int
    tx_hash: bytes
    contract: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step of a loan's timeline, in chain order (block, log index, leaf index).

    ``kind`` is one of ``TIMELINE_KINDS``; ``contract`` the emitting contract's name;
    ``payload`` the event's arguments (JSON-ready, see the module docstring); ``evidence_id`` is
    set for ``"evidence"`` entries (whose ``leaf_index`` orders items of one batch).
    """

    block_number: int
    log_index: int
    leaf_index: int
    tx_hash: bytes
    timestamp: int
    kind: str
    contract: str
    payload: Mapping[str, Any]
    evidence_id: bytes | None = None


class LoanMaps(Protocol):
    """The account -> loans and flow -> loans maps the index keeps for FundFlows events."""

    def link_account(self, account: bytes, loan: bytes) -> None: ...

    def link_flow(self, flow_id: int, loan: bytes, amount: int) -> None: ...

    def loans_of_account(self, account: bytes) -> list[bytes]: ...

    def lineage_of_flow(self, flow_id: int) -> list[tuple[bytes, int]]: ...


def _json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _payload(args: Mapping[str, Any], skip: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in args.items():
        if name == skip:
            continue
        names = _ENUMS.get(name)
        if names is not None and isinstance(value, int) and 0 <= value < len(names):
            out[name] = names[value]
        else:
            out[name] = _json(value)
    return out


class LoanEventDecoder:
    """Raw logs of the loan contracts -> per-loan ``LoanEvent`` rows."""

    def __init__(self, addresses: Mapping[str, str]) -> None:
        self.names = {a.lower(): n for n, a in addresses.items() if n in LOAN_CONTRACTS}
        self._decoder = EventDecoder([n for n in LOAN_CONTRACTS if n in addresses])

    @property
    def addresses(self) -> list[str]:
        return list(self.names)

    def decode(self, logs: Sequence[dict[str, Any]], maps: LoanMaps) -> list[LoanEvent]:
        """Decode ``logs`` (any contracts; foreign ones are skipped) in (block, log index) order.

        All ``FlowLineage`` links of the range are made first: a refund's lineage follows its
        ``FlowRecorded`` in the same transaction, an approval's follows ``VerificationResolved``.
        """
        events: list[Event] = []
        for log in logs:
            contract = self.names.get(str(log.get("address", "")).lower())
            if contract is None:
                continue
            ev = self._decoder.decode(log, contract)
            if ev is not None:
                events.append(ev)
        events.sort(key=lambda e: (e.block, e.log_index))
        for ev in events:
            if ev.contract == "FundFlows" and ev.name == "FlowLineage":
                maps.link_flow(int(ev.args["flowId"]), loan32(int(ev.args["loanId"])), int(ev.args["amount"]))
        out: list[LoanEvent] = []
        for ev in events:
            tx = bytes.fromhex(ev.tx_hash[2:])
            by_loan = _BY_LOAN.get((ev.contract, ev.name))
            if by_loan is not None:
                kind, key = by_loan
                loan = loan32(int(ev.args[key]))
                if ev.name == "DrawdownSynced":
                    maps.link_account(bytes(ev.args["account"]), loan)
                out.append(LoanEvent(loan, ev.block, ev.log_index, tx, ev.contract, kind, _payload(ev.args, key)))
                continue
            flow_kind = _BY_FLOW.get(ev.name) if ev.contract == "FundFlows" else None
            if flow_kind is None:
                continue
            payload = _payload(ev.args)
            lineage = maps.lineage_of_flow(int(ev.args["flowId"])) if "flowId" in ev.args else []
            if lineage and ev.name in ("FlowRecorded", "VerificationResolved"):
                payload["lineage"] = [{"loanId": int.from_bytes(loan, "big"), "amount": amount}
                                      for loan, amount in lineage]
                loans = [loan for loan, _ in lineage]
            else:
                loans = maps.loans_of_account(bytes(ev.args["account"]))
            for loan in dict.fromkeys(loans):
                out.append(LoanEvent(loan, ev.block, ev.log_index, tx, ev.contract, flow_kind, payload))
        return out
