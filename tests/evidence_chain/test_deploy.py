"""`deploy_evidence`: deploys both evidence contracts once; a deployment record is reused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from client.consortium import Role
from client.errors import DeploymentError
from client.evidence_chain import ArbitrationCasesClient, EvidenceRegistryClient
from client.suite import EvidenceAddresses, deploy_evidence


def test_deploy_evidence_deploys_once_and_reuses_recorded_addresses(
    chain: Any, make_account: Callable[..., LocalAccount]
) -> None:
    operator = chain.pipeline(make_account("evidence-chain-deployer", roles=(Role.OPERATOR,)))
    consortium = chain.admission.address
    ledger = consortium  # ArbitrationCases only calls the ledger when a case opens
    first = deploy_evidence(operator, consortium, ledger)
    assert isinstance(first, EvidenceAddresses)
    assert EvidenceRegistryClient(chain.w3, first.EvidenceRegistry).contract.functions.consortium().call() \
        == consortium
    assert ArbitrationCasesClient(chain.w3, first.ArbitrationCases).contract.functions.loanLedger().call() \
        == ledger
    nonce = chain.w3.eth.get_transaction_count(operator.address)
    recorded = {"Consortium": consortium, "FundFlows": consortium, **first.as_dict()}
    assert deploy_evidence(operator, consortium, ledger, recorded) == first
    assert chain.w3.eth.get_transaction_count(operator.address) == nonce  # nothing sent
    partial = deploy_evidence(operator, consortium, ledger, {"EvidenceRegistry": first.EvidenceRegistry})
    assert partial.EvidenceRegistry == first.EvidenceRegistry
    assert partial.ArbitrationCases != first.ArbitrationCases
    with pytest.raises(DeploymentError, match="ArbitrationCases contract with no code"):
        deploy_evidence(operator, consortium, ledger,
                        {**first.as_dict(), "ArbitrationCases": "0x" + "00" * 19 + "01"})
