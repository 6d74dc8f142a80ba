"""Act 4, repayments and a default: four months pass on the dev node's clock (time travel).

Borrowers A and B pay each installment a day before it falls due (A pays its loan off in month
3); borrower C never pays, and the lead bank walks loan 3 up the collection ladder as the days
past due allow — reminder (1 day), automated collection (15), outsourced recovery (60),
arbitration (90, which marks the loan Defaulted) — each step carrying the SHA-256 of its
collection record. Then the lead bank anchors the default evidence: the loan agreement as a
single item, the collection records as one Merkle batch (all sealed, in the data dir's vault).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from client.lending import CollectionStep, LendingClient
from client.lending_math import schedule

from ..record import EvidenceKind
from .context import Borrower, Story
from .devclock import DAY, advance_to
from .progress import rmb

__all__ = ["ACT", "STEPS", "play"]

ACT = "default"
STEPS = 10
PERIOD = 30 * DAY
HOUR = 3_600
_LADDER = ((CollectionStep.REMINDER, 1), (CollectionStep.AUTOMATED_COLLECTION, 15),
           (CollectionStep.OUTSOURCED_RECOVERY, 60), (CollectionStep.ARBITRATION, 90))


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _record(loan: int, step: CollectionStep, dpd: int, day: str) -> bytes:
    name = step.name.lower().replace("_", " ")
    return (f"Collection record, loan {loan}: {name} on {day}, {dpd} days past due. "
            "Borrower contacted by the channels the step requires; no payment promised.\n").encode()


def _pay_installment(story: Story, lead: LendingClient, b: Borrower, month: int) -> str:
    info = lead.loan(b.loan_id)
    row = schedule(b.amount, int(info.fields["annualRateBp"]), b.installments)[month - 1]
    r = lead.repay(b.loan_id, row.installment)
    return f"loan {b.loan_id} installment {month} {rmb(r.amount)}"


def _pay_off(story: Story, lead: LendingClient, b: Borrower) -> str:
    dues = lead.due_at(b.loan_id, int(story.w3.eth.get_block("latest")["timestamp"]))
    r = lead.repay(b.loan_id, dues["payoff"])
    story.expect(lead.loan(b.loan_id).status.name == "CLOSED", f"loan {b.loan_id} not closed by its payoff")
    return f"loan {b.loan_id} paid off {rmb(r.amount)} (closed)"


def play(story: Story) -> None:
    lead = story.lending("lead-bank")
    a, b, c = story.borrower("A"), story.borrower("B"), story.borrower("C")
    start = int(lead.loan(c.loan_id).fields["start"])
    first_due = start + PERIOD
    records: list[tuple[CollectionStep, bytes]] = []

    def repay_month(month: int) -> None:
        advance_to(story.w3, start + month * PERIOD - DAY)
        paid = [_pay_off(story, lead, a) if month == 3 else _pay_installment(story, lead, a, month)] \
            if month <= 3 else []
        paid.append(_pay_installment(story, lead, b, month))
        story.step(ACT, f"{_day(start + month * PERIOD - DAY)} month {month}: repaid "
                        f"{'; '.join(paid)}; borrower C pays nothing")

    def ladder(step: CollectionStep, dpd: int) -> None:
        now = advance_to(story.w3, first_due + (dpd - 1) * DAY + HOUR)
        category = lead.classify(c.loan_id)
        record = _record(c.loan_id, step, dpd, _day(now))
        receipt = lead.record_collection_step(c.loan_id, step, hashlib.sha256(record).digest())
        records.append((step, record))
        info = lead.loan(c.loan_id)
        status = f", loan {info.status.name}" if info.status.name == "DEFAULTED" else ""
        days = "1 day" if dpd == 1 else f"{dpd} days"
        story.step(ACT, f"{_day(now)} loan {c.loan_id} {days} past due, classified "
                        f"{category.name.lower().replace('_', ' ')}: {step.name.lower().replace('_', ' ')} "
                        f"recorded with its record's SHA-256 (block {receipt['blockNumber']}){status}")

    repay_month(1)
    ladder(*_LADDER[0])
    ladder(*_LADDER[1])
    repay_month(2)
    repay_month(3)  # a day before the 3rd due date, which is an hour before loan 3's 60th day
    ladder(*_LADDER[2])
    repay_month(4)
    ladder(*_LADDER[3])
    for borrower in (a, b):
        dues = lead.due_at(borrower.loan_id, int(story.w3.eth.get_block("latest")["timestamp"]))
        story.expect(dues["daysPastDue"] == 0, f"loan {borrower.loan_id} fell past due")
    story.expect(lead.loan(c.loan_id).status.name == "DEFAULTED", f"loan {c.loan_id} is not Defaulted")

    lead_ev = story.submitter("lead-bank")
    agreement = (f"Co-lending loan agreement, loan {c.loan_id}: {rmb(c.amount)} over {c.installments} "
                 f"monthly installments; lenders Lead Bank 20%, Partner Bank A 40%, Partner Bank B "
                 f"40%; borrower 0x{c.account.hex()} (pseudonymous).\n").encode()
    single = lead_ev.submit_evidence(c.loan_id, EvidenceKind.LOAN_AGREEMENT, agreement,
                                     media_type="text/plain", collected="e-signature platform export")
    story.step("evidence", f"loan agreement of loan {c.loan_id} sealed (AES-256-GCM, key wrapped for the "
                           f"lead bank), stored and anchored alone: evidence 0x{single.evidence_id.hex()[:16]}.. "
                           f"(block {single.block_number})")
    batch = lead_ev.anchor_batch([(c.loan_id, EvidenceKind.COLLECTION_LOG, rec) for _, rec in records],
                                 media_type="text/plain", collected="collection system export")
    story.step("evidence", f"{batch.size} collection records (the hashes the ladder steps carry) anchored "
                           f"as one Merkle batch {batch.batch_id}: root 0x{batch.root.hex()[:16]}.. "
                           f"(block {batch.block_number}); the loan's hash chain links all "
                           f"{1 + batch.size} items")
    story.results["evidence"] = {"single": "0x" + single.evidence_id.hex(), "batch_root": "0x" + batch.root.hex(),
                                 "batch_items": ["0x" + e.hex() for e in batch.evidence_ids]}
    story.results["defaulted_loan"] = c.loan_id
