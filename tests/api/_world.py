"""A small evidence world for the API tests, on the session's chain.

Two defaulted loans (time travel: 91 days past due, then the Arbitration collection step):
- loan A, led by `lead`: three items (one alone, two in a Merkle batch), then a case assigned to
  `arbitrator` (the lead re-wraps every key for it), then one later addition;
- loan B, led by `other_lead`: one item and a case assigned to `arbitrator2`.
Plus an active loan C of `lead` with one item and no case. `operator` (Operator role) is the key
the API anchors access logs with; `auditor`, `partner1` and `outsider` are there to be refused.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import Web3

from arbitration.record import EvidenceKind
from arbitration.submit import EvidenceSubmitter
from arbitration.vault import EvidenceVault
from client.consortium import Role
from client.evidence_chain import deploy_arbitration_cases, deploy_evidence_registry
from client.private_files import write_private
from tests.evidence_chain._helpers import Actor
from tests.lending._servicing_helpers import (
    DAY,
    STATUS_DEFAULTED,
    STEP_ARBITRATION,
    ServicingEnv,
    deploy_servicing,
    evidence,
)

TOKEN_SECRET = "api-tests-" + secrets.token_urlsafe(32)


@dataclass
class World:
    env: ServicingEnv
    root: Path
    deployment: Path
    vault_dir: Path
    registry: str
    cases: str
    arbitrator: Actor
    arbitrator2: Actor
    operator: Actor
    loan_a: int
    loan_b: int
    loan_c: int
    case_a: int
    case_b: int
    items_a: list[bytes]
    later_a: bytes
    items_b: list[bytes]
    items_c: list[bytes]
    plaintexts: dict[bytes, bytes] = field(default_factory=dict)
    submitters: dict[str, EvidenceSubmitter] = field(default_factory=dict)

    @property
    def w3(self) -> Web3:
        return self.env.w3

    def api_env(self, tag: str, signer: bool = False) -> dict[str, str]:
        """COLEDGER_API_* variables for an API over this world (fresh index and access log per tag)."""
        out = {
            "COLEDGER_API_RPC_URL": self.env.chain.url,
            "COLEDGER_API_DEPLOYMENT_FILE": str(self.deployment),
            "COLEDGER_API_VAULT_DIR": str(self.vault_dir),
            "COLEDGER_API_INDEX_PATH": str(self.root / tag / "index.sqlite3"),
            "COLEDGER_API_TOKEN_SECRET": TOKEN_SECRET,
            "COLEDGER_API_ANCHOR_INTERVAL": "0.5",
        }
        if signer:
            keyfile, password = self.root / f"{tag}-operator.json", self.root / f"{tag}-operator.password"
            pw = secrets.token_hex(8)
            keyfile.write_text(json.dumps(Account.encrypt(self.operator.account.key, pw, iterations=2)))
            write_private(password, pw.encode())  # the API refuses a password file others can read
            out["COLEDGER_API_SIGNER_KEYFILE"] = str(keyfile)
            out["COLEDGER_API_SIGNER_PASSWORD_FILE"] = str(password)
        return out


def sign_in_message(account: LocalAccount, message: str) -> str:
    return "0x" + bytes(Account.sign_message(encode_defunct(text=message), account.key).signature).hex()


def _member(env: ServicingEnv, make_account: Callable[..., LocalAccount], tag: str, label: str,
            roles: tuple[Role, ...]) -> Actor:
    account = make_account(f"api-{tag}-{label}")
    env.consortium.propose_add_member(label, account.address, roles)
    return Actor(label, account, env.chain.pipeline(account))


def build_world(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount], root: Path, tag: str) -> World:
    env = deploy_servicing(w3, chain, make_account, f"api-{tag}")
    arbitrator = _member(env, make_account, tag, "arbitrator", (Role.ARBITRATOR,))
    arbitrator2 = _member(env, make_account, tag, "arbitrator2", (Role.ARBITRATOR,))
    operator = _member(env, make_account, tag, "operator", (Role.OPERATOR,))
    gov = env.governor.pipeline
    registry = deploy_evidence_registry(gov, env.consortium.address)
    cases = deploy_arbitration_cases(gov, env.consortium.address, env.ledger.address)
    deployment = root / "deployment.json"
    deployment.write_text(json.dumps({"chain_id": int(w3.eth.chain_id), "contracts": {
        "Consortium": env.consortium.address, "LoanLedger": env.ledger.address,
        "EvidenceRegistry": registry, "ArbitrationCases": cases}}))
    vault_dir = root / "vault"
    vault = EvidenceVault(vault_dir)

    def submitter(actor: Any) -> EvidenceSubmitter:
        s = EvidenceSubmitter(w3, registry, cases, actor.account, vault, pipeline=actor.pipeline)
        s.ensure_reader_key()
        return s

    lead, other = submitter(env.lead), submitter(env.other_lead)
    arb, arb2 = submitter(arbitrator), submitter(arbitrator2)
    plaintexts: dict[bytes, bytes] = {}

    def put(s: EvidenceSubmitter, loan: int, kind: EvidenceKind, text: str) -> bytes:
        content = f"{text} (loan {loan})".encode()
        eid = s.submit_evidence(loan, kind, content, media_type="text/plain", collected="api test").evidence_id
        plaintexts[eid] = content
        return eid

    loan_a, _, model_a = env.open_loan(1_000_000, 6)
    parts_b = [(env.other_lead.member_id, 600_000), (env.partner1.member_id, 400_000)]
    loan_b, _, model_b = env.open_loan(1_000_000, 6, lead_id=env.other_lead.member_id, parts=parts_b)
    loan_c, _, _ = env.open_loan(500_000, 6)
    items_a = [put(lead, loan_a, EvidenceKind.LOAN_AGREEMENT, "loan agreement")]
    batch = lead.anchor_batch([(loan_a, EvidenceKind.DISBURSEMENT_RECEIPT, b"disbursement receipt A"),
                               (loan_a, EvidenceKind.REPAYMENT_SCHEDULE, b"repayment schedule A")])
    items_a += list(batch.evidence_ids)
    plaintexts[batch.evidence_ids[0]] = b"disbursement receipt A"
    plaintexts[batch.evidence_ids[1]] = b"repayment schedule A"
    items_b = [put(other, loan_b, EvidenceKind.LOAN_AGREEMENT, "loan agreement B")]
    items_c = [put(lead, loan_c, EvidenceKind.LOAN_AGREEMENT, "loan agreement C")]
    env.advance_to(max(model_a.due_time(1), model_b.due_time(1)) + 91 * DAY + DAY // 2)
    step = env.ledger.functions.recordCollectionStep
    for actor, loan in ((env.lead, loan_a), (env.other_lead, loan_b)):
        env.send(actor, step(loan, STEP_ARBITRATION, evidence(f"filed {loan}")))
        assert env.loan(loan)["status"] == STATUS_DEFAULTED
    case_a = lead.open_case(loan_a, arbitrator.address)
    case_b = other.open_case(loan_b, arbitrator2.address)
    later_a = put(lead, loan_a, EvidenceKind.OVERDUE_NOTICE, "overdue notice after the case opened")
    world = World(env, root, deployment, vault_dir, registry, cases, arbitrator, arbitrator2, operator, loan_a,
                  loan_b, loan_c, case_a, case_b, items_a, later_a, items_b, items_c, plaintexts,
                  {"lead": lead, "other_lead": other, "arbitrator": arb, "arbitrator2": arb2})
    return world
