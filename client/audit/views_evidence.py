"""Compare the event-sourced evidence (:class:`~client.audit.evidence.EvidenceLedger`) with the
views of EvidenceRegistry and ArbitrationCases at the same block: counts, every single item
(``item``), every batch (``batch``), every reader key, every case (``caseInfo``, ``caseOfLoan``,
case 0's access log) and the EIP-712 domain separator.

Returns plain (what, field, events, view) tuples; :mod:`client.audit.views` wraps them as
``Mismatch`` (kept apart so that module stays import-cycle free).
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from client.audit.evidence import CASE_AWARDED, GENESIS, EvidenceLedger, domain_separator

__all__ = ["evidence_mismatches"]

Row = tuple[str, str, Any, Any]


def _norm(v: Any) -> Any:
    if isinstance(v, str) and v.startswith("0x"):
        return v.lower()
    if isinstance(v, bytes | bytearray):
        return bytes(v)
    return v


def evidence_mismatches(contracts: dict[str, Any], ev: EvidenceLedger, block: int) -> list[Row]:
    """Differences between `ev` (events through `block`) and the evidence views at `block`;
    `contracts` maps contract names to bound web3 contracts."""
    out: list[Row] = []

    def cmp(what: str, expected: dict[str, Any], actual: dict[str, Any]) -> None:
        for k, v in expected.items():
            if _norm(actual.get(k)) != _norm(v):
                out.append((what, k, v, actual.get(k)))

    reg = contracts.get("EvidenceRegistry")
    if reg is not None:
        f = reg.functions
        cmp("evidence registry", {"itemCount": len(ev.items), "batchCount": len(ev.batches)},
            {"itemCount": f.itemCount().call(block_identifier=block),
             "batchCount": f.batchCount().call(block_identifier=block)})
        for it in ev.items.values():
            h, number, submitter = f.item(it.evidence_id).call(block_identifier=block)
            cmp(f"evidence item 0x{it.evidence_id.hex()}",
                {"itemHash": it.item_hash, "blockNumber": it.block, "submitter": it.submitter},
                {"itemHash": h, "blockNumber": number, "submitter": submitter})
        for b in ev.batches.values():
            batch_id, size, number, submitter = f.batch(b.root).call(block_identifier=block)
            cmp(f"evidence batch {b.batch_id}",
                {"batchId": b.batch_id, "size": b.size, "blockNumber": b.block, "submitter": b.submitter},
                {"batchId": batch_id, "size": size, "blockNumber": number, "submitter": submitter})
        for member, (key, _) in ev.reader_keys.items():
            got = f.readerKey(Web3.to_checksum_address(member)).call(block_identifier=block)
            cmp(f"reader key of {member}", {"key": key}, {"key": got})
    cases = contracts.get("ArbitrationCases")
    if cases is not None:
        f = cases.functions
        count = f.caseCount().call(block_identifier=block)
        if count != len(ev.cases):
            out.append(("arbitration cases", "caseCount", len(ev.cases), count))
        names = [o["name"] for o in next(e for e in cases.abi if e.get("type") == "function"
                                         and e["name"] == "caseInfo")["outputs"][0]["components"]]
        for c in ev.cases.values():
            logs = ev.access_logs.get(c.case_id, [])
            got = dict(zip(names, f.caseInfo(c.case_id).call(block_identifier=block), strict=True))
            cmp(f"case {c.case_id}", {
                "loanId": c.loan_id, "arbitrator": c.arbitrator, "opener": c.opener,
                "openedBlock": c.opened_block, "openedAt": c.opened_at, "frozenHead": c.frozen_head,
                "frozenCount": c.frozen_count, "status": c.status,
                "awardHash": c.award_hash if c.status == CASE_AWARDED else GENESIS,
                "accessLogHead": logs[-1].head if logs else GENESIS,
                "accessLogEntries": logs[-1].entries if logs else 0,
            }, got)
        for loan_id, case_id in ev.case_of_loan.items():
            got_case = f.caseOfLoan(loan_id).call(block_identifier=block)
            if got_case != case_id:
                out.append((f"loan {loan_id}", "caseOfLoan", case_id, got_case))
        zero = ev.access_logs.get(0)
        if zero:
            got = dict(zip(names, f.caseInfo(0).call(block_identifier=block), strict=True))
            cmp("case 0 (reads outside any case)", {"accessLogHead": zero[-1].head,
                                                    "accessLogEntries": zero[-1].entries}, got)
        if ev.chain_id is not None:
            mine = domain_separator(ev.chain_id, cases.address)
            got_sep = bytes(f.domainSeparator().call(block_identifier=block))
            if got_sep != mine:
                out.append(("arbitration cases", "domainSeparator", mine, got_sep))
    return out
