"""Ledger invariants, checked in one pass over the contract events (block/log order) while the
:class:`~client.audit.domain.Ledger` is rebuilt, each reported pass/fail with counterexamples.

The checker believes only the events and the transactions' senders: a role is "held at that
block" if the membership timeline rebuilt from the Consortium's events says so at that log
position. Tests break each invariant by feeding an altered event list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from client.audit.domain import DEBT_ROLLING_BIT, FLAG, HOLD, REFUND, REJECTED, REPAYMENT, Ledger
from client.audit.events import Event
from client.audit.invariants_evidence import EvidenceChecker
from client.consortium import Role, parameter_key
from client.lending_math import split_bp

__all__ = ["INVARIANTS", "Checker", "InvariantResult", "check_events"]

INVARIANTS: dict[str, str] = {
    "splits_sum_to_amounts": (
        "every drawdown's parts sum to its amount and equal split_bp of the product's shares; "
        "every loan's parts equal its drawdown's"),
    "lender_receipts_conserve_payments": (
        "per Repaid: toPenalty+toInterest+toPrincipal == amount, and the LenderCredited events "
        "of the same transaction sum to it component by component"),
    "no_lender_overpaid_principal": "no lender is credited more principal than it lent",
    "exposure_caps_respected": (
        "at every disbursement: borrower exposure <= the cap in force, amount <= single-draw "
        "cap, line usage <= limit; released principal keeps the reported usage/exposure"),
    "no_settlement_while_held": (
        "no flow settles (nor a verification is approved) on a held account until its release"),
    "closed_accounts_stay_closed": (
        "an account is closed by its lead bank only with nothing in it (balance, reservations), "
        "not held; no flow is recorded on it nor loan synced into it until it is reopened"),
    "debt_rolling_flagged": (
        "the debt-rolling rule fires only on repayments to another lender (FlowCounterparty), "
        "and on every one that settled at once exactly when the money it spent was drawn less "
        "than the product's debtRollingDays before (the rules in force, the lineage's newest loan)"),
    "verifications_resolved_or_open": (
        "every VerificationResolved resolves a pending VERIFY flow once; the rest are open"),
    "lineage_conserves_flows": (
        "every settled flow's FlowLineage amounts sum to the flow amount; a refund returns to the "
        "loan its FlowCounterparty names (else the newest), at most what left that loan"),
    "actions_by_role_holders": (
        "every action was sent by a key that held the required role (and member) at that log"),
    "governance_threshold_met": (
        "every executed proposal had approvals >= the threshold in force, from governors; every "
        "consortium change and governed call happened in an executed proposal (or the charter)"),
}

_EXPOSURE_CAP = parameter_key("lending.borrowerExposureCap")
_GOVERNANCE_EVENTS = frozenset(
    {
        "MemberAdded",
        "MemberRemoved",
        "RoleGranted",
        "RoleRevoked",
        "KeyRotated",
        "ThresholdChanged",
        "ParameterSet",
        "GovernedCallExecuted",
    }
)


@dataclass
class InvariantResult:
    name: str
    description: str
    checked: int = 0
    counterexamples: list[dict[str, Any]] = field(default_factory=list)
    violations: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.violations == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "passed": self.passed,
            "checked": self.checked,
            "violations": self.violations,
            "counterexamples": [_jsonable(c) for c in self.counterexamples],
            "info": self.info,
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


class Checker:
    """Rebuilds a :class:`Ledger` from events and checks every invariant on the way."""

    def __init__(
        self, addresses: dict[str, str], default_exposure_cap: int | None = None, max_examples: int = 20,
        chain_id: int | None = None,
    ) -> None:
        self.ledger = Ledger(addresses)
        self.results = {n: InvariantResult(n, d) for n, d in INVARIANTS.items()}
        self.default_exposure_cap = default_exposure_cap
        self.max_examples = max_examples
        self._consortium = self.ledger.addresses.get("Consortium", "")
        self._approvals: dict[int, set[int]] = {}
        self._governed = False
        self._threshold_before = 0
        self._repaid: dict[int, list[Any]] = {}
        self._repayments: list[Event] = []  # FlowRecorded repayments of the current transaction
        self._pre = {name[5:]: getattr(self, name) for name in dir(self) if name.startswith("_pre_")}
        self.evidence = EvidenceChecker(self.ledger, self._fail, self._count, chain_id)  # evidence invariants
        self.results.update({n: InvariantResult(n, d) for n, d in self.evidence.invariants.items()})
        self._pre.update(self.evidence.hooks)

    # ---------------------------------------------------------------- driving

    def run(self, events: Sequence[Event]) -> list[InvariantResult]:
        n, i = len(events), 0
        ledger, pre = self.ledger, self._pre
        while i < n:
            first = events[i]
            j = i + 1
            while j < n and events[j].tx_hash == first.tx_hash and events[j].block == first.block:
                j += 1
            group = events[i:j]
            self._governed = any(e.name == "ProposalExecuted" for e in group) or (
                bool(self._consortium) and first.created == self._consortium
            )
            self._threshold_before = ledger.threshold
            for e in group:
                check = pre.get(e.name)
                if check is not None:
                    check(e)
                ledger.apply(e)
                if e.name == "LenderCredited":
                    self._post_lender_credited(e)
            if self._repaid:
                self._end_repayments()
            if self._repayments:
                self._end_debt_rolling()
            i = j
        ledger.finish()
        self._end_flows()
        for name, info in self.evidence.finish().items():
            self.results[name].info.update(info)
        return list(self.results.values())

    def _fail(self, name: str, example: dict[str, Any]) -> None:
        r = self.results[name]
        r.violations += 1
        if len(r.counterexamples) < self.max_examples:
            r.counterexamples.append(example)

    def _count(self, name: str) -> None:
        self.results[name].checked += 1

    # ---------------------------------------------------------------- roles and governance

    def _role(self, e: Event, role: Role, member_id: int | None = None, what: str = "") -> None:
        self._count("actions_by_role_holders")
        led = self.ledger
        sender_member = led.member_of_key.get(e.sender, 0)
        ok = led.has_role(e.sender, role) and (member_id is None or sender_member == member_id)
        if not ok:
            m = led.members.get(sender_member)
            self._fail(
                "actions_by_role_holders",
                {
                    **e.where(),
                    "action": what or e.name,
                    "required_role": role.name,
                    "required_member": member_id,
                    "sender_member": sender_member or None,
                    "sender_roles": sorted(r.name for r in Role if m and m.active and m.roles >> r & 1),
                },
            )

    def _active(self, e: Event) -> None:
        self._count("actions_by_role_holders")
        m = self.ledger.members.get(self.ledger.member_of_key.get(e.sender, 0))
        if m is None or not m.active:
            self._fail(
                "actions_by_role_holders",
                {**e.where(), "action": e.name, "required_role": "any active member"},
            )

    def _must_be_governed(self, e: Event, what: str) -> None:
        self._count("governance_threshold_met")
        if not self._governed:
            self._fail(
                "governance_threshold_met",
                {**e.where(), "change": what, "problem": "not in an executed proposal"},
            )

    def _pre_ProposalCreated(self, e: Event) -> None:
        self._role(e, Role.GOVERNOR, e.args["proposerId"])

    def _pre_ProposalApproved(self, e: Event) -> None:
        self._role(e, Role.GOVERNOR, e.args["memberId"])
        pid, mid = e.args["proposalId"], e.args["memberId"]
        m = self.ledger.members.get(mid)
        if m is not None and m.active and m.roles >> Role.GOVERNOR & 1:
            self._approvals.setdefault(pid, set()).add(mid)

    def _pre_ProposalExecuted(self, e: Event) -> None:
        self._role(e, Role.GOVERNOR)
        self._count("governance_threshold_met")
        pid = e.args["proposalId"]
        approvals = len(self._approvals.get(pid, ()))
        p = self.ledger.proposals.get(pid)
        reported = p.reported_approvals if p else None
        if approvals < self._threshold_before or reported != approvals:
            self._fail(
                "governance_threshold_met",
                {
                    **e.where(),
                    "proposal": pid,
                    "approvals_by_governors": approvals,
                    "approvals_reported": reported,
                    "threshold": self._threshold_before,
                    "approvers": sorted(self._approvals.get(pid, ())),
                },
            )

    def _governance_change(self, e: Event) -> None:
        self._must_be_governed(e, e.name)

    _pre_MemberAdded = _pre_MemberRemoved = _pre_RoleGranted = _pre_RoleRevoked = _governance_change
    _pre_KeyRotated = _pre_ThresholdChanged = _pre_GovernedCallExecuted = _governance_change
    _pre_RulesSet = _pre_ProhibitedCategorySet = _governance_change

    def _pre_ParameterSet(self, e: Event) -> None:
        self._must_be_governed(e, e.name)

    def _pre_ProductDefined(self, e: Event) -> None:
        if e.args["definedBy"].lower() == self._consortium:
            self._must_be_governed(e, "ProductDefined by governance")
        else:
            self._role(e, Role.LEAD_BANK, e.args["leadMemberId"], "ProductDefined by a lead bank")

    def _pre_ProductActiveSet(self, e: Event) -> None:
        p = self.ledger.products.get(e.args["productId"])
        if e.args["by"].lower() == self._consortium:
            self._must_be_governed(e, "ProductActiveSet by governance")
        else:
            self._role(e, Role.LEAD_BANK, p.lead_member_id if p else -1)

    def _pre_LineOpened(self, e: Event) -> None:
        self._role(e, Role.LEAD_BANK, e.args["leadMemberId"])

    def _pre_LineClosed(self, e: Event) -> None:
        line = self.ledger.lines.get(e.args["lineId"])
        if e.args["by"].lower() == self._consortium:
            self._must_be_governed(e, "LineClosed by governance")
        else:
            self._role(e, Role.LEAD_BANK, line.lead_member_id if line else -1)

    def _pre_DrawdownCommitted(self, e: Event) -> None:
        pid = e.args["partnerId"]
        if e.args["bySignature"]:  # the signer is not in the log: the member must be a partner
            self._count("actions_by_role_holders")
            m = self.ledger.members.get(pid)
            if not (m and m.active and m.roles >> Role.PARTNER & 1):
                self._fail(
                    "actions_by_role_holders",
                    {
                        **e.where(),
                        "action": "signed commitment",
                        "required_role": "PARTNER",
                        "required_member": pid,
                    },
                )
        else:
            self._role(e, Role.PARTNER, pid)

    # ---------------------------------------------------------------- splits, caps

    def _pre_DrawdownProposed(self, e: Event) -> None:
        a = e.args
        line = self.ledger.lines.get(a["lineId"])
        self._role(e, Role.LEAD_BANK, line.lead_member_id if line else -1)
        self._count("splits_sum_to_amounts")
        parts = [(p["memberId"], p["amount"]) for p in a["parts"]]
        product = self.ledger.products.get(line.product_id) if line else None
        expected = (
            list(zip(product.member_ids, split_bp(a["amount"], product.shares_bp), strict=True))
            if product
            else None
        )
        if sum(x for _, x in parts) != a["amount"] or parts != expected:
            self._fail(
                "splits_sum_to_amounts",
                {
                    **e.where(),
                    "drawdown": a["drawdownId"],
                    "amount": a["amount"],
                    "parts": parts,
                    "expected": expected,
                },
            )

    def _pre_LoanOpened(self, e: Event) -> None:
        a = e.args
        self._role(e, Role.LEAD_BANK, a["leadMemberId"])
        self._count("splits_sum_to_amounts")
        parts = [(p["memberId"], p["amount"]) for p in a["parts"]]
        d = self.ledger.drawdowns.get(a["loanId"])
        if sum(x for _, x in parts) != a["principal"] or (d is not None and d.parts != parts):
            self._fail(
                "splits_sum_to_amounts",
                {
                    **e.where(),
                    "loan": a["loanId"],
                    "principal": a["principal"],
                    "parts": parts,
                    "drawdown_parts": d.parts if d else None,
                },
            )

    def _pre_DrawdownDisbursed(self, e: Event) -> None:
        led, a = self.ledger, e.args
        d = led.drawdowns.get(a["drawdownId"])
        line = led.lines.get(d.line_id) if d else None
        self._role(e, Role.LEAD_BANK, line.lead_member_id if line else -1)
        self._count("exposure_caps_respected")
        amount, borrower = a["amount"], a["borrower"]
        cap = led.parameters.get(_EXPOSURE_CAP) or self.default_exposure_cap
        exposure = led.exposure.get(borrower, 0) + amount
        product = led.products.get(line.product_id) if line else None
        problems = []
        if cap is not None and exposure > cap:
            problems.append(f"borrower exposure {exposure} > cap {cap}")
        if product is not None and amount > product.single_draw_cap:
            problems.append(f"amount {amount} > single-draw cap {product.single_draw_cap}")
        if line is not None and line.used + amount > line.limit:
            problems.append(f"line {line.line_id} usage {line.used + amount} > limit {line.limit}")
        if problems:
            self._fail(
                "exposure_caps_respected",
                {**e.where(), "drawdown": a["drawdownId"], "borrower": borrower, "problems": problems},
            )

    def _pre_PrincipalReleased(self, e: Event) -> None:
        self._count("exposure_caps_respected")
        a, led = e.args, self.ledger
        line = led.lines.get(a["lineId"])
        used = (line.used if line else 0) - a["amount"]
        exposure = led.exposure.get(a["borrower"], 0) - a["amount"]
        if used != a["used"] or exposure != a["exposure"]:
            self._fail(
                "exposure_caps_respected",
                {
                    **e.where(),
                    "line": a["lineId"],
                    "used_reported": a["used"],
                    "used_replayed": used,
                    "exposure_reported": a["exposure"],
                    "exposure_replayed": exposure,
                },
            )

    # ---------------------------------------------------------------- servicing

    def _loan_lead(self, e: Event) -> int:
        loan = self.ledger.loans.get(e.args["loanId"])
        return loan.lead_member_id if loan else -1

    def _pre_Repaid(self, e: Event) -> None:
        a = e.args
        self._role(e, Role.LEAD_BANK, self._loan_lead(e))
        self._repaid[a["loanId"]] = [e, 0, 0, 0]

    def _post_lender_credited(self, e: Event) -> None:
        a = e.args
        rec = self._repaid.get(a["loanId"])
        if rec is not None:
            rec[1] += a["principal"]
            rec[2] += a["interest"]
            rec[3] += a["penalty"]
        self._count("no_lender_overpaid_principal")
        loan = self.ledger.loans.get(a["loanId"])
        lender = next((x for x in loan.lenders if x.member_id == a["memberId"]), None) if loan else None
        if lender is None or lender.principal > lender.lent:
            self._fail(
                "no_lender_overpaid_principal",
                {
                    **e.where(),
                    "loan": a["loanId"],
                    "member": a["memberId"],
                    "principal_repaid": lender.principal if lender else None,
                    "principal_lent": lender.lent if lender else None,
                },
            )

    def _end_repayments(self) -> None:
        for loan_id, (e, principal, interest, penalty) in self._repaid.items():
            a = e.args
            self._count("lender_receipts_conserve_payments")
            parts = a["toPenalty"] + a["toInterest"] + a["toPrincipal"]
            credited = (principal, interest, penalty)
            if parts != a["amount"] or credited != (a["toPrincipal"], a["toInterest"], a["toPenalty"]):
                self._fail(
                    "lender_receipts_conserve_payments",
                    {
                        **e.where(),
                        "loan": loan_id,
                        "amount": a["amount"],
                        "allocated": {
                            "penalty": a["toPenalty"],
                            "interest": a["toInterest"],
                            "principal": a["toPrincipal"],
                        },
                        "credited_to_lenders": {
                            "principal": principal,
                            "interest": interest,
                            "penalty": penalty,
                            "total": sum(credited),
                        },
                    },
                )
        self._repaid.clear()

    def _pre_CollectionStepRecorded(self, e: Event) -> None:
        lead = self._loan_lead(e)
        self._role(e, Role.LEAD_BANK, lead if e.args["memberId"] == lead else -1)

    def _pre_LoanClassified(self, e: Event) -> None:
        self._active(e)

    # ---------------------------------------------------------------- virtual accounts

    def _account_lead(self, account: bytes) -> int:
        acct = self.ledger.accounts.get(account)
        return acct.lead_member_id if acct else -1

    def _pre_DrawdownSynced(self, e: Event) -> None:
        self._active(e)
        self._not_closed(e, "loan synced into a closed account")

    def _not_closed(self, e: Event, problem: str) -> None:
        self._count("closed_accounts_stay_closed")
        acct = self.ledger.accounts.get(e.args["account"])
        if acct is not None and acct.closed:
            self._fail("closed_accounts_stay_closed", {**e.where(), "account": e.args["account"],
                                                       "problem": problem})

    def _pre_AccountClosed(self, e: Event) -> None:
        a = e.args
        lead = self._account_lead(a["account"])
        self._role(e, Role.LEAD_BANK, lead if a["memberId"] == lead else -1)
        self._count("closed_accounts_stay_closed")
        acct = self.ledger.accounts.get(a["account"])
        problems = ["unknown account"] if acct is None else [
            p for p, bad in (("already closed", acct.closed), ("held", acct.held),
                             (f"balance {acct.balance}", acct.balance != 0),
                             (f"reserved {acct.reserved}", acct.reserved != 0)) if bad]
        if problems:
            self._fail("closed_accounts_stay_closed", {**e.where(), "account": a["account"],
                                                       "problems": problems})

    def _pre_AccountReopened(self, e: Event) -> None:
        a = e.args
        lead = self._account_lead(a["account"])
        self._role(e, Role.LEAD_BANK, lead if a["memberId"] == lead else -1)
        acct = self.ledger.accounts.get(a["account"])
        self._count("closed_accounts_stay_closed")
        if acct is None or not acct.closed:
            self._fail("closed_accounts_stay_closed", {**e.where(), "account": a["account"],
                                                       "problem": "reopened while not closed"})

    def _pre_FlowLineage(self, e: Event) -> None:
        f = self.ledger.flows.get(e.args["flowId"])
        if f is None or f.kind != REFUND:
            return
        self._count("lineage_conserves_flows")
        bucket = self.ledger.refund_bucket(f)  # before this lineage is applied
        loan, amount = e.args["loanId"], e.args["amount"]
        if bucket is None or bucket.loan_id != loan or amount > bucket.amount - bucket.remaining:
            self._fail("lineage_conserves_flows", {
                **e.where(), "flow": f.flow_id, "refund_to": loan, "amount": amount,
                "counterparty": f.counterparty,
                "expected_loan": bucket.loan_id if bucket else None,
                "spent_from_it": bucket.amount - bucket.remaining if bucket else None})

    def _pre_FlowRecorded(self, e: Event) -> None:
        a = e.args
        self._not_closed(e, "flow recorded on a closed account")
        if a["kind"] == REPAYMENT or a["rulesFired"] >> DEBT_ROLLING_BIT & 1:
            self._repayments.append(e)
        if not self.ledger.has_role(e.sender, Role.GATEWAY):
            self._role(e, Role.LEAD_BANK, self._account_lead(a["account"]), "FlowRecorded (gateway or lead)")
        else:
            self._count("actions_by_role_holders")
        self._count("no_settlement_while_held")
        acct = self.ledger.accounts.get(a["account"])
        if acct is not None and acct.held and a["verdict"] != REJECTED:
            self._fail(
                "no_settlement_while_held",
                {
                    **e.where(),
                    "flow": a["flowId"],
                    "account": a["account"],
                    "verdict": a["verdict"],
                    "amount": a["amount"],
                },
            )

    def _pre_VerificationResolved(self, e: Event) -> None:
        a = e.args
        lead = self._account_lead(a["account"])
        self._role(e, Role.LEAD_BANK, lead if a["memberId"] == lead else -1)
        self._count("verifications_resolved_or_open")
        f = self.ledger.flows.get(a["flowId"])
        if f is None or f.status != "pending" or f.account != a["account"]:
            self._fail(
                "verifications_resolved_or_open",
                {
                    **e.where(),
                    "flow": a["flowId"],
                    "problem": "no pending VERIFY flow"
                    if f is None or f.status != "pending"
                    else "account differs",
                    "flow_status": f.status if f else None,
                },
            )
        acct = self.ledger.accounts.get(a["account"])
        self._count("no_settlement_while_held")
        if a["approved"] and acct is not None and acct.held:
            self._fail(
                "no_settlement_while_held",
                {
                    **e.where(),
                    "flow": a["flowId"],
                    "account": a["account"],
                    "problem": "verification approved while held",
                },
            )

    def _pre_HoldReleased(self, e: Event) -> None:
        lead = self._account_lead(e.args["account"])
        self._role(e, Role.LEAD_BANK, lead if e.args["memberId"] == lead else -1)

    def _end_debt_rolling(self) -> None:
        """After a transaction's events: its repayments (and flows the debt-rolling rule fired
        on) against the rule, now that their FlowCounterparty and lineage are applied."""
        led = self.ledger
        for e in self._repayments:
            f = led.flows.get(e.args["flowId"])
            if f is None:
                continue
            self._count("debt_rolling_flagged")
            fired = bool(f.rules_fired >> DEBT_ROLLING_BIT & 1)
            problem = ""
            if fired and (f.kind != REPAYMENT or not f.to_other_lender):
                problem = "fired on a flow that is no repayment to another lender"
            elif f.verdict <= FLAG and f.kind == REPAYMENT and f.lineage_loans:  # settled at once
                rules = led.flow_rules.get(e.args["productId"]) or {}
                action, days = rules.get("debtRollingAction", 0), rules.get("debtRollingDays", 0)
                where = led.bucket_of.get(f.lineage_loans[-1][0])
                acct = led.accounts.get(where[0]) if where else None
                drawn = acct.buckets[where[1]].time if acct and where else 0
                due = bool(f.to_other_lender and action and e.timestamp < drawn + days * 86_400)
                if fired != due:
                    problem = (f"rule {'fired' if fired else 'silent'} but the money was drawn at {drawn}, "
                               f"{e.timestamp - drawn} s before, debtRollingDays {days}, action {action}")
            if problem:
                self._fail("debt_rolling_flagged", {
                    **e.where(), "flow": f.flow_id, "kind": f.kind, "to_other_lender": f.to_other_lender,
                    "counterparty": f.counterparty, "rules_fired": f.rules_fired, "problem": problem})
        self._repayments.clear()

    def _end_flows(self) -> None:
        open_ = []
        for f in self.ledger.flows.values():
            if f.status == "pending":
                open_.append(f.flow_id)
            if f.status in ("settled", "approved"):
                self._count("lineage_conserves_flows")
                if f.lineage != f.amount:
                    self._fail(
                        "lineage_conserves_flows",
                        {"flow": f.flow_id, "block": f.block, "amount": f.amount, "lineage": f.lineage},
                    )
            elif f.verdict != HOLD and f.lineage:
                self._fail(
                    "lineage_conserves_flows",
                    {
                        "flow": f.flow_id,
                        "block": f.block,
                        "amount": 0,
                        "lineage": f.lineage,
                        "status": f.status,
                    },
                )
        self.results["verifications_resolved_or_open"].info["open"] = open_


def check_events(
    events: Sequence[Event], addresses: dict[str, str], default_exposure_cap: int | None = None,
    chain_id: int | None = None,
) -> tuple[Ledger, list[InvariantResult]]:
    """Replay `events` and check every invariant: (the rebuilt ledger, one result per invariant).
    `chain_id` lets the evidence invariants verify award signatures (EIP-712)."""
    checker = Checker(addresses, default_exposure_cap, chain_id=chain_id)
    results = checker.run(events)
    return checker.ledger, results
