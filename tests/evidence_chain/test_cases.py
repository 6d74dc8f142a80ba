"""ArbitrationCases: opening cases on defaulted loans, EIP-712 signed awards, access-log anchors.

The loans come from a real LoanLedger (with `CreditLinesStub` as its CreditLines) driven to
Defaulted by time travel: 91 days past due, the lead bank records the Arbitration collection step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from client.consortium import Role
from client.errors import CoLedgerValueError, ContractRevert
from client.evidence_chain import (
    AWARD_DOMAIN_NAME,
    AWARD_DOMAIN_VERSION,
    AccessLogAnchored,
    ArbitrationCasesClient,
    AwardRecorded,
    CaseInfo,
    CaseOpened,
    CaseStatus,
    award_digest,
    deploy_arbitration_cases,
)
from tests.evidence_chain._helpers import Actor, assert_reverts, raw_call
from tests.lending._servicing_helpers import (
    DAY,
    STATUS_ACTIVE,
    STATUS_DEFAULTED,
    STEP_ARBITRATION,
    ServicingEnv,
    deploy_servicing,
    evidence,
)

LEAD_BANK, ARBITRATOR, OPERATOR = int(Role.LEAD_BANK), int(Role.ARBITRATOR), int(Role.OPERATOR)
DEFAULTED_LOANS = 32


@dataclass
class Env:
    loans: ServicingEnv
    address: str
    arbitrator: Actor
    arbitrator2: Actor
    defaulted: Iterator[int]
    active_loan: int
    start_block: int

    @property
    def w3(self) -> Web3:
        return self.loans.w3

    def client(self, actor: Any = None) -> ArbitrationCasesClient:
        return ArbitrationCasesClient(self.w3, self.address, actor.pipeline if actor else None)

    def call(self, fn: str, *args: Any) -> Any:
        return raw_call(self.client().contract, fn, *args)

    def open(self, arbitrator: Actor | None = None, head: bytes | None = None, count: int = 2
             ) -> tuple[int, int]:
        """(case id, loan id) of a new case on a fresh defaulted loan."""
        loan_id = next(self.defaulted)
        head = os.urandom(32) if head is None else head
        case_id = self.client(self.loans.lead).open_case(
            loan_id, (arbitrator or self.arbitrator).address, head, count)
        return case_id, loan_id


def _member(loans: ServicingEnv, make_account: Callable[..., LocalAccount], label: str,
            roles: tuple[Role, ...]) -> Actor:
    account = make_account(f"evidence-chain-cases-{label}")
    loans.consortium.propose_add_member(label, account.address, roles)
    return Actor(label, account, loans.chain.pipeline(account))


@pytest.fixture(scope="module")
def env(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount]) -> Env:
    loans = deploy_servicing(w3, chain, make_account, "evidence-cases")
    arbitrator = _member(loans, make_account, "arbitrator", (Role.ARBITRATOR,))
    arbitrator2 = _member(loans, make_account, "arbitrator2", (Role.ARBITRATOR,))
    start = int(w3.eth.block_number)
    address = deploy_arbitration_cases(loans.governor.pipeline, loans.consortium.address, loans.ledger.address)
    opened = [loans.open_loan(1_000_000, 5) for _ in range(DEFAULTED_LOANS + 1)]
    loans.advance_to(max(model.due_time(1) for _, _, model in opened) + 91 * DAY + DAY // 2)
    step = loans.ledger.functions.recordCollectionStep
    for loan_id, _, _ in opened[:DEFAULTED_LOANS]:
        loans.send(loans.lead, step(loan_id, STEP_ARBITRATION, evidence(f"filed {loan_id}")))
        assert loans.loan(loan_id)["status"] == STATUS_DEFAULTED
    return Env(loans, address, arbitrator, arbitrator2, iter([i for i, _, _ in opened[:DEFAULTED_LOANS]]),
               opened[-1][0], start)


# ------------------------------------------------------------------------------ opening


def test_lead_bank_opens_a_case_on_a_defaulted_loan(env: Env) -> None:
    lead = env.client(env.loans.lead)
    loan_id = next(env.defaulted)
    head = os.urandom(32)
    count = lead.case_count()
    receipt = env.loans.lead.pipeline.transact(lead.open_case_call(loan_id, env.arbitrator.address, head, 5))
    block = env.w3.eth.get_block(receipt["blockNumber"])
    [event] = lead.receipt_events(receipt)
    assert event == CaseOpened(
        case_id=count + 1, loan_id=loan_id, arbitrator=env.arbitrator.address, opener=env.loans.lead.address,
        frozen_head=head, frozen_count=5, block_number=receipt["blockNumber"],
        block_hash="0x" + bytes(block["hash"]).hex(), tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        log_index=receipt["logs"][0]["logIndex"],
    )
    assert lead.case(count + 1) == CaseInfo(
        case_id=count + 1, loan_id=loan_id, arbitrator=env.arbitrator.address, opener=env.loans.lead.address,
        opened_block=receipt["blockNumber"], opened_at=int(block["timestamp"]), frozen_head=head,
        frozen_count=5, status=CaseStatus.OPEN, award_hash=bytes(32), access_log_head=bytes(32),
        access_log_entries=0,
    )
    assert lead.case_of_loan(loan_id) == count + 1
    assert lead.case_count() == count + 1


def test_a_loan_without_evidence_opens_with_an_empty_frozen_set(env: Env) -> None:
    case_id, _ = env.open(head=bytes(32), count=0)
    info = env.client().case(case_id)
    assert (info.frozen_head, info.frozen_count, info.status) == (bytes(32), 0, CaseStatus.OPEN)


@pytest.mark.parametrize(("head", "count"), [(b"\x01" * 32, 0), (bytes(32), 3)])
def test_half_empty_frozen_set_reverts_with_ArbitrationBadFrozenSet(env: Env, head: bytes, count: int) -> None:
    loan_id = next(env.defaulted)
    assert_reverts(env.loans.lead, env.call("openCase", loan_id, env.arbitrator.address, head, count),
                   "ArbitrationBadFrozenSet", frozenHead=head, frozenCount=count)
    assert env.client().case_of_loan(loan_id) == 0
    env.client(env.loans.lead).open_case(loan_id, env.arbitrator.address, head if count else bytes(32), 0)


def test_only_a_defaulted_loan_can_go_to_arbitration(env: Env) -> None:
    assert env.loans.loan(env.active_loan)["status"] == STATUS_ACTIVE
    assert_reverts(env.loans.lead, env.call("openCase", env.active_loan, env.arbitrator.address, bytes(32), 0),
                   "ArbitrationLoanNotDefaulted", loanId=env.active_loan, status=STATUS_ACTIVE)
    with pytest.raises(ContractRevert) as info:
        env.client(env.loans.lead).open_case(10_000, env.arbitrator.address, bytes(32), 0)
    assert (info.value.name, info.value.args_by_name) == ("LoanLedgerUnknownLoan", {"loanId": 10_000})


@pytest.mark.parametrize("who", ["partner1", "auditor", "outsider", "arbitrator"])
def test_opening_without_the_lead_bank_role_reverts_with_ArbitrationUnauthorized(env: Env, who: str) -> None:
    actor = env.arbitrator if who == "arbitrator" else getattr(env.loans, who)
    loan_id = next(env.defaulted)
    assert_reverts(actor, env.call("openCase", loan_id, env.arbitrator.address, bytes(32), 0),
                   "ArbitrationUnauthorized", account=actor.address, role=LEAD_BANK)
    env.client(env.loans.lead).open_case(loan_id, env.arbitrator.address, bytes(32), 0)  # still free


@pytest.mark.parametrize("who", ["partner1", "lead", "outsider"])
def test_arbitrator_must_hold_the_arbitrator_role(env: Env, who: str) -> None:
    candidate = getattr(env.loans, who)
    loan_id = next(env.defaulted)
    assert_reverts(env.loans.lead, env.call("openCase", loan_id, candidate.address, bytes(32), 0),
                   "ArbitrationNotArbitrator", arbitrator=candidate.address)
    env.client(env.loans.lead).open_case(loan_id, env.arbitrator2.address, bytes(32), 0)


def test_second_open_case_on_a_loan_is_refused_until_the_first_is_awarded(env: Env) -> None:
    case_id, loan_id = env.open()
    for opener in (env.loans.lead, env.loans.other_lead):
        assert_reverts(opener, env.call("openCase", loan_id, env.arbitrator2.address, bytes(32), 0),
                       "ArbitrationCaseAlreadyOpen", loanId=loan_id, caseId=case_id)
    award = keccak(text="award: borrower pays 1,000,000 fen")
    arbitrator = env.client(env.arbitrator)
    arbitrator.record_award(case_id, award, arbitrator.sign_award(env.arbitrator.account, case_id, loan_id, award))
    again = env.client(env.loans.lead).open_case(loan_id, env.arbitrator2.address, bytes(32), 0)
    assert again == case_id + 1
    assert env.client().case_of_loan(loan_id) == again


# ------------------------------------------------------------------------------ awards


def test_arbitrator_records_its_signed_award(env: Env) -> None:
    case_id, loan_id = env.open()
    arbitrator = env.client(env.arbitrator)
    award = keccak(text="award text v1")
    signature = arbitrator.sign_award(env.arbitrator.account, case_id, loan_id, award)
    receipt = arbitrator.record_award(case_id, award, signature)
    [event] = arbitrator.receipt_events(receipt)
    assert isinstance(event, AwardRecorded)
    assert (event.case_id, event.arbitrator, event.award_hash, event.signature) == (
        case_id, env.arbitrator.address, award, signature)
    info = arbitrator.case(case_id)
    assert (info.status, info.award_hash) == (CaseStatus.AWARDED, award)
    assert_reverts(env.arbitrator, env.call("recordAward", case_id, award, signature),
                   "ArbitrationCaseNotOpen", caseId=case_id, status=int(CaseStatus.AWARDED))


def _signer(digest: bytes, signature: bytes) -> str:
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    sig = keys.Signature(signature[:64] + bytes([v]))
    return str(sig.recover_public_key_from_msg_hash(digest).to_checksum_address())


def test_award_signed_by_another_arbitrator_is_refused(env: Env) -> None:
    case_id, loan_id = env.open()
    award = os.urandom(32)
    forged = env.client().sign_award(env.arbitrator2.account, case_id, loan_id, award)
    assert_reverts(env.arbitrator, env.call("recordAward", case_id, award, forged),
                   "ArbitrationBadAwardSignature", caseId=case_id, signer=env.arbitrator2.address)
    assert env.client().case(case_id).status == CaseStatus.OPEN


def test_award_signature_over_another_hash_case_or_loan_is_refused(env: Env) -> None:
    case_id, loan_id = env.open()
    other_case, _ = env.open()
    award, other = os.urandom(32), os.urandom(32)
    arbitrator = env.client(env.arbitrator)
    digest = arbitrator.award_digest(case_id, loan_id, other)
    for signed_case, signed_loan, signed_hash in ((case_id, loan_id, award), (other_case, loan_id, other),
                                                  (case_id, loan_id + 1, other)):
        signature = arbitrator.sign_award(env.arbitrator.account, signed_case, signed_loan, signed_hash)
        signer = _signer(digest, signature)
        assert signer != env.arbitrator.address
        assert_reverts(env.arbitrator, env.call("recordAward", case_id, other, signature),
                       "ArbitrationBadAwardSignature", caseId=case_id, signer=signer)
    for malformed in (b"", bytes(65), os.urandom(64)):
        assert_reverts(env.arbitrator, env.call("recordAward", case_id, other, malformed),
                       "ArbitrationBadAwardSignature", caseId=case_id,
                       signer="0x0000000000000000000000000000000000000000")


def test_award_from_an_arbitrator_not_assigned_to_the_case_is_refused(env: Env) -> None:
    case_id, loan_id = env.open()
    award = os.urandom(32)
    own = env.client().sign_award(env.arbitrator2.account, case_id, loan_id, award)
    for actor in (env.arbitrator2, env.loans.lead):
        assert_reverts(actor, env.call("recordAward", case_id, award, own), "ArbitrationNotAssignedArbitrator",
                       caseId=case_id, account=actor.address, arbitrator=env.arbitrator.address)


def test_award_from_an_arbitrator_whose_role_was_revoked_is_refused(
    env: Env, make_account: Callable[..., LocalAccount]
) -> None:
    revoked = _member(env.loans, make_account, "revoked-arbitrator", (Role.ARBITRATOR,))
    case_id, loan_id = env.open(arbitrator=revoked)
    member_id = env.loans.consortium.member_id_of(revoked.address)
    assert env.loans.consortium.propose_revoke_role(member_id, Role.ARBITRATOR).executed
    award = os.urandom(32)
    signature = env.client().sign_award(revoked.account, case_id, loan_id, award)
    assert_reverts(revoked, env.call("recordAward", case_id, award, signature),
                   "ArbitrationUnauthorized", account=revoked.address, role=ARBITRATOR)
    assert env.client().case(case_id).status == CaseStatus.OPEN


def test_zero_award_hash_and_unknown_case_are_refused(env: Env) -> None:
    case_id, loan_id = env.open()
    signature = env.client().sign_award(env.arbitrator.account, case_id, loan_id, bytes(32))
    assert_reverts(env.arbitrator, env.call("recordAward", case_id, bytes(32), signature),
                   "ArbitrationZeroAwardHash")
    unknown = env.client().case_count() + 1
    assert_reverts(env.arbitrator, env.call("recordAward", unknown, os.urandom(32), signature),
                   "ArbitrationUnknownCase", caseId=unknown)
    assert env.client().case(unknown).status == CaseStatus.NONE


def test_domain_separator_is_the_eip712_domain_of_the_contract(env: Env) -> None:
    client = env.client()
    domain = client.domain()
    assert domain == {"name": AWARD_DOMAIN_NAME, "version": AWARD_DOMAIN_VERSION,
                      "chainId": int(env.w3.eth.chain_id), "verifyingContract": client.address}
    signable = encode_typed_data(domain_data=domain, message_types={"Award": [
        {"name": "caseId", "type": "uint256"}, {"name": "loanId", "type": "uint64"},
        {"name": "awardHash", "type": "bytes32"}]}, message_data={"caseId": 1, "loanId": 1, "awardHash": bytes(32)})
    assert client.domain_separator() == bytes(signable.header)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case_id=st.integers(0, 2**256 - 1), loan_id=st.integers(0, 2**64 - 1),
       award=st.binary(min_size=32, max_size=32))
def test_python_award_digest_equals_awardDigest(env: Env, case_id: int, loan_id: int, award: bytes) -> None:
    client = env.client()
    expected = client.award_digest(case_id, loan_id, award)
    assert award_digest(int(env.w3.eth.chain_id), client.address, case_id, loan_id, award) == expected
    signature = client.sign_award(env.arbitrator.account, case_id, loan_id, award)
    assert _signer(expected, signature) == env.arbitrator.address


# ------------------------------------------------------------------------------ access log


def test_operator_anchors_a_growing_access_log(env: Env) -> None:
    case_id, _ = env.open()
    operator = env.client(env.loans.governor)
    for entries in (3, 4, 10):
        head = os.urandom(32)
        [event] = operator.receipt_events(operator.anchor_access_log(case_id, head, entries))
        assert isinstance(event, AccessLogAnchored)
        assert (event.case_id, event.log_head, event.entries, event.operator) == (
            case_id, head, entries, env.loans.governor.address)
        info = operator.case(case_id)
        assert (info.access_log_head, info.access_log_entries, info.status) == (head, entries, CaseStatus.OPEN)
    for entries in (10, 9, 0):
        assert_reverts(env.loans.governor, env.call("anchorAccessLog", case_id, os.urandom(32), entries),
                       "ArbitrationAccessLogNotAdvancing", caseId=case_id, entries=entries, anchored=10)


def test_case_zero_holds_the_log_of_reads_outside_any_case(env: Env) -> None:
    operator = env.client(env.loans.governor)
    before = operator.case(0).access_log_entries
    head = os.urandom(32)
    operator.anchor_access_log(0, head, before + 1)
    info = operator.case(0)
    assert (info.access_log_head, info.access_log_entries, info.status) == (head, before + 1, CaseStatus.NONE)
    assert_reverts(env.loans.governor, env.call("anchorAccessLog", 0, head, before + 1),
                   "ArbitrationAccessLogNotAdvancing", caseId=0, entries=before + 1, anchored=before + 1)


def test_access_log_anchoring_is_operator_only_and_needs_a_known_case(env: Env) -> None:
    case_id, _ = env.open()
    for actor in (env.loans.lead, env.arbitrator, env.loans.outsider):
        assert_reverts(actor, env.call("anchorAccessLog", case_id, os.urandom(32), 1),
                       "ArbitrationUnauthorized", account=actor.address, role=OPERATOR)
    unknown = env.client().case_count() + 5
    assert_reverts(env.loans.governor, env.call("anchorAccessLog", unknown, os.urandom(32), 1),
                   "ArbitrationUnknownCase", caseId=unknown)


# ------------------------------------------------------------------------------ client, events, gas


def test_events_yield_typed_dataclasses_in_chain_order(env: Env) -> None:
    start = int(env.w3.eth.block_number) + 1
    case_id, loan_id = env.open()
    arbitrator = env.client(env.arbitrator)
    award = os.urandom(32)
    arbitrator.record_award(case_id, award, arbitrator.sign_award(env.arbitrator.account, case_id, loan_id, award))
    env.client(env.loans.governor).anchor_access_log(case_id, os.urandom(32), 1)
    events = list(env.client().events(start))
    assert [type(e) for e in events] == [CaseOpened, AwardRecorded, AccessLogAnchored]
    assert all(e.case_id == case_id for e in events)
    everything = list(env.client().events(env.start_block))
    keys_ = [(e.block_number, e.log_index) for e in everything]
    assert keys_ == sorted(keys_) and len(everything) >= len(events)


def test_client_checks_arguments_and_read_only_client_refuses_writes(env: Env) -> None:
    with pytest.raises(CoLedgerValueError, match="not an address"):
        env.client(env.loans.lead).open_case(1, "0x1234", bytes(32), 0)
    with pytest.raises(CoLedgerValueError, match="read-only"):
        env.client().anchor_access_log(0, os.urandom(32), 10**6)
    client = env.client()
    assert client.contract.functions.consortium().call() == env.loans.consortium.address
    assert client.contract.functions.loanLedger().call() == env.loans.ledger.address


def test_gas_of_open_case_and_record_award(env: Env) -> None:
    lead = env.client(env.loans.lead)
    loan_id = next(env.defaulted)
    opened = env.loans.lead.pipeline.transact(lead.open_case_call(loan_id, env.arbitrator.address,
                                                                  os.urandom(32), 7))
    case_id = lead.case_of_loan(loan_id)
    arbitrator = env.client(env.arbitrator)
    award = os.urandom(32)
    awarded = arbitrator.record_award(case_id, award, arbitrator.sign_award(env.arbitrator.account, case_id,
                                                                            loan_id, award))
    print(f"\ngas: openCase {opened['gasUsed']}, recordAward {awarded['gasUsed']}")
    assert opened["gasUsed"] < 200_000
    assert awarded["gasUsed"] < 100_000


