"""Consortium validator registry: genesis set, governed additions, removals and powers, refusals.

Each test deploys its own Consortium (3 governors and one partner, threshold 2) with one genesis
validator per member (power 10), from real ed25519 keys. Proofs of possession are real ed25519
signatures; the chain checks them through the coledger node's precompile at 0x…0E25. anvil has
no such precompile, so the tests that need a proof to verify are skipped there; every refusal
that the contract decides before the proof (or because of it) runs on both chains.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_abi import encode
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from client.validators import pop_message
from tests.contracts.test_consortium import Chain, Kind, Role, Setup, add_args, deploy, events, id_args, roles

POWER = 10
NEEDS_PRECOMPILE = "needs the coledger ed25519 precompile (0x…0E25), which only the coledger node has"


@dataclass
class Validator:
    """A validator's key material: its consensus key (ed25519) and its node id."""

    key: Ed25519PrivateKey
    node_id: bytes

    @classmethod
    def new(cls) -> Validator:
        node_key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(Ed25519PrivateKey.generate(), hashlib.sha256(node_key).digest()[:20])

    @property
    def pub(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass
class VSetup(Setup):
    genesis: list[Validator]
    has_precompile: bool

    def pop(self, v: Validator, member_id: int, *, chain_id: int | None = None,
            contract: str | None = None, signer: Validator | None = None) -> bytes:
        msg = pop_message(self.chain.w3.eth.chain_id if chain_id is None else chain_id,
                          contract or self.c.address, member_id, v.pub)
        return (signer or v).key.sign(msg)

    def add_args(self, member_id: int, v: Validator, power: int = POWER, proof: bytes | None = None) -> bytes:
        proof = self.pop(v, member_id) if proof is None else proof
        return encode(["uint256", "bytes32", "uint64", "bytes20", "bytes"],
                      [member_id, v.pub, power, v.node_id, proof])

    def refused(self, kind: Kind, args: bytes, error: str, *values: Any) -> None:
        """Proposing `kind(args)` reverts with `error(values)`, and fails on chain as well."""
        self.chain.rejects(self.g1, self.c.functions.propose(kind, args), error, *values)

    def current(self) -> list[tuple[Any, ...]]:
        return [tuple(v) for v in self.c.functions.validators().call()]

    def add_member(self, name: str) -> int:
        account = self.make(name)
        self.pass_(Kind.AddMember, add_args(name, account.address, roles(Role.Partner)))
        return int(self.c.functions.memberCount().call())


def _deploy(w3: Web3, make_account: Any, chain: Any, label: str, members: int = 4) -> VSetup:
    c = Chain(w3)
    g1, g2, g3, partner = (make_account(f"{label}:{n}") for n in ("g1", "g2", "g3", "partner"))
    charter = [
        ("Lead Bank", g1.address, roles(Role.Governor, Role.LeadBank, Role.Operator)),
        ("Partner A", g2.address, roles(Role.Governor, Role.Partner)),
        ("Partner B", g3.address, roles(Role.Governor, Role.Partner)),
        ("Partner C", partner.address, roles(Role.Partner)),
    ] + [(f"Partner {i}", make_account(f"{label}:m{i}").address, roles(Role.Partner))
         for i in range(5, members + 1)]
    genesis = [Validator.new() for _ in charter]
    inits = [(i + 1, v.pub, POWER, v.node_id) for i, v in enumerate(genesis)]
    contract, receipt = deploy(c, g1, charter, 2, validators=inits)
    outsider = make_account(f"{label}:outsider", admit=False)
    return VSetup(c, contract, g1, g2, g3, partner, outsider, receipt, lambda n: make_account(f"{label}:{n}"),
                  genesis, chain.kind != "anvil")


@pytest.fixture
def v(w3: Web3, make_account: Any, chain: Any, request: pytest.FixtureRequest) -> VSetup:
    return _deploy(w3, make_account, chain, request.node.name)


@pytest.fixture
def v5(w3: Web3, make_account: Any, chain: Any, request: pytest.FixtureRequest) -> VSetup:
    """Five members, five genesis validators."""
    return _deploy(w3, make_account, chain, request.node.name, members=5)


def _needs_precompile(v: VSetup) -> None:
    if not v.has_precompile:
        pytest.skip(NEEDS_PRECOMPILE)


# ------------------------------------------------------------------------------------ genesis


def test_genesis_validators_are_registered_with_GenesisValidator_events(v: VSetup) -> None:
    block = v.deploy_receipt.blockNumber
    assert v.current() == [(g.pub, i + 1, POWER, g.node_id, block) for i, g in enumerate(v.genesis)]
    assert v.c.functions.validatorCount().call() == 4
    emitted = [(n, a) for n, a in events(v.c, v.deploy_receipt) if n == "GenesisValidator"]
    assert emitted == [("GenesisValidator", {"consensusKey": g.pub, "memberId": i + 1, "power": POWER,
                                             "nodeId": g.node_id}) for i, g in enumerate(v.genesis)]
    assert all(v.c.functions.isConsortiumNode(g.node_id).call() for g in v.genesis)
    assert not v.c.functions.isConsortiumNode(os.urandom(20)).call()


# ----------------------------------------------------------------------------------- changes


def test_a_fifth_validator_with_a_valid_proof_is_added_by_governance_with_ValidatorAdded(v: VSetup) -> None:
    _needs_precompile(v)
    member_id = v.add_member("Partner D")
    new = Validator.new()
    pid, _ = v.propose(v.g1, Kind.AddValidator, v.add_args(member_id, new))
    assert v.c.functions.validatorCount().call() == 4  # not before execution
    receipt = v.chain.transact(v.g2, v.c.functions.approve(pid))
    names = [(n, a) for n, a in events(v.c, receipt) if n != "ProposalApproved"]
    assert names == [
        ("ValidatorAdded", {"consensusKey": new.pub, "memberId": member_id, "power": POWER, "nodeId": new.node_id}),
        ("ProposalExecuted", {"proposalId": pid}),
    ]
    assert v.current()[-1] == (new.pub, member_id, POWER, new.node_id, receipt.blockNumber)
    assert v.c.functions.validatorCount().call() == 5
    assert v.c.functions.isConsortiumNode(new.node_id).call()


def test_a_validator_is_removed_by_governance_with_ValidatorRemoved(v5: VSetup) -> None:
    gone = v5.genesis[1]
    _, receipt = v5.pass_(Kind.RemoveValidator, encode(["bytes32"], [gone.pub]))
    assert ("ValidatorRemoved", {"consensusKey": gone.pub, "memberId": 2}) in events(v5.c, receipt)
    assert sorted(k for k, *_ in v5.current()) == sorted(g.pub for g in v5.genesis if g is not gone)
    assert not v5.c.functions.isConsortiumNode(gone.node_id).call()


def test_a_validator_power_changes_by_governance_with_ValidatorPowerChanged(v5: VSetup) -> None:
    key = v5.genesis[0].pub
    _, receipt = v5.pass_(Kind.SetValidatorPower, encode(["bytes32", "uint64"], [key, 12]))
    assert ("ValidatorPowerChanged", {"consensusKey": key, "memberId": 1, "power": 12}) in events(v5.c, receipt)
    assert v5.current()[0][2] == 12


def test_removing_a_member_removes_its_validators_in_the_same_step(v5: VSetup) -> None:
    gone = v5.genesis[2]
    _, receipt = v5.pass_(Kind.RemoveMember, id_args(3))
    names = [n for n, _ in events(v5.c, receipt) if n != "ProposalApproved"]
    assert names == ["ValidatorRemoved", "MemberRemoved", "ProposalExecuted"]
    assert events(v5.c, receipt)[1] == ("ValidatorRemoved", {"consensusKey": gone.pub, "memberId": 3})
    assert v5.c.functions.validatorCount().call() == 4
    assert 3 not in [m for _, m, *_ in v5.current()]


# ---------------------------------------------------------------------------------- refusals


def test_a_registered_key_is_refused_with_ConsortiumValidatorKeyInUse(v: VSetup) -> None:
    member_id = v.add_member("Partner D")
    taken = Validator(v.genesis[0].key, os.urandom(20))
    v.refused(Kind.AddValidator, v.add_args(member_id, taken), "ConsortiumValidatorKeyInUse", taken.pub)


def test_a_registered_node_id_is_refused_with_ConsortiumNodeIdInUse(v: VSetup) -> None:
    member_id = v.add_member("Partner D")
    new = Validator(Ed25519PrivateKey.generate(), v.genesis[3].node_id)
    v.refused(Kind.AddValidator, v.add_args(member_id, new), "ConsortiumNodeIdInUse", new.node_id)


def test_the_zero_key_is_refused_with_ConsortiumZeroValidatorKey(v: VSetup) -> None:
    member_id = v.add_member("Partner D")
    args = encode(["uint256", "bytes32", "uint64", "bytes20", "bytes"],
                  [member_id, b"\0" * 32, POWER, os.urandom(20), b"\0" * 64])
    v.refused(Kind.AddValidator, args, "ConsortiumZeroValidatorKey")


@pytest.mark.parametrize("case", ["signed by another key", "for another member", "for another chain",
                                  "for another Consortium", "63 bytes", "empty"])
def test_a_bad_proof_of_possession_is_refused_with_ConsortiumInvalidProofOfPossession(v: VSetup, case: str) -> None:
    member_id = v.add_member("Partner D")
    new = Validator.new()
    proof = {
        "signed by another key": lambda: v.pop(new, member_id, signer=Validator.new()),
        "for another member": lambda: v.pop(new, member_id - 1),
        "for another chain": lambda: v.pop(new, member_id, chain_id=v.chain.w3.eth.chain_id + 1),
        "for another Consortium": lambda: v.pop(new, member_id, contract=v.g1.address),
        "63 bytes": lambda: v.pop(new, member_id)[:63],
        "empty": lambda: b"",
    }[case]()
    v.refused(Kind.AddValidator, v.add_args(member_id, new, proof=proof),
              "ConsortiumInvalidProofOfPossession", new.pub)


def test_a_removal_below_four_validators_is_refused_with_ConsortiumTooFewValidators(v: VSetup) -> None:
    v.refused(Kind.RemoveValidator, encode(["bytes32"], [v.genesis[0].pub]), "ConsortiumTooFewValidators", 3)


def test_a_member_removal_below_four_validators_is_refused_with_ConsortiumTooFewValidators(v: VSetup) -> None:
    v.refused(Kind.RemoveMember, id_args(4), "ConsortiumTooFewValidators", 3)
    assert v.c.functions.validatorCount().call() == 4


def test_a_member_without_validators_can_still_be_removed(v: VSetup) -> None:
    member_id = v.add_member("Partner D")
    v.pass_(Kind.RemoveMember, id_args(member_id))
    assert v.c.functions.validatorCount().call() == 4


def test_a_second_validator_of_one_member_is_refused_with_ConsortiumPowerConcentration(v: VSetup) -> None:
    v.refused(Kind.AddValidator, v.add_args(1, Validator.new()), "ConsortiumPowerConcentration", 1, 20, 50)


def test_a_power_raise_to_a_third_is_refused_with_ConsortiumPowerConcentration(v: VSetup) -> None:
    key = v.genesis[1].pub
    v.refused(Kind.SetValidatorPower, encode(["bytes32", "uint64"], [key, 15]),
              "ConsortiumPowerConcentration", 2, 15, 45)


def test_a_validator_of_an_inactive_or_unknown_member_is_refused(v: VSetup) -> None:
    member_id = v.add_member("Partner D")
    v.pass_(Kind.RemoveMember, id_args(member_id))
    v.refused(Kind.AddValidator, v.add_args(member_id, Validator.new()), "ConsortiumMemberInactive", member_id)
    v.refused(Kind.AddValidator, v.add_args(99, Validator.new()), "ConsortiumUnknownMember", 99)


@pytest.mark.parametrize("power", [0, 2**32 + 1])
def test_a_power_outside_1_to_2_32_is_refused_with_ConsortiumInvalidPower(v: VSetup, power: int) -> None:
    member_id = v.add_member("Partner D")
    v.refused(Kind.AddValidator, v.add_args(member_id, Validator.new(), power=power), "ConsortiumInvalidPower", power)
    v.refused(Kind.SetValidatorPower, encode(["bytes32", "uint64"], [v.genesis[0].pub, power]),
              "ConsortiumInvalidPower", power)


def test_an_unknown_key_is_refused_with_ConsortiumUnknownValidator(v5: VSetup) -> None:
    key = Validator.new().pub
    v5.refused(Kind.RemoveValidator, encode(["bytes32"], [key]), "ConsortiumUnknownValidator", key)
    v5.refused(Kind.SetValidatorPower, encode(["bytes32", "uint64"], [key, 5]), "ConsortiumUnknownValidator", key)


def test_malformed_validator_arguments_are_refused_with_ConsortiumMalformedArgs(v: VSetup) -> None:
    v.refused(Kind.RemoveValidator, b"\0" * 31, "ConsortiumMalformedArgs", Kind.RemoveValidator, 31)
    v.refused(Kind.SetValidatorPower, b"\0" * 32, "ConsortiumMalformedArgs", Kind.SetValidatorPower, 32)
    v.refused(Kind.AddValidator, b"\0" * 160, "ConsortiumMalformedArgs", Kind.AddValidator, 160)


# ------------------------------------------------------------------- concentration, modelled


def _model(powers: dict[int, int], member_ids: int) -> tuple[int, int, int] | None:
    """The refusal the 1/3 rule gives for members' powers after a change, or None: the largest
    holder (lowest id on a tie) with its power and the total."""
    total = sum(powers.values())
    top, top_power = 0, 0
    for member_id in range(1, member_ids + 1):
        if powers.get(member_id, 0) > top_power:
            top, top_power = member_id, powers[member_id]
    return (top, top_power, total) if top_power * 3 >= total else None


_sets = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 40)), min_size=4, max_size=7)
_ops = st.one_of(
    st.tuples(st.just("power"), st.integers(0, 6), st.integers(1, 60)),
    st.tuples(st.just("remove"), st.integers(0, 6), st.just(0)),
    st.tuples(st.just("add"), st.integers(1, 5), st.integers(1, 60)),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(genesis=_sets, op=_ops)
def test_the_power_concentration_rule_matches_a_python_model(
        w3: Web3, make_account: Any, chain: Any, genesis: list[tuple[int, int]],
        op: tuple[str, int, int]) -> None:
    c = Chain(w3)
    g1 = make_account(f"prop:{os.urandom(6).hex()}")
    charter = [("m1", g1.address, roles(Role.Governor, Role.Operator))]
    charter += [(f"m{i}", Account.create().address, roles(Role.Partner)) for i in range(2, 6)]
    keys = [Validator.new() for _ in genesis]
    contract, _ = deploy(c, g1, charter, 1, validators=[
        (m, k.pub, p, k.node_id) for (m, p), k in zip(genesis, keys, strict=True)])
    powers: dict[int, int] = {}
    for m, p in genesis:
        powers[m] = powers.get(m, 0) + p
    kind, index, power = op
    expected: tuple[Any, ...] | None
    if kind == "add":
        new = Validator.new()
        member_id = index
        proof = new.key.sign(pop_message(w3.eth.chain_id, contract.address, member_id, new.pub))
        args = encode(["uint256", "bytes32", "uint64", "bytes20", "bytes"],
                      [member_id, new.pub, power, new.node_id, proof])
        powers[member_id] = powers.get(member_id, 0) + power
        refusal = _model(powers, 5)
        expected = ("ConsortiumPowerConcentration", *refusal) if refusal else None
        if expected is None and chain.kind == "anvil":
            expected = ("ConsortiumInvalidProofOfPossession", new.pub)
        call = contract.functions.propose(Kind.AddValidator, args)
    else:
        index %= len(genesis)
        member_id, old = genesis[index]
        new_power = power if kind == "power" else 0
        powers[member_id] += new_power - old
        if kind == "remove" and len(genesis) - 1 < 4:
            expected = ("ConsortiumTooFewValidators", len(genesis) - 1)
        else:
            refusal = _model(powers, 5)
            expected = ("ConsortiumPowerConcentration", *refusal) if refusal else None
        call = contract.functions.propose(
            Kind.SetValidatorPower if kind == "power" else Kind.RemoveValidator,
            encode(["bytes32", "uint64"], [keys[index].pub, power]) if kind == "power"
            else encode(["bytes32"], [keys[index].pub]))
    if expected is None:
        call.call({"from": g1.address})  # accepted: the proposal would be created
    else:
        name, *values = expected
        assert c.error_of_call(g1.address, call) == (name, tuple(values))
