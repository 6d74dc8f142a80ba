"""Events-replayed-per-second half of bench_audit: a synthetic co-lending book as raw JSON-RPC logs
(ABI-encoded from the committed artifacts), decoded and replayed with every invariant checked."""

from __future__ import annotations

import time
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from client._abi import canonical_type
from client.artifacts import load_artifact
from client.audit.events import EventDecoder, decode_logs
from client.audit.invariants import check_events
from client.lending_math import split_bp

ADDR = {
    "Consortium": "0x" + "11" * 20,
    "ProductCatalog": "0x" + "22" * 20,
    "CreditLines": "0x" + "33" * 20,
    "LoanLedger": "0x" + "44" * 20,
}
LEAD, PA, PB = ("0x" + f"{i:02x}" * 20 for i in (0xA1, 0xB2, 0xC3))


class _Encoder:
    def __init__(self) -> None:
        self.abi: dict[tuple[str, str], dict[str, Any]] = {}
        for c in ADDR:
            for e in load_artifact(c).abi:
                if e.get("type") == "event":
                    self.abi[(c, e["name"])] = e
        self.logs: list[dict[str, Any]] = []
        self.block = 0

    def __call__(self, contract: str, event: str, tx: str, **args: Any) -> None:
        e = self.abi[(contract, event)]
        sig = f"{event}({','.join(canonical_type(i) for i in e['inputs'])})"
        topics = ["0x" + keccak(text=sig).hex()]
        data_t, data_v = [], []
        for i in e["inputs"]:
            if i.get("indexed"):
                topics.append("0x" + encode([canonical_type(i)], [args[i["name"]]]).hex())
            else:
                data_t.append(canonical_type(i))
                data_v.append(args[i["name"]])
        self.logs.append(
            {
                "address": ADDR[contract],
                "topics": topics,
                "data": "0x" + encode(data_t, data_v).hex(),
                "blockNumber": hex(self.block),
                "logIndex": hex(len(self.logs)),
                "transactionHash": tx,
                "transactionIndex": "0x0",
            }
        )


def synthetic_logs(loans: int) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str]]]:
    emit = _Encoder()
    senders: dict[str, tuple[str, str]] = {}

    def tx(sender: str, created: str = "") -> str:
        h = "0x" + keccak(len(senders).to_bytes(8, "big")).hex()
        senders[h] = (sender, created)
        return h

    t = tx(LEAD, ADDR["Consortium"])
    for mid, key, roles in ((1, LEAD, 1 | 16), (2, PA, 2), (3, PB, 2)):
        emit("Consortium", "MemberAdded", t, memberId=mid, key=key, name=f"m{mid}", roles=roles)
    emit("Consortium", "ThresholdChanged", t, oldThreshold=0, newThreshold=1)
    t = tx(LEAD)
    emit(
        "ProductCatalog",
        "ProductDefined",
        t,
        productId=1,
        leadMemberId=1,
        definedBy=LEAD,
        terms=("p", 1800, 2000, 5000, 7, 4_000_000, 500_000, 30_000_000, 1, [2, 3], [4000, 4000]),
    )
    for n in range(1, loans + 1):
        emit.block = n
        b = keccak(n.to_bytes(8, "big"))
        amount = 1_000_000 + n
        parts = list(zip((1, 2, 3), split_bp(amount, [2000, 4000, 4000]), strict=True))
        t = tx(LEAD)
        emit(
            "CreditLines",
            "LineOpened",
            t,
            lineId=n,
            productId=1,
            borrower=b,
            leadMemberId=1,
            limit=10_000_000,
            scoreBand=3,
            modelHash=b"\x11" * 32,
        )
        emit(
            "CreditLines",
            "DrawdownProposed",
            t,
            drawdownId=n,
            lineId=n,
            amount=amount,
            installments=5,
            parts=parts,
            deadline=0,
        )
        emit("CreditLines", "DrawdownCommitted", tx(PB), drawdownId=n, partnerId=3, bySignature=False)
        t = tx(LEAD)
        emit("CreditLines", "DrawdownCommitted", t, drawdownId=n, partnerId=2, bySignature=True)
        emit(
            "LoanLedger",
            "LoanOpened",
            t,
            loanId=n,
            borrower=b,
            lineId=n,
            productId=1,
            principal=amount,
            annualRateBp=1800,
            penaltySurchargeBp=5000,
            installments=5,
            leadMemberId=1,
            start=0,
            parts=parts,
        )
        emit("CreditLines", "DrawdownDisbursed", t, drawdownId=n, borrower=b, amount=amount)
        t = tx(LEAD)
        emit(
            "LoanLedger", "Repaid", t, loanId=n, amount=amount, toPenalty=0, toInterest=0, toPrincipal=amount
        )
        for mid, part in parts:
            emit(
                "LoanLedger",
                "LenderCredited",
                t,
                loanId=n,
                memberId=mid,
                principal=part,
                interest=0,
                penalty=0,
            )
        emit("LoanLedger", "LoanClosed", t, loanId=n, timestamp=0)
        emit("CreditLines", "PrincipalReleased", t, lineId=n, borrower=b, amount=amount, used=0, exposure=0)
    return emit.logs, senders


def bench_events(loans: int) -> dict[str, float]:
    logs, senders = synthetic_logs(loans)
    decoder = EventDecoder(ADDR)
    names = {a: n for n, a in ADDR.items()}
    t0 = time.perf_counter()
    events = decode_logs(decoder, logs, names)
    for e in events:
        e.sender, e.created = senders[e.tx_hash]
    t1 = time.perf_counter()
    _, results = check_events(events, ADDR, 30_000_000)
    t2 = time.perf_counter()
    assert all(r.passed for r in results), [r.as_dict() for r in results if not r.passed]
    return {
        "events": len(events),
        "decode_s": t1 - t0,
        "replay_s": t2 - t1,
        "events_per_s": len(events) / (t2 - t0),
        "replay_only_events_per_s": len(events) / (t2 - t1),
    }


if __name__ == "__main__":
    import sys

    r = bench_events(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
    print(
        f"event replay: {r['events']:,} events decoded+replayed+checked in "
        f"{r['decode_s'] + r['replay_s']:.2f} s = {r['events_per_s']:,.0f} events/s "
        f"(replay+invariants alone {r['replay_only_events_per_s']:,.0f} events/s)"
    )
