"""Act 5, arbitration: a case on the defaulted loan, the arbitrator's verified download, the award.

The arbitrator publishes its reader key; the lead bank opens the case (freezing the loan's
evidence head and count) and re-wraps every item's data key for the arbitrator, bound to the
case. The arbitrator then uses the HTTP API as it would from its own office: signs in with its
key (challenge signed locally), downloads the case zip and verifies it offline (Merkle proofs,
hash chain, ciphertext hashes) and on the chain (anchors, the case's opening), decrypts one item
locally with its own key — the API never holds plaintext — and records an EIP-712-signed award.
"""

from __future__ import annotations

import hashlib

from client.private_files import write_private

from ..api_client import ApiClient
from ..bundle import verify_bundle
from ..chain_check import check_anchors
from ..proofs import read_case_zip
from .context import Story

__all__ = ["ACT", "STEPS", "play"]

ACT = "arbitration"
STEPS = 4


def play(story: Story) -> None:
    loan = int(story.results["defaulted_loan"])
    arbitrator = story.keys["arbitrator"]
    arb = story.submitter("arbitrator")
    arb.ensure_reader_key()
    case_id = story.submitter("lead-bank").open_case(loan, arbitrator.address)
    info = arb.cases.case(case_id)
    story.step(ACT, f"case {case_id} opened on defaulted loan {loan} before the Arbitration Commission: "
                    f"{info.frozen_count} evidence items frozen (head 0x{info.frozen_head.hex()[:12]}..), "
                    f"their keys re-wrapped for the arbitrator (block {info.opened_block})")

    story.wait_for_api()
    api = ApiClient(story.api_url, arbitrator)
    raw = api.get(f"/cases/{case_id}/bundle")
    zip_path = story.paths.work / f"case-{case_id}.zip"
    write_private(zip_path, raw)
    z = read_case_zip(raw)
    report = verify_bundle(z.bundle, ciphertexts=z.ciphertexts, require_complete_chains=True)
    anchors = check_anchors(z.bundle, story.rpc_url, case_json=z.case)
    story.step(ACT, f"the arbitrator signed in to {story.api_url} with its key and downloaded case {case_id} "
                    f"({len(raw):,} bytes): {report.items} items verified offline (proofs, hash chain, "
                    f"ciphertexts), {len(anchors)} anchors and the case's opening found on chain")

    single = bytes.fromhex(story.results["evidence"]["single"][2:])
    got = api.fetch_verified_content(single, story.rpc_url)
    story.step(ACT, f"evidence 0x{single.hex()[:16]}.. decrypted on the arbitrator's side ({len(got.plaintext)} "
                    "bytes, "
                    f"{got.media_type}): SHA-256, SM3 and ciphertext hash match the anchored record")

    award = (f"Arbitral award, case {case_id}, loan {loan}: the borrower shall repay the outstanding "
             "principal, interest and penalty to the lenders pro rata.\n").encode()
    award_path = story.paths.work / f"award-case-{case_id}.txt"
    write_private(award_path, award)
    award_hash = hashlib.sha256(award).digest()
    signature = arb.cases.sign_award(arbitrator, case_id, loan, award_hash)
    receipt = arb.cases.record_award(case_id, award_hash, signature)
    story.expect(arb.cases.case(case_id).award_hash == award_hash, f"case {case_id} has no award on chain")
    raw = api.get(f"/cases/{case_id}/bundle")  # the case file as it stands now, award included
    z = read_case_zip(raw)
    story.expect(z.case.get("award") is not None, f"the API's case {case_id} zip carries no award")
    check_anchors(z.bundle, story.rpc_url, case_json=z.case)  # the award's EIP-712 signer and its tx
    write_private(zip_path, raw)
    story.step(ACT, f"award on case {case_id} recorded: SHA-256 0x{award_hash.hex()[:16]}.. of {award_path.name}, "
                    f"signed by the arbitrator (EIP-712) (block {receipt['blockNumber']}); the case zip "
                    "again, award signature and transaction checked")
    story.results["case"] = {"id": case_id, "loan": loan, "zip": str(zip_path), "award_file": str(award_path),
                             "award_hash": "0x" + award_hash.hex()}
