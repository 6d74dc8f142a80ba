"""`coledger evidence verify BUNDLE [--rpc URL]` (private to ``arbitration.cli``).

Accepts a bundle (``.json``, the v1 format of ``arbitration.bundle``) or a case bundle
(``.zip``: ``bundle.json``, ``case.json``, ``ciphertexts/<ciphertext sha256>.bin``,
``receipts/...``). Offline it runs ``verify_bundle`` (content hashes of the ciphertexts in the
zip, inclusion proofs, per-loan hash chains, anchor consistency); with ``--rpc`` it also checks
every anchor on the verifier's own chain endpoint (``arbitration.chain_check``).

Exit status: 0 verified, 1 a check failed (the message names the item or batch and the check),
2 usage or environment error (no such file, unknown format, chain unreachable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bundle import Bundle, BundleReport, parse_bundle, verify_bundle
from .errors import ArbitrationError, BundleError, BundleVerificationError, ChainRpcError, ChainUnreachableError

if TYPE_CHECKING:
    from .proofs import CaseZip

__all__ = ["verify_command"]


class _Usage(Exception):
    pass


def _hx(b: bytes) -> str:
    return "0x" + b.hex()


def _case_checks(z: CaseZip) -> list[str]:
    """Offline checks of a case zip beyond ``verify_bundle``; returns report lines.

    - every item's ciphertext is in the zip (``read_case_zip`` already refused unknown ones and
      ``verify_bundle`` re-hashed the present ones);
    - ``case.json`` is the bundle's case, and its frozen head and count pin the first
      ``frozen_count`` items of the loan's chain, the rest being exactly its ``later_additions``;
    - the award's EIP-712 signature recovers to the case's arbitrator.
    """
    b, case = z.bundle, z.case
    for it in b.items:
        if it.record.evidence_id not in z.ciphertexts:
            raise BundleVerificationError(_hx(it.record.evidence_id), "ciphertext_missing",
                                          "the zip has no ciphertexts/<its ciphertext sha256>.bin")
    lines = [f"ciphertexts: {len(b.items)} of {len(b.items)} present, each matching its anchored SHA-256"]
    try:
        case_id, loan_id = int(case["case_id"]), int(case["loan_id"])
        frozen_head, frozen_count = bytes.fromhex(case["frozen_head"][2:]), int(case["frozen_count"])
        later = [bytes.fromhex(e[2:]) for e in case.get("later_additions") or []]
    except (KeyError, TypeError, ValueError) as e:
        raise BundleVerificationError(None, "case", f"case.json is malformed: {e!r}") from e
    if b.case_id is not None and int.from_bytes(b.case_id, "big") != case_id:
        raise BundleVerificationError(None, "case", f"case.json is case {case_id}, bundle.json is for case "
                                      f"{int.from_bytes(b.case_id, 'big')}")
    chain = [it for it in b.items if it.record.loan_id == loan_id.to_bytes(32, "big")]
    if len(chain) < frozen_count:
        raise BundleVerificationError(None, "frozen_set", f"the case froze {frozen_count} items, the bundle has "
                                      f"{len(chain)} of loan {loan_id}")
    if frozen_count and chain[frozen_count - 1].record.item_hash() != frozen_head:
        raise BundleVerificationError(_hx(chain[frozen_count - 1].record.evidence_id), "frozen_set",
                                      f"item {frozen_count} of the loan is not the frozen head {_hx(frozen_head)}")
    if [it.record.evidence_id for it in chain[frozen_count:]] != later:
        raise BundleVerificationError(None, "frozen_set", "the items after the frozen head are not case.json's "
                                      "later_additions")
    lines.append(f"case {case_id}: loan {loan_id}, {frozen_count} items frozen at opening (head "
                 f"{_hx(frozen_head)}), {len(later)} later addition(s)")
    from .chain_check import check_award

    signer = check_award(case)
    lines.append(f"award: signed by the arbitrator {signer}" if signer else "award: none recorded yet")
    return lines


def _report(b: Bundle, report: BundleReport) -> list[str]:
    case = f", case {int.from_bytes(b.case_id, 'big')}" if b.case_id is not None else ""
    lines = [f"bundle OK: {report.items} item(s) in {len(b.batches)} batch(es){case}"]
    for loan, complete in sorted(report.loans.items()):
        number = int(loan, 16)
        state = ("hash chain intact from the loan's first item" if complete
                 else "items link up; the bundle does not start at the loan's first item")
        lines.append(f"loan {number}: {state}")
    return lines


def verify_command(args: argparse.Namespace) -> int:
    path: Path = args.bundle
    try:
        if not path.is_file():
            raise _Usage(f"{path} is not a file")
        lines: list[str] = []
        ciphertexts = None
        try:
            if path.suffix == ".zip":
                from .proofs import read_case_zip

                z = read_case_zip(path.read_bytes())
                bundle, ciphertexts = z.bundle, z.ciphertexts
            elif path.suffix == ".json":
                z = None
                bundle = parse_bundle(path.read_bytes())
            else:
                raise _Usage(f"{path}: want a .json bundle or a case bundle .zip")
            complete = bundle.case_id is not None
            report = verify_bundle(bundle, ciphertexts=ciphertexts, require_complete_chains=complete)
            lines += _report(bundle, report)
            if z is not None:
                lines += _case_checks(z)
            lines += _consensus(bundle, getattr(args, "validators", None))
            lines += _chain(bundle, args.rpc, report, None if z is None else z.case)
        except BundleError as e:
            print(f"VERIFICATION FAILED: {e}", file=sys.stderr)
            return 1
        except ArbitrationError as e:
            if isinstance(e, ChainUnreachableError | ChainRpcError):
                raise _Usage(str(e)) from e
            print(f"VERIFICATION FAILED: {e}", file=sys.stderr)
            return 1
    except (_Usage, OSError) as e:
        print(f"coledger: error: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def _consensus(bundle: Bundle, validators: Path | None) -> list[str]:
    """With ``--validators``: every anchor proven by the validators' signatures (bundle v2)."""
    if validators is None:
        if bundle.consensus:
            return ["consensus: the bundle carries the validators' commits on its anchoring blocks; "
                    "not checked (pass --validators FILE, the network's genesis.json)"]
        return []
    from datetime import UTC, datetime

    from client.bft import BftError, load_validator_set

    from .consensus import verify_anchor_consensus
    from .errors import ConsensusProofError

    chain_ids = {b.anchor.chain_id for b in bundle.batches if b.anchor.chain_id is not None}
    chain_id = f"coledger-{min(chain_ids)}" if len(chain_ids) == 1 else None
    try:
        vset = load_validator_set(validators, chain_id)
    except BftError as e:
        raise _Usage(str(e)) from e
    proofs = bundle.consensus or (None,) * len(bundle.batches)
    lines: list[str] = []
    times: dict[bytes, str] = {}
    for batch, proof in zip(bundle.batches, proofs, strict=True):
        if proof is None:
            raise ConsensusProofError(batch.root, batch.anchor.block_number or 0, "missing",
                                      "the bundle carries no validators' proof of this anchor "
                                      "(a bundle from a consortium network's API does)")
        t = verify_anchor_consensus(proof, batch, vset)
        stamp = datetime.fromtimestamp(t.bft_time[0], UTC).strftime("%Y-%m-%dT%H:%M:%S")
        stamp += f".{t.bft_time[1]:09d}Z"
        times[batch.root] = stamp
        lines.append(f"consensus: batch {_hx(batch.root)} anchored in block {t.block_number} at BFT "
                     f"time {stamp}, signed by {t.signed_power} of {t.total_power} voting power "
                     f"({', '.join(t.signers)}) of the {len(vset.validators)} validators in {validators}")
    for it in bundle.items:
        lines.append(f"item {_hx(it.record.evidence_id)}: anchored at {times[it.batch_root]} "
                     "(BFT time signed by the consortium)")
    return lines


def _chain(bundle: Bundle, rpc: str | None, report: BundleReport, case: dict[str, Any] | None) -> list[str]:
    if rpc is None:
        state = "carry anchor metadata" if report.anchored else "are NOT all anchored"
        return [f"anchors: batches {state}; not checked against a chain (pass --rpc URL)"]
    from .chain_check import check_anchors

    checks = check_anchors(bundle, rpc, case_json=case)
    lines = [f"anchors: {len(checks)} batch anchor(s) found on the chain at {rpc} as the bundle says"]
    if case is not None:
        lines.append("case: opening (and award) transactions found on chain as case.json says")
    return lines
