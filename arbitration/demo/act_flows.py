"""Act 3, closed-loop fund flows: the loan money is spent only through each borrower's virtual
account, and the FundFlows contract judges every movement as it is recorded.

The consortium first adopts the standard rule set for the product by governance (the same four
proposals `coledger flows rules` makes: the rules and three prohibited merchant categories), then
one batch of flows over the three accounts draws every verdict the rules define: ALLOW, VERIFY
(money reserved until the lead bank records the verification), FLAG (reported, not stopped), HOLD
(the account is frozen) and REJECTED (any later flow of a held account) — then the lead bank
settles the verification and releases the hold.
"""

from __future__ import annotations

import hashlib

from client.cli_flows import PROHIBITED_MCC, STANDARD_RULES
from client.flow_rules import FlowInput, FlowKind, Rule, Verdict
from client.flows import FlowResult

from .context import Story
from .progress import rmb

__all__ = ["ACT", "STEPS", "play"]

ACT = "flows"
STEPS = 7
_GROCERY, _GAMBLING = 5411, 7995


def _fired(r: FlowResult) -> str:
    return ",".join(rule.name.lower() for rule in Rule if r.rules_fired & (1 << int(rule)))


def _lineage(r: FlowResult) -> str:
    return " + ".join(f"loan {loan} ({rmb(amount)})" for loan, amount in r.lineage) or "nothing yet"


def play(story: Story) -> None:
    bank = story.flows("lead-bank")
    proposer, approver = story.consortium("lead-bank"), story.consortium("partner-a")
    calls = [bank.set_rules_call(story.product_id, STANDARD_RULES)]
    calls += [bank.set_prohibited_category_call(story.product_id, mcc, True) for mcc in PROHIBITED_MCC]
    proposals = []
    for data in calls:
        proposed = proposer.propose_call(bank.address, data)
        story.expect(approver.approve(proposed.proposal_id).executed,
                     f"rule proposal {proposed.proposal_id} did not execute")
        proposals.append(proposed.proposal_id)
    story.step(ACT, f"standard rules for product {story.product_id} by governance: proposals "
                    f"{', '.join(map(str, proposals))} (rules; prohibited merchant categories "
                    f"{', '.join(map(str, PROHIBITED_MCC))}) approved by Partner Bank A -> executed")

    for x in story.borrowers:
        bank.sync_drawdown(x.loan_id)
    balances = ", ".join(f"{x.label} {rmb(bank.account(x.account).balance)}" for x in story.borrowers)
    story.step(ACT, f"virtual accounts funded from loans "
                    f"{', '.join(str(x.loan_id) for x in story.borrowers)}: {balances}")

    a, b, c = story.borrower("A").account, story.borrower("B").account, story.borrower("C").account
    batch = [FlowInput(a, FlowKind.MERCHANT_PAYMENT, 100_000, _GROCERY),
             FlowInput(a, FlowKind.P2P_TRANSFER, 600_000)]
    batch += [FlowInput(b, FlowKind.P2P_TRANSFER, 10_000) for _ in range(6)]
    batch += [FlowInput(c, FlowKind.MERCHANT_PAYMENT, 50_000, _GAMBLING),
              FlowInput(c, FlowKind.MERCHANT_PAYMENT, 10_000, _GROCERY)]
    results = bank.record_flows(batch)
    blocks = sorted({r.block_number for r in results})
    tally = {v: sum(1 for r in results if r.verdict == v) for v in Verdict}
    story.expect(all(tally[v] for v in Verdict), f"not every verdict was drawn: {tally}")
    story.step(ACT, f"{len(results)} flows recorded in one batch (block {', '.join(map(str, blocks))}), "
                    "judged on chain: " + ", ".join(f"{v.name} {n}" for v, n in tally.items()))

    allow, verify = results[0], results[1]
    story.step(ACT, f"ALLOW: flow {allow.flow_id}, borrower A pays a grocery merchant ({allow.mcc}) "
                    f"{rmb(allow.amount)}, spent from {_lineage(allow)}")
    attestation = hashlib.sha256(b"demo: borrower A confirmed the transfer by face check").digest()
    settled = bank.resolve_verification(verify.flow_id, attestation, True)
    story.expect(bool(settled), f"verified flow {verify.flow_id} was not settled")
    story.step(ACT, f"VERIFY: flow {verify.flow_id}, borrower A's P2P transfer of {rmb(verify.amount)} "
                    f"({_fired(verify)}) reserved; the lead bank recorded the face check 0x"
                    f"{attestation.hex()[:12]}.. -> approved, settled from "
                    + " + ".join(f"loan {loan} ({rmb(amt)})" for loan, amt in settled))

    flagged = results[7]
    story.expect(flagged.verdict == Verdict.FLAG, f"flow {flagged.flow_id} was {flagged.verdict.name}")
    story.step(ACT, f"FLAG: flow {flagged.flow_id}, borrower B's 6th P2P transfer within a day "
                    f"({_fired(flagged)}): recorded and reported on the alert feed, money moves")

    held, refused = results[8], results[9]
    reason = hashlib.sha256(b"demo: borrower C's gambling payment reviewed, funds returned").digest()
    bank.release_hold(c, reason)
    story.expect(not bank.account(c).held, "borrower C's account is still held")
    story.step(ACT, f"HOLD: flow {held.flow_id}, borrower C pays a gambling merchant ({held.mcc}, "
                    f"{_fired(held)}) -> account frozen; flow {refused.flow_id} right after: "
                    f"{refused.verdict.name}; the lead bank released the hold (reason 0x{reason.hex()[:12]}..)")
    story.results["flows"] = {v.name: next(r.flow_id for r in results if r.verdict == v) for v in Verdict}
