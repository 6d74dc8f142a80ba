"""What the acts share: the chain, the institutions' keys, and what earlier acts produced.

One `TransactionPipeline` per key for the whole story (a pipeline keeps its key's nonce), and
typed SDK clients built from the node's deployment record exactly as the CLI builds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.config import DataDir
from client.consortium import ConsortiumClient
from client.flows import FundFlowsClient
from client.lending import LendingClient
from client.suite import LendingAddresses
from client.tx import TransactionPipeline

from ..submit import EvidenceSubmitter
from ..vault import EvidenceVault
from .progress import Progress
from .state import DemoPaths

__all__ = ["Borrower", "Story"]


@dataclass
class Borrower:
    """One pseudonymous borrower: the national id stays here, only `account` goes on chain."""

    label: str
    national_id: str
    account: bytes = b""
    line_id: int = 0
    loan_id: int = 0
    amount: int = 0
    installments: int = 0


@dataclass
class Story:
    """The stage and the story so far."""

    paths: DemoPaths
    data: DataDir
    w3: Web3
    rpc_url: str
    api_url: str
    contracts: dict[str, str]
    keys: dict[str, LocalAccount]
    progress: Progress
    wait_for_api: Callable[[], None]
    members: dict[str, int] = field(default_factory=dict)
    borrowers: list[Borrower] = field(default_factory=list)
    product_id: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    _pipelines: dict[str, TransactionPipeline] = field(default_factory=dict)

    def step(self, act: str, text: str) -> None:
        self.progress.step(act, text)

    def pipeline(self, name: str) -> TransactionPipeline:
        if name not in self._pipelines:
            self._pipelines[name] = TransactionPipeline(self.w3, self.keys[name])
        return self._pipelines[name]

    def consortium(self, name: str | None = None) -> ConsortiumClient:
        return ConsortiumClient(self.w3, self.contracts["Consortium"],
                                None if name is None else self.pipeline(name))

    def lending(self, name: str | None = None) -> LendingClient:
        c = self.contracts
        addresses = LendingAddresses(c["ProductCatalog"], c["LoanLedger"], c["CreditLines"])
        return LendingClient(self.w3, addresses, None if name is None else self.pipeline(name))

    def flows(self, name: str | None = None) -> FundFlowsClient:
        return FundFlowsClient(self.w3, self.contracts["FundFlows"],
                               None if name is None else self.pipeline(name))

    def submitter(self, name: str) -> EvidenceSubmitter:
        """The member's evidence SDK over the data dir's vault (where `coledger evidence` and the
        API look too)."""
        return EvidenceSubmitter(self.w3, self.contracts["EvidenceRegistry"],
                                 self.contracts["ArbitrationCases"], self.keys[name],
                                 EvidenceVault(self.data.root / "evidence"), pipeline=self.pipeline(name))

    def borrower(self, label: str) -> Borrower:
        return next(b for b in self.borrowers if b.label == label)

    def expect(self, condition: bool, what: str) -> None:
        """The story checks itself: a step that did not come out as told stops the demo."""
        if not condition:
            from .errors import DemoStepError

            raise DemoStepError(f"the story went off script: {what}")
