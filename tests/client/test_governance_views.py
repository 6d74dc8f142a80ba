"""Named parameters and decoded proposals through the SDK, on the session chain (embedded, anvil).

One Consortium per module: two governors (threshold 2, so a proposal stays open until the second
approves), three more members, five genesis validators, and the lending contracts (CreditLines
reports the exposure cap in force). Every proposal kind is decoded twice: purely, from encoded
arguments and a hand-made `Context`; and from the chain, where names, approvals and old values
come from the contracts.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account

from client.consortium import ActionKind, ConsortiumClient, MemberInfo, Role, roles_mask
from client.contracts import deploy
from client.lending import LendingClient
from client.parameter_view import parameter_rows
from client.parameters import UnknownParameterError, lookup
from client.products import weloan_terms
from client.proposal_view import Context, decode_action, describe_proposal
from client.suite import deploy_lending


@dataclass
class World:
    chain: Any
    gov1: ConsortiumClient
    gov2: ConsortiumClient
    contracts: dict[str, str]
    validator_keys: list[bytes]
    partner_c: str


@pytest.fixture(scope="module")
def world(chain: Any, make_account: Any) -> World:
    g1, g2 = make_account("views-gov1"), make_account("views-gov2")
    partner_c = Account.create().address
    charter = [("Lead Bank", g1.address, roles_mask([Role.GOVERNOR, Role.LEAD_BANK])),
               ("Partner Bank A", g2.address, roles_mask([Role.GOVERNOR, Role.PARTNER])),
               ("Partner Bank B", Account.create().address, roles_mask([Role.PARTNER])),
               ("Partner Bank C", partner_c, roles_mask([Role.PARTNER])),
               ("Auditor", Account.create().address, roles_mask([Role.AUDITOR]))]
    keys = [os.urandom(32) for _ in range(5)]
    genesis = [(i + 1, k, 10, os.urandom(20)) for i, k in enumerate(keys)]
    p1 = chain.pipeline(g1)
    address = deploy(p1, "Consortium", charter, 2, 3600, genesis)
    lending, _ = deploy_lending(p1, address)
    contracts = {"Consortium": address, **lending.as_dict()}
    return World(chain, ConsortiumClient(chain.w3, address, p1),
                 ConsortiumClient(chain.w3, address, chain.pipeline(g2)), contracts, keys, partner_c)


def _count(c: ConsortiumClient) -> int:
    return int(c.contract.functions.proposalCount().call())


def test_an_unknown_parameter_is_refused_before_anything_is_signed(world: World) -> None:
    c = world.gov1
    before = (_count(c), c.w3.eth.get_transaction_count(c.pipeline.address, "pending"))  # type: ignore[union-attr]
    with pytest.raises(UnknownParameterError, match="did you mean lending.borrowerExposureCap"):
        c.propose_set_parameter("exposure.cap.fen", 30_000_000)
    after = (_count(c), c.w3.eth.get_transaction_count(c.pipeline.address, "pending"))  # type: ignore[union-attr]
    assert after == before


def test_parameters_show_the_default_then_the_value_an_approved_proposal_set(world: World) -> None:
    rows = {r.parameter.name: r for r in parameter_rows(world.gov1, world.contracts)}
    cap = rows["lending.borrowerExposureCap"]
    assert (cap.value, cap.in_force) == (0, 30_000_000)
    assert cap.in_force_text == "30,000,000 fen (300,000.00 RMB), the default"
    assert rows["lending.product.maxRateBp"].in_force is None
    assert "may not define products alone" in rows["lending.product.maxRateBp"].in_force_text
    assert rows["lending.drawdownLifetime"].in_force_text == "86,400 s (1 day), the default"

    opened = world.gov1.propose_set_parameter("lending.borrowerExposureCap", 20_000_001)
    assert not opened.executed
    view = describe_proposal(world.gov1, opened.proposal_id, world.contracts)
    assert view.action["parameter"] == "lending.borrowerExposureCap"
    assert (view.action["old"], view.action["new"]) == (0, 20_000_001)
    assert view.action["new_text"] == "20,000,001 fen (200,000.01 RMB)"
    assert view.approved_by == [(1, "Lead Bank")] and view.status.startswith("open: needs 1 more approval")

    assert world.gov2.approve(opened.proposal_id).executed
    rows = {r.parameter.name: r for r in parameter_rows(world.gov1, world.contracts)}
    cap = rows["lending.borrowerExposureCap"]
    assert (cap.value, cap.in_force, cap.in_force_text) == (20_000_001, 20_000_001, "20,000,001 fen (200,000.01 RMB)")
    assert cap.as_json()["set"] is True

    again = world.gov1.propose_set_parameter("lending.borrowerExposureCap", 25_000_000)
    world.gov2.approve(again.proposal_id)
    done = describe_proposal(world.gov1, again.proposal_id, world.contracts)
    assert done.status == "executed" and done.executed_block is not None
    assert (done.action["old"], done.action["new"]) == (20_000_001, 25_000_000)  # old from the event
    assert [n for _, n in done.approved_by] == ["Lead Bank", "Partner Bank A"]
    assert done.as_json()["executed_time_iso"].endswith("Z")


def test_each_proposal_kind_the_chain_holds_is_decoded_with_names(world: World) -> None:
    g = world.gov1
    newcomer = Account.create().address
    lending = LendingClient(world.chain.w3, _addresses(world))
    cases = [
        (g.propose_add_member("Partner Bank D", newcomer, [Role.PARTNER]),
         "add member 'Partner Bank D' with partner", {"roles": ["partner"], "key": newcomer}),
        (g.propose_remove_member(5), "remove member #5 Auditor", {"member": "Auditor"}),
        (g.propose_grant_role(3, Role.ARBITRATOR), "grant arbitrator to #3 Partner Bank B", {"role": "arbitrator"}),
        (g.propose_revoke_role(4, Role.PARTNER), "revoke partner from #4 Partner Bank C", {"member_id": 4}),
        (g.propose_rotate_key(4, newcomer), "rotate the key of #4 Partner Bank C",
         {"old_key": world.partner_c, "new_key": newcomer}),
        (g.propose_set_threshold(1), "set the approval threshold 2 -> 1", {"old": 2, "new": 1}),
        (g.propose(ActionKind.SET_VALIDATOR_POWER, encode(["bytes32", "uint64"], [world.validator_keys[1], 12])),
         "set the power of validator", {"member_id": 2, "old": 10, "new": 12}),
        (g.propose(ActionKind.REMOVE_VALIDATOR, encode(["bytes32"], [world.validator_keys[2]])),
         "remove validator", {"member_id": 3, "power": 10}),
        (g.propose_call(world.contracts["ProductCatalog"], lending.define_product_call(weloan_terms(1, [2, 3]))),
         "call ProductCatalog.defineProduct", {"function": "defineProduct"}),
    ]
    for outcome, summary, fields in cases:
        view = describe_proposal(g, outcome.proposal_id, world.contracts)
        assert view.summary.startswith(summary), view.summary
        for key, value in fields.items():
            assert view.action[key] == value, (summary, key, view.action)
        assert view.proposer == (1, "Lead Bank") and "open" in view.status
        text = "\n".join(view.lines())
        assert "#1 Lead Bank" in text and "Z (" in text
    # executed: old values come from the execution's events (the state has moved on)
    rotate, power, removal = (cases[i][0].proposal_id for i in (4, 6, 7))
    for pid in (rotate, power, removal):
        assert world.gov2.approve(pid).executed
    rotated = describe_proposal(g, rotate, world.contracts)
    assert (rotated.status, rotated.executed) == ("executed", True)
    assert (rotated.action["old_key"], rotated.action["new_key"]) == (world.partner_c, newcomer)
    powered = describe_proposal(g, power, world.contracts)
    assert (powered.action["old"], powered.action["new"], powered.action["member_id"]) == (None, 12, 2)
    removed = describe_proposal(g, removal, world.contracts)
    assert removed.action["member_id"] == 3 and "#3 Partner Bank B" in removed.summary

    call = describe_proposal(g, cases[-1][0].proposal_id, world.contracts)
    args = {a["name"]: a["text"] for a in call.action["args"]}
    assert args["terms.singleDrawCap"] == "4,000,000 fen (40,000.00 RMB)"
    assert args["terms.partnerIds"] == "#2 Partner Bank A, #3 Partner Bank B"
    assert args["terms.leadShareBp"] == "2,000 bp (20%)"
    assert args["terms.installmentCountsMask"] == "5, 10, 20 installments"


def _addresses(world: World) -> Any:
    from client.suite import LendingAddresses

    c = world.contracts
    return LendingAddresses(c["ProductCatalog"], c["LoanLedger"], c["CreditLines"])


# ------------------------------------------------------------------------------ pure decoding

_LEAD = MemberInfo(1, "Lead Bank", "0x" + "11" * 20, frozenset({Role.GOVERNOR, Role.LEAD_BANK}), True)
_PARTNER = MemberInfo(2, "Partner Bank A", "0x" + "22" * 20, frozenset({Role.GOVERNOR, Role.PARTNER}), True)


def _ctx(**kw: Any) -> Context:
    from eth_utils import to_checksum_address

    members = {m.member_id: MemberInfo(m.member_id, m.name, to_checksum_address(m.key), m.roles, True)
               for m in (_LEAD, _PARTNER)}
    return Context(members=members, threshold=2, **kw)


def test_every_kind_decodes_from_its_encoded_arguments_alone() -> None:
    key = bytes(range(32))
    b64 = base64.b64encode(key).decode()
    cap = lookup("lending.borrowerExposureCap")
    cases: dict[ActionKind, tuple[list[str], list[Any], str]] = {
        ActionKind.ADD_MEMBER: (["string", "address", "uint256"], ["Bank C", "0x" + "33" * 20, 2],
                                "add member 'Bank C' with partner"),
        ActionKind.REMOVE_MEMBER: (["uint256"], [2], "remove member #2 Partner Bank A"),
        ActionKind.GRANT_ROLE: (["uint256", "uint8"], [2, 3], "grant auditor to #2 Partner Bank A"),
        ActionKind.REVOKE_ROLE: (["uint256", "uint8"], [1, 0], "revoke lead-bank from #1 Lead Bank"),
        ActionKind.ROTATE_KEY: (["uint256", "address"], [9, "0x" + "44" * 20], "rotate the key of #9 (no such member)"),
        ActionKind.SET_THRESHOLD: (["uint256"], [1], "set the approval threshold 2 -> 1"),
        ActionKind.SET_PARAMETER: (["bytes32", "uint256"], [cap.key, 100_001],
                                   "set lending.borrowerExposureCap 0 (not set: "),
        ActionKind.CALL: (["address", "bytes"], ["0x" + "55" * 20, b"\x01\x02\x03\x04"], "call 0x5555"),
        ActionKind.ADD_VALIDATOR: (["uint256", "bytes32", "uint64", "bytes20", "bytes"],
                                   [2, key, 10, b"\x07" * 20, b"\x00" * 64],
                                   "add a validator of #2 Partner Bank A with power 10"),
        ActionKind.REMOVE_VALIDATOR: (["bytes32"], [key], f"remove validator {b64} (#1 Lead Bank)"),
        ActionKind.SET_VALIDATOR_POWER: (["bytes32", "uint64"], [key, 7],
                                         f"set the power of validator {b64} (#1 Lead Bank) to 7"),
    }
    assert set(cases) == set(ActionKind), "a proposal kind without a decoding test"
    for kind, (types, values, summary) in cases.items():
        ctx = _ctx(validators={key: (1, 10)})
        text, action = decode_action(kind, encode(types, values), ctx)
        assert text.startswith(summary), (kind, text)
        assert action["details"], kind
    stray = encode(["bytes32", "uint256"], [b"p".ljust(32, b"\0"), 1])
    _, unknown = decode_action(ActionKind.SET_PARAMETER, stray, _ctx())
    assert unknown["parameter"] is None and "read by no coledger contract" in unknown["details"][0][1]
    _, executed = decode_action(ActionKind.SET_PARAMETER, encode(["bytes32", "uint256"], [cap.key, 5]),
                                _ctx(executed_events={"ParameterSet": [{"oldValue": 7, "newValue": 5}]}))
    assert (executed["old"], executed["new_text"]) == (7, "5 fen (0.05 RMB)")
    text, broken = decode_action(ActionKind.SET_THRESHOLD, b"\x01", _ctx())
    assert text == "arguments do not decode" and broken["raw"] == "0x01"
