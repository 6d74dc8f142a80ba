"""Act 2, co-lending: credit lines for three pseudonymous borrowers, then three drawdowns, each
split lead 20% / partners 80% and disbursed only with every partner's commitment.

Borrower ids are HMACs of national ids under the consortium's borrower key (the data dir's
`keystore/borrower-id.key`, the one `coledger line open --national-id` uses), so the CLI finds the
same accounts later. Partners commit two ways: an EIP-712 signature the lead bank carries to
`disburse`, or the partner's own `commit` transaction (Partner Bank B on loan 2).
"""

from __future__ import annotations

import hashlib

from client.borrower import borrower_id, load_or_create_borrower_key, national_id_check_char
from client.commitments import Commitment

from .context import Borrower, Story
from .progress import rmb

__all__ = ["ACT", "STEPS", "play", "demo_borrowers"]

ACT = "lending"
STEPS = 4
_LIMIT = 10_000_000  # 100,000 RMB credit lines
_MODEL = hashlib.sha256(b"coledger demo credit decision model v1").digest()


def _national_id(first17: str) -> str:
    return first17 + national_id_check_char(first17)


def demo_borrowers() -> list[Borrower]:
    """Three made-up borrowers (valid GB 11643 check characters) and what each draws."""
    return [
        Borrower("A", "11010519491231002X", amount=1_000_001, installments=5),
        Borrower("B", _national_id("44010619770101001"), amount=2_000_000, installments=10),
        Borrower("C", _national_id("31011519850615003"), amount=3_000_000, installments=10),
    ]


def play(story: Story) -> None:
    lead = story.lending("lead-bank")
    names = {m.member_id: m.name for m in story.consortium().members()}
    story.results["names"] = names
    key = load_or_create_borrower_key(story.data.keystore)
    story.borrowers = demo_borrowers()
    for b in story.borrowers:
        b.account = borrower_id(b.national_id, key)
        b.line_id = lead.open_line(story.product_id, b.account, _LIMIT, 2, _MODEL)
    story.step(ACT, f"credit lines {', '.join(str(b.line_id) for b in story.borrowers)} opened for borrowers "
                    + ", ".join(f"{b.label} 0x{b.account.hex()[:10]}.." for b in story.borrowers)
                    + f" (national ids HMAC'd locally, never sent), {rmb(_LIMIT)} each")

    partners = {"partner-a": story.keys["partner-a"], "partner-b": story.keys["partner-b"]}
    for b in story.borrowers:
        d = lead.propose_drawdown(b.line_id, b.amount, b.installments)
        signed: dict[int, Commitment] = {}
        how = []
        for name, account in partners.items():
            member = story.members[name]
            if b.label == "B" and name == "partner-b":
                story.lending(name).commit(d.drawdown_id)
                how.append(f"{names[member]} committed by its own transaction")
            else:
                signed[member] = lead.sign_commitment(account, d, member)
                how.append(f"{names[member]} signed (EIP-712)")
        receipt = lead.disburse(d, [m for m, _ in d.parts[1:]], signed)
        b.loan_id = d.drawdown_id
        story.expect(sum(a for _, a in d.parts) == b.amount, f"parts of loan {b.loan_id} do not sum")
        parts = " / ".join(f"{names[m]} {rmb(a)}" for m, a in d.parts)
        story.step(ACT, f"loan {b.loan_id} disbursed to borrower {b.label}: {rmb(b.amount)} over "
                        f"{b.installments} installments; {parts}; {'; '.join(how)} (block "
                        f"{receipt['blockNumber']})")
    story.results["borrowers"] = [{"label": b.label, "national_id": b.national_id, "account": "0x" + b.account.hex(),
                                   "line": b.line_id, "loan": b.loan_id} for b in story.borrowers]
