"""Shared set-up for the FundFlows tests: keys, a ledger stub, a FundFlows instance, governance."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from client.consortium import Role
from client.contracts import bind, deploy
from client.flow_rules import FlowModel, RuleSet
from client.flows import FundFlowsClient, deploy_fund_flows
from client.tx import Call, TransactionPipeline
from tests.conftest import ChainHandle

_loan_ids = itertools.count(1)


@dataclass
class Keys:
    gateway: LocalAccount
    lead: LocalAccount
    other_lead: LocalAccount
    outsider: LocalAccount
    lead_id: int
    other_lead_id: int


def make_keys(chain: ChainHandle, make_account: Callable[..., LocalAccount], label: str) -> Keys:
    gateway = make_account(f"{label}-gateway", roles=(Role.GATEWAY,))
    lead = make_account(f"{label}-lead", roles=(Role.LEAD_BANK,))
    other = make_account(f"{label}-other-lead", roles=(Role.LEAD_BANK,))
    outsider = make_account(f"{label}-outsider", roles=(Role.PARTNER,))
    return Keys(
        gateway,
        lead,
        other,
        outsider,
        chain.admission.member_id_of(lead.address),
        chain.admission.member_id_of(other.address),
    )


@dataclass
class Env:
    chain: ChainHandle
    keys: Keys
    stub: Contract
    flows: FundFlowsClient  # signed by the gateway
    lead: FundFlowsClient  # signed by the lead bank
    model: FlowModel = field(default_factory=FlowModel)

    def client(self, key: LocalAccount) -> FundFlowsClient:
        return FundFlowsClient(self.chain.w3, self.flows.address, TransactionPipeline(self.chain.w3, key))

    def govern(self, data: bytes) -> None:
        outcome = self.chain.admission.propose_call(self.flows.address, data)
        assert outcome.executed

    def set_rules(self, product_id: int, rules: RuleSet) -> None:
        self.govern(self.flows.set_rules_call(product_id, rules))
        self.model.set_rules(product_id, rules)

    def prohibit(self, product_id: int, mcc: int, prohibited: bool = True) -> None:
        self.govern(self.flows.set_prohibited_category_call(product_id, mcc, prohibited))
        self.model.set_prohibited(product_id, mcc, prohibited)

    def open_loan(
        self, borrower: bytes, principal: int, product_id: int = 1, lead_id: int | None = None
    ) -> int:
        """A stub loan started now, synced into FundFlows and the model; returns its id."""
        loan_id = next(_loan_ids) + int.from_bytes(os.urandom(3), "big") * 1_000_000
        lead = self.keys.lead_id if lead_id is None else lead_id
        data = self.stub.encode_abi("setLoan", args=[loan_id, borrower, product_id, principal, lead])
        self.flows.pipeline.transact(Call(self.stub.address, bytes.fromhex(data[2:])))  # type: ignore[union-attr]
        self.flows.sync_drawdown(loan_id)
        start = int(self.stub.functions.loan(loan_id).call()[7])
        self.model.sync(loan_id, borrower, product_id, principal, start, lead)
        return loan_id

    def now_of(self, block_number: int) -> int:
        return int(self.chain.w3.eth.get_block(block_number)["timestamp"])


def deploy_env(chain: ChainHandle, keys: Keys, stub_address: str | None = None) -> Env:
    gateway = TransactionPipeline(chain.w3, keys.gateway)
    if stub_address is None:
        stub_address = deploy(chain.admission.pipeline, "FundFlowsLedgerStub")  # type: ignore[arg-type]
    stub = bind(chain.w3, "FundFlowsLedgerStub", stub_address)
    address = deploy_fund_flows(chain.admission.pipeline, chain.admission.address, stub_address)  # type: ignore[arg-type]
    flows = FundFlowsClient(chain.w3, address, gateway)
    lead = FundFlowsClient(chain.w3, address, TransactionPipeline(chain.w3, keys.lead))
    return Env(chain, keys, stub, flows, lead)


def borrower(n: int, salt: bytes = b"") -> bytes:
    from eth_utils import keccak

    return keccak(salt + b"borrower" + n.to_bytes(4, "big"))
