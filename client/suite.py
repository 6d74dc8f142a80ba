"""Deploy the coledger contract suite once per chain, idempotently, from the operator key.

Order matters and is fixed: the Consortium at the operator's nonce 0 (the node's admission rule
depends on it), then ProductCatalog, LoanLedger and CreditLines. The ledger and CreditLines each
need the other's address, so the ledger is given CreditLines' predicted CREATE address. FundFlows
and the evidence contracts (EvidenceRegistry, ArbitrationCases) follow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from web3 import Web3

from client.contracts import create_address, deploy
from client.errors import DeploymentError
from client.evidence_chain import deploy_arbitration_cases, deploy_evidence_registry
from client.flows import deploy_fund_flows
from client.tx import TransactionPipeline

__all__ = [
    "DEFAULT_BORROWER_EXPOSURE_CAP", "EvidenceAddresses", "LendingAddresses", "deploy_evidence",
    "deploy_flows", "deploy_lending",
]

# 300,000 RMB in fen: the personal credit ceiling, used until governance sets
# `lending.borrowerExposureCap`.
DEFAULT_BORROWER_EXPOSURE_CAP = 30_000_000


@dataclass(frozen=True)
class LendingAddresses:
    ProductCatalog: str
    LoanLedger: str
    CreditLines: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class EvidenceAddresses:
    EvidenceRegistry: str
    ArbitrationCases: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _has_code(w3: Web3, address: str) -> bool:
    return bool(w3.eth.get_code(Web3.to_checksum_address(address)))


def deploy_lending(
    pipeline: TransactionPipeline,
    consortium: str,
    recorded: dict[str, str] | None = None,
    exposure_cap: int = DEFAULT_BORROWER_EXPOSURE_CAP,
) -> tuple[LendingAddresses, bool]:
    """Deploy the lending contracts unless `recorded` addresses already hold code."""
    names = ("ProductCatalog", "LoanLedger", "CreditLines")
    if recorded and all(n in recorded for n in names):
        if all(_has_code(pipeline.w3, recorded[n]) for n in names):
            return LendingAddresses(*(recorded[n] for n in names)), False
        raise DeploymentError(
            "the deployment record names lending contracts that have no code on this chain"
        )
    nonce = int(pipeline.w3.eth.get_transaction_count(pipeline.address, "pending"))
    predicted_lines = create_address(pipeline.address, nonce + 2)
    catalog = deploy(pipeline, "ProductCatalog", consortium)
    ledger = deploy(pipeline, "LoanLedger", consortium, predicted_lines)
    lines = deploy(pipeline, "CreditLines", consortium, catalog, ledger, exposure_cap)
    if lines != predicted_lines:
        raise DeploymentError(
            f"CreditLines landed at {lines}, not the predicted {predicted_lines}: another "
            "transaction from the operator key interleaved; redeploy on a quiet chain"
        )
    return LendingAddresses(catalog, ledger, lines), True


def deploy_flows(
    pipeline: TransactionPipeline, consortium: str, loan_ledger: str,
    recorded: dict[str, str] | None = None,
) -> str:
    """Deploy FundFlows (virtual-account monitoring) unless `recorded` names one with code."""
    if recorded and "FundFlows" in recorded:
        if _has_code(pipeline.w3, recorded["FundFlows"]):
            return recorded["FundFlows"]
        raise DeploymentError("the deployment record names a FundFlows contract with no code")
    return deploy_fund_flows(pipeline, consortium, loan_ledger)


def deploy_evidence(
    pipeline: TransactionPipeline, consortium: str, loan_ledger: str,
    recorded: dict[str, str] | None = None,
) -> EvidenceAddresses:
    """Deploy EvidenceRegistry and ArbitrationCases, each unless `recorded` names one with code."""
    def registry() -> str:
        return deploy_evidence_registry(pipeline, consortium)

    def cases() -> str:
        return deploy_arbitration_cases(pipeline, consortium, loan_ledger)

    addresses: dict[str, str] = {}
    for name, make in (("EvidenceRegistry", registry), ("ArbitrationCases", cases)):
        if recorded and name in recorded:
            if not _has_code(pipeline.w3, recorded[name]):
                raise DeploymentError(f"the deployment record names a {name} contract with no code")
            addresses[name] = recorded[name]
        else:
            addresses[name] = make()
    return EvidenceAddresses(**addresses)
