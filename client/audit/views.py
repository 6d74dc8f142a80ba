"""Compare the event-sourced :class:`~client.audit.domain.Ledger` with the contracts' view
functions at the same block: every member, the threshold, every proposal, loan, lender position,
credit line, borrower exposure and virtual account (with its lineage buckets). Each difference is
one :class:`Mismatch`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from web3 import Web3

from client.artifacts import load_artifact
from client.audit.domain import Ledger
from client.audit.views_evidence import evidence_mismatches

__all__ = ["Mismatch", "compare_with_views"]


@dataclass(frozen=True)
class Mismatch:
    what: str
    field: str
    events: Any
    view: Any

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in asdict(self).items()}


def _named(abi: Any, fn: str, value: Any) -> dict[str, Any]:
    out = next(e for e in abi if e.get("type") == "function" and e["name"] == fn)["outputs"]
    comps = out[0].get("components")
    if len(out) == 1 and comps:
        return dict(zip([c["name"] for c in comps], value, strict=True))
    return dict(zip([o["name"] for o in out], value, strict=True))


def compare_with_views(w3: Web3, ledger: Ledger, block: int) -> list[Mismatch]:
    """Mismatches between `ledger` (events through `block`) and the views at `block`."""
    out: list[Mismatch] = []
    contracts = {n: w3.eth.contract(address=Web3.to_checksum_address(a), abi=load_artifact(n).abi)
                 for n, a in ledger.addresses.items()}

    def view(name: str, fn: str, *args: Any) -> dict[str, Any]:
        c = contracts[name]
        value = getattr(c.functions, fn)(*args).call(block_identifier=block)
        return _named(c.abi, fn, value)

    def cmp(what: str, expected: dict[str, Any], actual: dict[str, Any]) -> None:
        for k, v in expected.items():
            got = actual.get(k)
            if isinstance(got, str) and isinstance(v, str):
                got, v = got.lower(), v.lower()
            if isinstance(got, tuple | list) and isinstance(v, list):
                got = list(got)
            if got != v:
                out.append(Mismatch(what, k, v, got))

    if "Consortium" in contracts:
        cf = contracts["Consortium"].functions
        threshold = cf.threshold().call(block_identifier=block)
        if threshold != ledger.threshold:
            out.append(Mismatch("consortium", "threshold", ledger.threshold, threshold))
        count = cf.memberCount().call(block_identifier=block)
        if count != len(ledger.members):
            out.append(Mismatch("consortium", "memberCount", len(ledger.members), count))
        for m in ledger.members.values():
            cmp(f"member {m.member_id}", {"name": m.name, "key": m.key, "roles": m.roles,
                                          "active": m.active}, view("Consortium", "member", m.member_id))
        for p in ledger.proposals.values():
            cmp(f"proposal {p.proposal_id}", {"approvals": len(p.approvers), "executed": p.executed,
                                              "proposerId": p.proposer_id, "kind": p.kind},
                view("Consortium", "proposal", p.proposal_id))
    if "LoanLedger" in contracts:
        for loan in ledger.loans.values():
            cmp(f"loan {loan.loan_id}", {
                "borrower": loan.borrower, "lineId": loan.line_id, "productId": loan.product_id,
                "principal": loan.principal, "annualRateBp": loan.annual_rate_bp,
                "penaltySurchargeBp": loan.penalty_surcharge_bp, "installments": loan.installments,
                "start": loan.start, "leadMemberId": loan.lead_member_id, "status": loan.status,
                "category": loan.category, "collectionStep": loan.collection_step,
                "paidPrincipal": loan.paid_principal, "paidInterest": loan.paid_interest,
                "paidPenalty": loan.paid_penalty, "penaltyAccrued": loan.penalty_accrued,
            }, view("LoanLedger", "loan", loan.loan_id))
            ledger_c = contracts["LoanLedger"]
            positions = ledger_c.functions.lenders(loan.loan_id).call(block_identifier=block)
            if len(positions) != len(loan.lenders):
                out.append(Mismatch(f"loan {loan.loan_id}", "lenders", len(loan.lenders), len(positions)))
            for lender, pos in zip(loan.lenders, positions, strict=False):
                got = dict(zip(["memberId", "principalLent", "principalOutstanding", "interestReceived",
                                "penaltyReceived"], pos, strict=True))
                cmp(f"loan {loan.loan_id} lender {lender.member_id}", {
                    "memberId": lender.member_id, "principalLent": lender.lent,
                    "principalOutstanding": lender.outstanding, "interestReceived": lender.interest,
                    "penaltyReceived": lender.penalty}, got)
    if "CreditLines" in contracts:
        for line in ledger.lines.values():
            cmp(f"line {line.line_id}", {
                "borrower": line.borrower, "productId": line.product_id,
                "leadMemberId": line.lead_member_id, "limit": line.limit, "used": line.used,
                "scoreBand": line.score_band, "closed": line.closed, "modelHash": line.model_hash,
            }, view("CreditLines", "line", line.line_id))
        lines_f = contracts["CreditLines"].functions
        for borrower, exposure in ledger.exposure.items():
            got = lines_f.borrowerExposure(borrower).call(block_identifier=block)
            if got != exposure:
                out.append(Mismatch(f"borrower {borrower.hex()}", "exposure", exposure, got))
    if "FundFlows" in contracts:
        for acct in ledger.accounts.values():
            cmp(f"account {acct.account.hex()}", {
                "balance": acct.balance, "reserved": acct.reserved,
                "available": acct.balance - acct.reserved, "funded": acct.funded,
                "offPlatformSpent": acct.off_platform_spent, "productId": acct.product_id,
                "leadMemberId": acct.lead_member_id, "held": acct.held, "closed": acct.closed,
                "bucketCount": len(acct.buckets),
            }, view("FundFlows", "account", acct.account))
            for i, b in enumerate(acct.buckets):
                cmp(f"account {acct.account.hex()} bucket {i}", {
                    "loanId": b.loan_id, "remaining": b.remaining, "amount": b.amount,
                    "time": b.time, "productId": b.product_id,
                }, view("FundFlows", "bucket", acct.account, i))
    out.extend(Mismatch(*row) for row in evidence_mismatches(contracts, ledger.evidence, block))
    return out
