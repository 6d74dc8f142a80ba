"""CreditLines: lines, drawdowns split lead/partners, partner commitments (EIP-712 signature or
own transaction), disbursement into the ledger, the consortium-wide exposure cap, and principal
release. Every rejection is asserted by its custom error with every argument."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from client.consortium import Role
from tests.lending._origination_helpers import (
    DAY,
    DEFAULT_EXPOSURE_CAP,
    P_EXPOSURE_CAP,
    P_LIFETIME,
    SURCHARGE_BP,
    WELOAN_CAP,
    WELOAN_RATE_BP,
    ZERO_ADDRESS,
    Origination,
    counts_mask,
    deploy_origination,
    events,
    expected_split,
    terms,
)

PENDING, DISBURSED = 1, 2


@pytest.fixture(scope="module")
def o(chain: Any, make_account: Callable[..., LocalAccount]) -> Origination:
    return deploy_origination(chain, make_account, "origination")


@pytest.fixture
def parameter(o: Origination) -> Iterator[Callable[[str, int], None]]:
    """Set governed parameters for one test; reset to 0 afterwards."""
    touched: set[str] = set()

    def set_(name: str, value: int) -> None:
        touched.add(name)
        o.set_parameter(name, value)

    yield set_
    for name in touched:
        o.set_parameter(name, 0)


def disbursed(o: Origination, drawdown_id: int) -> None:
    assert o.lines.functions.drawdown(drawdown_id).call()[3] == DISBURSED


# ------------------------------------------------------------------------------ lines


def test_open_line_stores_it_and_emits_LineOpened(o: Origination) -> None:
    borrower = o.new_borrower()
    model = keccak(text="scorecard 2024.3")
    count = o.lines.functions.lineCount().call()
    receipt = o.send("lead", o.lines, "openLine", o.product, borrower, 20_000_000, 7, model)
    line_id = count + 1
    assert events(o.lines, receipt) == [("LineOpened", {
        "lineId": line_id, "productId": o.product, "borrower": borrower, "leadMemberId": o.ids["lead"],
        "limit": 20_000_000, "scoreBand": 7, "modelHash": model})]
    assert o.lines.functions.line(line_id).call() == (
        borrower, o.product, o.ids["lead"], 20_000_000, 0, 7, False, model)
    assert o.lines.functions.lineCount().call() == line_id
    assert o.lines.functions.borrowerLineCount(borrower).call() == 1


@pytest.mark.parametrize("who", ["lead2", "p1", "outsider"])
def test_open_line_by_non_lead_reverts_with_CreditLinesNotLead(o: Origination, who: str) -> None:
    o.rejects(who, o.lines, "openLine", [o.product, o.new_borrower(), 1_000_000, 1, b"\x01" * 32],
              "CreditLinesNotLead", caller=o.accounts[who].address, leadMemberId=o.ids["lead"])


def test_open_line_bad_inputs_revert(o: Origination) -> None:
    b, m = o.new_borrower(), b"\x01" * 32
    o.rejects("lead", o.lines, "openLine", [o.product, b"\x00" * 32, 1_000_000, 1, m], "CreditLinesZeroBorrower")
    o.rejects("lead", o.lines, "openLine", [o.product, b, 499_999, 1, m], "CreditLinesLimitOutOfRange",
              limit=499_999, min=500_000, max=30_000_000)
    o.rejects("lead", o.lines, "openLine", [o.product, b, 30_000_001, 1, m], "CreditLinesLimitOutOfRange",
              limit=30_000_001, min=500_000, max=30_000_000)
    o.rejects("lead", o.lines, "openLine", [999, b, 1_000_000, 1, m], "ProductCatalogUnknownProduct",
              productId=999)
    assert o.lines.functions.borrowerLineCount(b).call() == 0


def test_inactive_product_opens_no_line(o: Origination) -> None:
    o.send("lead", o.catalog, "setProductActive", o.product, False)
    try:
        o.rejects("lead", o.lines, "openLine", [o.product, o.new_borrower(), 1_000_000, 1, b"\x01" * 32],
                  "CreditLinesProductInactive", productId=o.product)
    finally:
        o.send("lead", o.catalog, "setProductActive", o.product, True)


def test_close_line_by_lead_or_governance_stops_drawdowns(o: Origination) -> None:
    line_id, _ = o.open_line()
    o.rejects("p1", o.lines, "closeLine", [line_id], "CreditLinesNotLead",
              caller=o.accounts["p1"].address, leadMemberId=o.ids["lead"])
    receipt = o.send("lead", o.lines, "closeLine", line_id)
    assert events(o.lines, receipt) == [("LineClosed", {"lineId": line_id, "by": o.accounts["lead"].address})]
    assert o.lines.functions.line(line_id).call()[6] is True
    o.rejects("lead", o.lines, "closeLine", [line_id], "CreditLinesLineClosed", lineId=line_id)
    o.rejects("lead", o.lines, "proposeDrawdown", [line_id, 100_000, 10], "CreditLinesLineClosed", lineId=line_id)

    other, _ = o.open_line()
    receipt = o.govern(o.lines, "closeLine", other)
    assert ("LineClosed", {"lineId": other, "by": o.consortium.address}) in events(o.lines, receipt)


def test_unknown_line_reverts_with_CreditLinesUnknownLine(o: Origination) -> None:
    unknown = o.lines.functions.lineCount().call() + 1
    o.rejects("lead", o.lines, "closeLine", [unknown], "CreditLinesUnknownLine", lineId=unknown)
    o.rejects("lead", o.lines, "proposeDrawdown", [unknown, 1, 10], "CreditLinesUnknownLine", lineId=unknown)


# ------------------------------------------------------------------------------ proposing


def test_propose_drawdown_splits_and_stores_it(o: Origination) -> None:
    line_id, _ = o.open_line()
    drawdown_id, receipt = o.propose(line_id, 1_000_001, 20)
    block_time = o.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    lead_part, p1_part, p2_part = expected_split(1_000_001, [2_000, 4_000, 4_000])
    parts = [(o.ids["lead"], lead_part), (o.ids["p1"], p1_part), (o.ids["p2"], p2_part)]
    assert sum(a for _, a in parts) == 1_000_001
    ((name, args),) = events(o.lines, receipt)
    assert name == "DrawdownProposed"
    assert {**args, "parts": [tuple(p.values()) for p in args["parts"]]} == {
        "drawdownId": drawdown_id, "lineId": line_id, "amount": 1_000_001, "installments": 20,
        "parts": parts, "deadline": block_time + DAY}
    assert o.lines.functions.drawdown(drawdown_id).call() == (
        line_id, 1_000_001, 20, PENDING, block_time + DAY, WELOAN_RATE_BP, SURCHARGE_BP, parts,
        [True, False, False])
    assert o.lines.functions.drawdownCount().call() >= drawdown_id


@pytest.mark.parametrize("amount", [1, 2, 3, 7, 99_999, 1_234_567, 3_333_333, 3_999_999, WELOAN_CAP])
def test_split_is_exact_for_odd_amounts(o: Origination, amount: int) -> None:
    line_id, _ = o.open_line(30_000_000)
    drawdown_id, _ = o.propose(line_id, amount, 5)
    parts = o.parts(drawdown_id)
    assert [a for _, a in parts] == expected_split(amount, [2_000, 4_000, 4_000])
    assert sum(a for _, a in parts) == amount


def test_split_is_exact_with_uneven_shares(o: Origination) -> None:
    ids = o.ids
    t = terms(ids["lead"], [ids["p1"], ids["p2"], ids["p3"]], [3_333, 3_333, 1_001], lead_share=2_333)
    (_, defined), = [e for e in events(o.catalog, o.govern(o.catalog, "defineProduct", t))]
    line_id, _ = o.open_line(30_000_000, product=defined["productId"])
    for amount in (1, 10_007, 2_999_999):
        drawdown_id, _ = o.propose(line_id, amount, 10)
        got = [a for _, a in o.parts(drawdown_id)]
        assert got == expected_split(amount, [2_333, 3_333, 3_333, 1_001]) and sum(got) == amount


def test_propose_bad_inputs_revert_in_order(o: Origination) -> None:
    line_id, _ = o.open_line(1_000_000)
    mask = counts_mask([5, 10, 20])
    rejects = o.rejects
    rejects("lead", o.lines, "proposeDrawdown", [line_id, 100_000, 7], "CreditLinesInstallmentsNotAllowed",
            n=7, mask=mask)
    rejects("lead", o.lines, "proposeDrawdown", [line_id, 100_000, 0], "CreditLinesInstallmentsNotAllowed",
            n=0, mask=mask)
    rejects("lead", o.lines, "proposeDrawdown", [line_id, 100_000, 255], "CreditLinesInstallmentsNotAllowed",
            n=255, mask=mask)
    rejects("lead", o.lines, "proposeDrawdown", [line_id, 0, 10], "CreditLinesZeroAmount")
    big, _ = o.open_line(30_000_000)
    rejects("lead", o.lines, "proposeDrawdown", [big, WELOAN_CAP + 1, 10], "CreditLinesDrawExceedsCap",
            amount=WELOAN_CAP + 1, cap=WELOAN_CAP)
    rejects("lead", o.lines, "proposeDrawdown", [line_id, 1_000_001, 10], "CreditLinesDrawExceedsLimit",
            amount=1_000_001, remaining=1_000_000)
    rejects("p1", o.lines, "proposeDrawdown", [line_id, 100_000, 10], "CreditLinesNotLead",
            caller=o.accounts["p1"].address, leadMemberId=o.ids["lead"])


def test_exposure_cap_is_consortium_wide(o: Origination, parameter: Callable[[str, int], None]) -> None:
    ids = o.ids
    other = terms(ids["lead2"], [ids["p3"]], [8_000], name="lead2 product")
    (_, defined), = events(o.catalog, o.govern(o.catalog, "defineProduct", other))
    assert o.lines.functions.borrowerExposureCap().call() == DEFAULT_EXPOSURE_CAP
    parameter(P_EXPOSURE_CAP, 5_000_000)
    assert o.lines.functions.borrowerExposureCap().call() == 5_000_000

    line_a, borrower = o.open_line(10_000_000)
    line_b, _ = o.open_line(10_000_000, product=defined["productId"], who="lead2", borrower=borrower)
    assert o.lines.functions.borrowerLineCount(borrower).call() == 2
    first, _ = o.propose(line_a, 3_000_000)
    o.send("lead", o.lines, "disburse", first, *o.signatures(first))
    assert o.lines.functions.borrowerExposure(borrower).call() == 3_000_000
    # The other lead bank's line sees the same borrower's exposure.
    o.rejects("lead2", o.lines, "proposeDrawdown", [line_b, 2_000_001, 10], "CreditLinesExposureCapExceeded",
              borrower=borrower, exposure=3_000_000, amount=2_000_001, cap=5_000_000)
    second, _ = o.propose(line_b, 2_000_000, who="lead2")
    o.send("lead2", o.lines, "disburse", second, *o.signatures(second, signers=["p3"]))
    assert o.lines.functions.borrowerExposure(borrower).call() == 5_000_000


# ------------------------------------------------------------------------------ commitments


def test_disburse_with_two_partner_signatures(o: Origination) -> None:
    line_id, borrower = o.open_line(10_000_000)
    drawdown_id, _ = o.propose(line_id, 2_345_679, 10)
    parts = o.parts(drawdown_id)
    deadline = o.now() + 3_600
    sigs = []
    for signer, (pid, amount) in zip(["p1", "p2"], parts[1:], strict=True):
        typed = o.typed(drawdown_id, pid, amount, deadline)
        digest = keccak(b"\x19" + typed.version + typed.header + typed.body)
        assert o.lines.functions.commitmentDigest(drawdown_id, pid, amount, deadline).call() == digest
        assert o.lines.functions.DOMAIN_SEPARATOR().call() == typed.header
        sigs.append(o.sign(signer, drawdown_id, pid, amount, deadline))
    receipt = o.send("lead", o.lines, "disburse", drawdown_id, [deadline, deadline], sigs)
    assert events(o.lines, receipt) == [
        ("DrawdownCommitted", {"drawdownId": drawdown_id, "partnerId": o.ids["p1"], "bySignature": True}),
        ("DrawdownCommitted", {"drawdownId": drawdown_id, "partnerId": o.ids["p2"], "bySignature": True}),
        ("DrawdownDisbursed", {"drawdownId": drawdown_id, "borrower": borrower, "amount": 2_345_679}),
    ]
    ((name, opened),) = events(o.ledger, receipt)
    assert name == "OpenLoanCalled"
    assert {**opened, "parts": [tuple(p.values()) for p in opened["parts"]]} == {
        "loanId": drawdown_id, "borrower": borrower, "lineId": line_id, "productId": o.product,
        "principal": 2_345_679, "annualRateBp": WELOAN_RATE_BP, "penaltySurchargeBp": SURCHARGE_BP,
        "installments": 10, "leadMemberId": o.ids["lead"], "parts": parts, "caller": o.lines.address}
    view = o.lines.functions.drawdown(drawdown_id).call()
    assert view[3] == DISBURSED and view[8] == [True, True, True]
    assert o.lines.functions.line(line_id).call()[4] == 2_345_679
    assert o.lines.functions.borrowerExposure(borrower).call() == 2_345_679


def test_commit_by_transaction_then_disburse_with_empty_signature(o: Origination) -> None:
    line_id, borrower = o.open_line()
    drawdown_id, _ = o.propose(line_id, 500_000)
    receipt = o.send("p2", o.lines, "commit", drawdown_id)
    assert events(o.lines, receipt) == [
        ("DrawdownCommitted", {"drawdownId": drawdown_id, "partnerId": o.ids["p2"], "bySignature": False})]
    assert o.lines.functions.drawdown(drawdown_id).call()[8] == [True, False, True]
    o.rejects("p2", o.lines, "commit", [drawdown_id], "CreditLinesAlreadyCommitted", id=drawdown_id,
              partnerId=o.ids["p2"])
    # p2 committed by transaction, p1 by signature: an empty signature stands for p2.
    p1_id, p1_amount = o.parts(drawdown_id)[1]
    deadline = o.now() + 600
    p1_signature = o.sign("p1", drawdown_id, p1_id, p1_amount, deadline)
    receipt = o.send("lead", o.lines, "disburse", drawdown_id, [deadline, 0], [p1_signature, b""])
    assert [(n, a["partnerId"]) for n, a in events(o.lines, receipt) if n == "DrawdownCommitted"] == [
        ("DrawdownCommitted", p1_id)]
    assert o.lines.functions.borrowerExposure(borrower).call() == 500_000


def test_all_partners_committed_by_transaction(o: Origination) -> None:
    line_id, borrower = o.open_line()
    drawdown_id, _ = o.propose(line_id, 500_000)
    o.send("p2", o.lines, "commit", drawdown_id)
    o.send("p1", o.lines, "commit", drawdown_id)
    receipt = o.send("lead", o.lines, "disburse", drawdown_id, [0, 0], [b"", b""])
    assert [n for n, _ in events(o.lines, receipt)] == ["DrawdownDisbursed"]
    assert o.lines.functions.borrowerExposure(borrower).call() == 500_000


def test_disburse_without_commitment_reverts_with_CreditLinesMissingCommitment(o: Origination) -> None:
    line_id, _ = o.open_line()
    drawdown_id, _ = o.propose(line_id, 500_000)
    deadlines, sigs = o.signatures(drawdown_id)
    o.rejects("lead", o.lines, "disburse", [drawdown_id, deadlines, [sigs[0], b""]],
              "CreditLinesMissingCommitment", id=drawdown_id, partnerId=o.ids["p2"])
    o.rejects("lead", o.lines, "disburse", [drawdown_id, deadlines[:1], sigs], "CreditLinesCommitmentCount",
              id=drawdown_id, expected=2, deadlines=1, signatures=2)
    o.rejects("lead", o.lines, "disburse", [drawdown_id, deadlines, sigs + [b""]],
              "CreditLinesCommitmentCount", id=drawdown_id, expected=2, deadlines=2, signatures=3)


@pytest.mark.parametrize("who", ["outsider", "lead", "p3", "governor"])
def test_commit_by_non_partner_reverts_with_CreditLinesNotAPartner(o: Origination, who: str) -> None:
    line_id, _ = o.open_line()
    drawdown_id, _ = o.propose(line_id, 500_000)
    o.rejects(who, o.lines, "commit", [drawdown_id], "CreditLinesNotAPartner", id=drawdown_id,
              caller=o.accounts[who].address)


def test_unknown_drawdown_reverts_with_CreditLinesUnknownDrawdown(o: Origination) -> None:
    unknown = o.lines.functions.drawdownCount().call() + 1
    o.rejects("p1", o.lines, "commit", [unknown], "CreditLinesUnknownDrawdown", id=unknown)
    o.rejects("lead", o.lines, "disburse", [unknown, [], []], "CreditLinesUnknownDrawdown", id=unknown)


def test_disburse_by_non_lead_reverts_with_CreditLinesNotLead(o: Origination) -> None:
    line_id, _ = o.open_line()
    drawdown_id, _ = o.propose(line_id, 500_000)
    o.rejects("lead2", o.lines, "disburse", [drawdown_id, *o.signatures(drawdown_id)], "CreditLinesNotLead",
              caller=o.accounts["lead2"].address, leadMemberId=o.ids["lead"])


# ------------------------------------------------------------------------------ bad signatures


def bad_commitment(o: Origination, drawdown_id: int, slot: int, signature: bytes, deadline: int) -> None:
    """Disbursing with `signature` in partner slot `slot` reverts with CreditLinesBadCommitment
    naming whoever the contract recovers over the message it expects."""
    deadlines, sigs = o.signatures(drawdown_id, deadline)
    sigs[slot] = signature
    pid, amount = o.parts(drawdown_id)[slot + 1]
    recovered = o.recovered(drawdown_id, pid, amount, deadline, signature) if len(signature) == 65 else ZERO_ADDRESS
    o.rejects("lead", o.lines, "disburse", [drawdown_id, deadlines, sigs], "CreditLinesBadCommitment",
              id=drawdown_id, partnerId=pid, recovered=recovered)
    assert o.lines.functions.drawdown(drawdown_id).call()[3] == PENDING


def test_signature_cases_revert_with_CreditLinesBadCommitment(o: Origination) -> None:
    line_id, _ = o.open_line()
    drawdown_id, _ = o.propose(line_id, 1_000_000)
    other_id, _ = o.propose(line_id, 1_000_000)
    (p1, a1), (p2, a2) = o.parts(drawdown_id)[1:]
    dl = o.now() + 3_600
    chain_id = o.w3.eth.chain_id
    cases = {
        "another drawdown": o.sign("p1", other_id, p1, a1, dl),
        "another amount": o.sign("p1", drawdown_id, p1, a1 - 1, dl),
        "another deadline": o.sign("p1", drawdown_id, p1, a1, dl + 1),
        "another partner id": o.sign("p1", drawdown_id, p2, a1, dl),
        "another chain id": o.sign("p1", drawdown_id, p1, a1, dl, chain_id=chain_id + 1),
        "another contract": o.sign("p1", drawdown_id, p1, a1, dl, contract=o.catalog.address),
        "another domain name": o.sign("p1", drawdown_id, p1, a1, dl, name="coledger"),
        "another version": o.sign("p1", drawdown_id, p1, a1, dl, version="2"),
        "signed by a non-partner": o.sign("outsider", drawdown_id, p1, a1, dl),
        "signed by the other partner": o.sign("p2", drawdown_id, p1, a1, dl),
        "signed by the lead": o.sign("lead", drawdown_id, p1, a1, dl),
        "malformed (64 bytes)": o.sign("p1", drawdown_id, p1, a1, dl)[:64],
    }
    for label, signature in cases.items():
        try:
            bad_commitment(o, drawdown_id, 0, signature, dl)
        except AssertionError as exc:
            raise AssertionError(f"case {label!r}: {exc}") from exc
    # Partners' signatures swapped between slots: each recovers a key that is not that slot's.
    bad_commitment(o, drawdown_id, 1, o.sign("p1", drawdown_id, p1, a1, dl), dl)
    assert a2 > 0


def test_expired_commitment_reverts_with_CreditLinesCommitmentExpired(o: Origination) -> None:
    line_id, _ = o.open_line()
    drawdown_id, _ = o.propose(line_id, 700_000)
    stale = o.now() - 1
    deadlines, sigs = o.signatures(drawdown_id)
    pid, amount = o.parts(drawdown_id)[2]
    deadlines[1] = stale
    sigs[1] = o.sign("p2", drawdown_id, pid, amount, stale)
    o.rejects("lead", o.lines, "disburse", [drawdown_id, deadlines, sigs], "CreditLinesCommitmentExpired",
              partnerId=pid, deadline=stale)


def test_replayed_signatures_revert_with_CreditLinesDrawdownNotPending(o: Origination) -> None:
    line_id, borrower = o.open_line()
    drawdown_id, _ = o.propose(line_id, 800_000)
    deadlines, sigs = o.signatures(drawdown_id)
    o.send("lead", o.lines, "disburse", drawdown_id, deadlines, sigs)
    o.rejects("lead", o.lines, "disburse", [drawdown_id, deadlines, sigs], "CreditLinesDrawdownNotPending",
              id=drawdown_id)
    o.rejects("p1", o.lines, "commit", [drawdown_id], "CreditLinesDrawdownNotPending", id=drawdown_id)
    assert o.lines.functions.borrowerExposure(borrower).call() == 800_000
    assert o.lines.functions.line(line_id).call()[4] == 800_000


def test_signature_of_rotated_away_key_is_refused(
    chain: Any, make_account: Callable[..., LocalAccount]
) -> None:
    r = deploy_origination(chain, make_account, "rotation")
    line_id, _ = r.open_line()
    drawdown_id, _ = r.propose(line_id, 1_000_000)
    dl = r.now() + 3_600
    (p1, a1) = r.parts(drawdown_id)[1]
    old_signature = r.sign("p1", drawdown_id, p1, a1, dl)
    new_key: LocalAccount = Account.create()
    r.consortium.propose_rotate_key(p1, new_key.address)
    bad_commitment(r, drawdown_id, 0, old_signature, dl)
    assert r.recovered(drawdown_id, p1, a1, dl, old_signature) == r.accounts["p1"].address
    deadlines, sigs = r.signatures(drawdown_id, dl)
    sigs[0] = r.sign(new_key, drawdown_id, p1, a1, dl)
    r.send("lead", r.lines, "disburse", drawdown_id, deadlines, sigs)
    disbursed(r, drawdown_id)


def test_partner_that_lost_its_role_cannot_commit(o: Origination) -> None:
    line_id, _ = o.open_line()
    drawdown_id, _ = o.propose(line_id, 600_000)
    deadlines, sigs = o.signatures(drawdown_id)
    p2 = o.ids["p2"]
    o.consortium.propose_revoke_role(p2, Role.PARTNER)
    try:
        o.rejects("p2", o.lines, "commit", [drawdown_id], "CreditLinesNotAPartner", id=drawdown_id,
                  caller=o.accounts["p2"].address)
        o.rejects("lead", o.lines, "disburse", [drawdown_id, deadlines, sigs], "CreditLinesBadCommitment",
                  id=drawdown_id, partnerId=p2, recovered=o.accounts["p2"].address)
    finally:
        o.consortium.propose_grant_role(p2, Role.PARTNER)
    o.send("lead", o.lines, "disburse", drawdown_id, deadlines, sigs)


# ------------------------------------------------------------------------------ expiry and re-checks


def test_expired_drawdown_reverts_with_CreditLinesDrawdownExpired(
    o: Origination, parameter: Callable[[str, int], None]
) -> None:
    parameter(P_LIFETIME, 30)
    line_id, _ = o.open_line()
    drawdown_id, receipt = o.propose(line_id, 900_000)
    deadline = o.w3.eth.get_block(receipt["blockNumber"])["timestamp"] + 30
    assert o.lines.functions.drawdown(drawdown_id).call()[4] == deadline
    deadlines, sigs = o.signatures(drawdown_id, deadline + 3_600)
    o.advance_past(deadline)
    o.rejects("p1", o.lines, "commit", [drawdown_id], "CreditLinesDrawdownExpired", id=drawdown_id,
              deadline=deadline)
    o.rejects("lead", o.lines, "disburse", [drawdown_id, deadlines, sigs], "CreditLinesDrawdownExpired",
              id=drawdown_id, deadline=deadline)


def test_limits_are_checked_again_at_disbursement(o: Origination, parameter: Callable[[str, int], None]) -> None:
    line_id, borrower = o.open_line(1_000_000)
    first, _ = o.propose(line_id, 700_000)
    second, _ = o.propose(line_id, 600_000)  # each fits the line alone, not both
    o.send("lead", o.lines, "disburse", first, *o.signatures(first))
    o.rejects("lead", o.lines, "disburse", [second, *o.signatures(second)], "CreditLinesDrawExceedsLimit",
              amount=600_000, remaining=300_000)

    other_line, _ = o.open_line(5_000_000, borrower=borrower)
    third, _ = o.propose(other_line, 600_000)
    parameter(P_EXPOSURE_CAP, 1_000_000)
    o.rejects("lead", o.lines, "disburse", [third, *o.signatures(third)], "CreditLinesExposureCapExceeded",
              borrower=borrower, exposure=700_000, amount=600_000, cap=1_000_000)

    o.send("lead", o.lines, "closeLine", other_line)
    o.rejects("lead", o.lines, "disburse", [third, *o.signatures(third)], "CreditLinesLineClosed",
              lineId=other_line)
    assert o.lines.functions.borrowerExposure(borrower).call() == 700_000


# ------------------------------------------------------------------------------ release


def test_release_principal_by_ledger_frees_line_and_exposure(o: Origination) -> None:
    line_id, borrower = o.open_line(1_000_000)
    drawdown_id, _ = o.propose(line_id, 1_000_000)
    o.send("lead", o.lines, "disburse", drawdown_id, *o.signatures(drawdown_id))
    o.rejects("lead", o.lines, "proposeDrawdown", [line_id, 1, 5], "CreditLinesDrawExceedsLimit",
              amount=1, remaining=0)
    receipt = o.send("governor", o.ledger, "releasePrincipal", o.lines.address, line_id, borrower, 400_000)
    assert events(o.lines, receipt) == [("PrincipalReleased", {
        "lineId": line_id, "borrower": borrower, "amount": 400_000, "used": 600_000, "exposure": 600_000})]
    assert o.lines.functions.line(line_id).call()[4] == 600_000
    assert o.lines.functions.borrowerExposure(borrower).call() == 600_000
    o.propose(line_id, 400_000, 5)  # the freed limit can be drawn again

    o.rejects("governor", o.ledger, "releasePrincipal", [o.lines.address, line_id, borrower, 600_001],
              "CreditLinesReleaseExceedsUsage", lineId=line_id, amount=600_001, used=600_000)
    wrong = o.new_borrower()
    o.rejects("governor", o.ledger, "releasePrincipal", [o.lines.address, line_id, wrong, 1],
              "CreditLinesBorrowerMismatch", lineId=line_id, borrower=wrong, expected=borrower)
    unknown = o.lines.functions.lineCount().call() + 1
    o.rejects("governor", o.ledger, "releasePrincipal", [o.lines.address, unknown, borrower, 1],
              "CreditLinesUnknownLine", lineId=unknown)


@pytest.mark.parametrize("who", ["lead", "governor", "outsider"])
def test_release_principal_by_others_reverts_with_CreditLinesNotLedger(o: Origination, who: str) -> None:
    line_id, borrower = o.open_line()
    o.rejects(who, o.lines, "releasePrincipal", [line_id, borrower, 1], "CreditLinesNotLedger",
              caller=o.accounts[who].address)


def test_views_name_their_collaborators(o: Origination) -> None:
    assert o.lines.functions.consortium().call() == o.consortium.address
    assert o.lines.functions.catalog().call() == o.catalog.address
    assert o.lines.functions.loanLedger().call() == o.ledger.address
    assert o.catalog.functions.consortium().call() == o.consortium.address
    assert o.catalog.functions.MAX_PARTNERS().call() == 8
