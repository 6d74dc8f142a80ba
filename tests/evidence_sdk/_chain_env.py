"""A small evidence deployment for the SDK tests: a loan ledger, the registry, the cases contract.

Reuses the servicing tests' `ServicingEnv` (own Consortium, a `CreditLinesStub`, a real
`LoanLedger`) and adds an arbitrator member plus EvidenceRegistry and ArbitrationCases wired to
that Consortium and ledger. `defaulted_loan()` opens a loan and walks it to Defaulted (time
travel past 90 days overdue, then the Arbitration collection step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from arbitration.submit import EvidenceSubmitter
from arbitration.vault import EvidenceVault
from client.consortium import Role
from client.evidence_chain import ArbitrationCasesClient, EvidenceRegistryClient
from client.suite import deploy_evidence
from client.tx import TransactionPipeline
from tests.lending._servicing_helpers import DAY, STATUS_DEFAULTED, ServicingEnv, deploy_servicing, evidence

STEP_ARBITRATION = 4


@dataclass
class EvidenceEnv:
    servicing: ServicingEnv
    registry: str
    cases: str
    arbitrator: LocalAccount
    other_arbitrator: LocalAccount
    _pipelines: dict[str, TransactionPipeline] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # One pipeline per key: each caches its nonce, so two for one key would collide.
        env = self.servicing
        for actor in (env.governor, env.lead, env.other_lead, env.partner1, env.partner2, env.auditor):
            self._pipelines[actor.address] = actor.pipeline

    def pipeline(self, account: LocalAccount) -> TransactionPipeline:
        if account.address not in self._pipelines:
            self._pipelines[account.address] = TransactionPipeline(self.w3, account)
        return self._pipelines[account.address]

    @property
    def w3(self) -> Web3:
        return self.servicing.w3

    @property
    def lead(self) -> LocalAccount:
        return self.servicing.lead.account

    def submitter(self, account: LocalAccount, vault_dir: Path) -> EvidenceSubmitter:
        return EvidenceSubmitter(self.w3, self.registry, self.cases, account, EvidenceVault(vault_dir),
                                 self.pipeline(account))

    def registry_client(self, account: LocalAccount | None = None) -> EvidenceRegistryClient:
        pipeline = self.pipeline(account) if account is not None else None
        return EvidenceRegistryClient(self.w3, self.registry, pipeline)

    def cases_client(self, account: LocalAccount | None = None) -> ArbitrationCasesClient:
        pipeline = self.pipeline(account) if account is not None else None
        return ArbitrationCasesClient(self.w3, self.cases, pipeline)

    def defaulted_loan(self) -> int:
        env = self.servicing
        loan_id, _, model = env.open_loan(1_000_000, 5)
        env.advance_to(model.due_time(1) + 91 * DAY)
        env.send(env.lead, env.ledger.functions.recordCollectionStep(loan_id, STEP_ARBITRATION, evidence("filed")))
        assert env.loan(loan_id)["status"] == STATUS_DEFAULTED
        return loan_id


def deploy_evidence_env(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount], tag: str) -> EvidenceEnv:
    env = deploy_servicing(w3, chain, make_account, f"evidence-{tag}")
    arbitrator = make_account(f"evidence-{tag}-arbitrator")
    other = make_account(f"evidence-{tag}-arbitrator2")
    env.consortium.propose_add_member("Arbitration Commission", arbitrator.address, [Role.ARBITRATOR])
    env.consortium.propose_add_member("Second Commission", other.address, [Role.ARBITRATOR])
    addresses = deploy_evidence(env.governor.pipeline, env.consortium.address, env.ledger.address)
    return EvidenceEnv(env, addresses.EvidenceRegistry, addresses.ArbitrationCases, arbitrator, other)
