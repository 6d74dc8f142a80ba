"""Consortium: membership, roles, keys, M-of-N governance and the node-admission rule.

Every test deploys its own Consortium (3 governors, threshold 2, one plain partner) and talks to
it only with locally signed raw transactions. Reverts are asserted by custom-error name and
arguments, decoded by selector from the ABI; for members the same transaction is also sent and
must fail on chain without changing anything. Callers that are not members at all are checked
with `eth_call` only, since node admission rejects their transactions before the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.types import RPCEndpoint

from client.artifacts import load_artifact

ZERO = "0x0000000000000000000000000000000000000000"
LIFETIME = 3600
GAS = 10_000_000  # a Consortium with its validator registry deploys ~17 KB of code


class Role(IntEnum):
    LeadBank = 0
    Partner = 1
    Arbitrator = 2
    Auditor = 3
    Governor = 4
    Operator = 5
    Gateway = 6


class Kind(IntEnum):
    AddMember = 0
    RemoveMember = 1
    GrantRole = 2
    RevokeRole = 3
    RotateKey = 4
    SetThreshold = 5
    SetParameter = 6
    Call = 7
    AddValidator = 8
    RemoveValidator = 9
    SetValidatorPower = 10


def roles(*rs: Role) -> int:
    return sum(1 << r for r in set(rs))


ARTIFACT = load_artifact("Consortium")
_TYPES = {
    entry["name"]: [i["type"] if i["type"] != "tuple" else "tuple" for i in entry["inputs"]]
    for entry in ARTIFACT.abi
    if entry["type"] == "error"
}
ERRORS = {keccak(text=f"{n}({','.join(t)})")[:4]: (n, t) for n, t in _TYPES.items()}


def decode_error(data: object) -> tuple[str, tuple[Any, ...]]:
    assert isinstance(data, str), f"revert data is not hex: {data!r}"
    raw = bytes.fromhex(data.removeprefix("0x"))
    name, types = ERRORS[raw[:4]]
    values = tuple(
        to_checksum_address(v) if t == "address" else v
        for t, v in zip(types, decode(types, raw[4:]), strict=True)
    )
    return name, values


# ------------------------------------------------------------------------------------------ chain


@dataclass
class Chain:
    w3: Web3

    def send(self, account: LocalAccount, tx: dict[str, Any]) -> Any:
        tx = {
            **{k: v for k, v in tx.items() if k not in ("maxFeePerGas", "maxPriorityFeePerGas")},
            "from": account.address,
            "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
            "gas": GAS,
            "gasPrice": self.w3.eth.gas_price,
            "chainId": self.w3.eth.chain_id,
        }
        signed = account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    def transact(self, account: LocalAccount, fn: Any) -> Any:
        receipt = self.send(account, fn.build_transaction({"from": account.address, "gas": GAS}))
        if receipt.status != 1:
            pytest.fail(f"transaction reverted: {self.error_of_call(account.address, fn)}")
        return receipt

    def error_of_call(self, sender: str, fn: Any) -> tuple[str, tuple[Any, ...]]:
        with pytest.raises(ContractCustomError) as info:
            fn.call({"from": sender})
        return decode_error(info.value.data)

    def rejects(self, account: LocalAccount, fn: Any, error: str, *args: Any) -> None:
        """`fn` from `account` reverts with `error(args)` and a sent transaction fails on chain."""
        assert self.error_of_call(account.address, fn) == (error, args)
        tx = fn.build_transaction({"from": account.address, "gas": GAS})
        assert self.send(account, tx).status == 0

    def advance_past(self, timestamp: int) -> None:
        """`evm_increaseTime` + `evm_mine` until the latest block is later than `timestamp`.

        One round is enough on anvil; the embedded node adds the increase to wall-clock time, so
        when its blocks already run ahead of the wall clock it needs a second round.
        """
        for _ in range(5):
            if self.now() > timestamp:
                return
            response = self.w3.provider.make_request(
                RPCEndpoint("evm_increaseTime"), [timestamp - self.now() + 1])
            if "error" in response:  # a consortium network: block time is CometBFT's BFT time
                pytest.skip(f"needs time travel: {response['error'].get('message')}")
            self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        raise AssertionError(f"chain time stuck at {self.now()}, wanted > {timestamp}")

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])


def events(contract: Contract, receipt: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every event of `contract` in `receipt`, in log order, as (name, args)."""
    by_topic = {
        keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"): e["name"]
        for e in contract.abi
        if e["type"] == "event"
    }
    out = []
    for log in receipt.logs:
        if log.address != contract.address:
            continue
        name = by_topic[bytes(log.topics[0])]
        out.append((name, dict(contract.events[name]().process_log(log).args)))
    return out


@dataclass
class Setup:
    chain: Chain
    c: Contract
    g1: LocalAccount
    g2: LocalAccount
    g3: LocalAccount
    partner: LocalAccount
    outsider: LocalAccount
    deploy_receipt: Any
    make: Any

    def propose(self, who: LocalAccount, kind: Kind, args: bytes) -> tuple[int, Any]:
        receipt = self.chain.transact(who, self.c.functions.propose(kind, args))
        created = [a for n, a in events(self.c, receipt) if n == "ProposalCreated"]
        return created[0]["proposalId"], receipt

    def pass_(self, kind: Kind, args: bytes) -> tuple[int, Any]:
        """Propose (g1) and approve (g2): executed at threshold 2; returns the approve receipt."""
        pid, _ = self.propose(self.g1, kind, args)
        return pid, self.chain.transact(self.g2, self.c.functions.approve(pid))


def deploy(
    chain: Chain,
    deployer: LocalAccount,
    charter: list[tuple[str, str, int]],
    threshold: int,
    lifetime: int = LIFETIME,
    validators: list[Any] | None = None,
) -> tuple[Contract, Any]:
    factory = chain.w3.eth.contract(abi=ARTIFACT.abi, bytecode=ARTIFACT.bytecode)
    tx = factory.constructor(charter, threshold, lifetime, validators or []).build_transaction(
        {"from": deployer.address, "gas": GAS}
    )
    receipt = chain.send(deployer, tx)
    assert receipt.status == 1
    return chain.w3.eth.contract(address=receipt.contractAddress, abi=ARTIFACT.abi), receipt


def deploy_error(
    chain: Chain,
    deployer: LocalAccount,
    charter: list[Any],
    threshold: int,
    lifetime: int = LIFETIME,
    validators: list[Any] | None = None,
) -> tuple[str, tuple[Any, ...]]:
    factory = chain.w3.eth.contract(abi=ARTIFACT.abi, bytecode=ARTIFACT.bytecode)
    tx = factory.constructor(charter, threshold, lifetime, validators or []).build_transaction(
        {"from": deployer.address, "gas": GAS}
    )
    with pytest.raises(ContractCustomError) as info:
        chain.w3.eth.call({"from": deployer.address, "data": tx["data"]})
    return decode_error(info.value.data)


@pytest.fixture
def s(w3: Web3, make_account: Any, request: pytest.FixtureRequest) -> Setup:
    chain = Chain(w3)
    label = request.node.name
    g1, g2, g3, partner = (make_account(f"{label}:{n}") for n in ("g1", "g2", "g3", "partner"))
    outsider = make_account(f"{label}:outsider", admit=False)
    charter = [
        ("Lead Bank", g1.address, roles(Role.Governor, Role.LeadBank, Role.Operator)),
        ("Partner A", g2.address, roles(Role.Governor, Role.Partner)),
        ("Partner B", g3.address, roles(Role.Governor, Role.Partner, Role.Auditor)),
        ("Partner C", partner.address, roles(Role.Partner)),
    ]
    c, receipt = deploy(chain, g1, charter, 2)
    return Setup(chain, c, g1, g2, g3, partner, outsider, receipt, lambda n: make_account(f"{label}:{n}"))


def member(s: Setup, member_id: int) -> tuple[str, str, int, bool]:
    return tuple(s.c.functions.member(member_id).call())


def proposal(s: Setup, pid: int) -> tuple[Any, ...]:
    return tuple(s.c.functions.proposal(pid).call())


def add_args(name: str, key: str, r: int) -> bytes:
    return encode(["string", "address", "uint256"], [name, key, r])


def id_args(member_id: int) -> bytes:
    return encode(["uint256"], [member_id])


def role_args(member_id: int, role: int) -> bytes:
    return encode(["uint256", "uint8"], [member_id, role])


def key_args(member_id: int, key: str) -> bytes:
    return encode(["uint256", "address"], [member_id, key])


def param_args(name: bytes, value: int) -> bytes:
    return encode(["bytes32", "uint256"], [name.ljust(32, b"\0"), value])


def call_args(target: str, data: bytes) -> bytes:
    return encode(["address", "bytes"], [target, data])


# ------------------------------------------------------------------------------------ constructor


def test_constructor_registers_charter_members_with_ids_from_1_in_order(s: Setup) -> None:
    c = s.c.functions
    assert c.memberCount().call() == 4
    assert c.governorCount().call() == 3
    assert c.threshold().call() == 2
    assert c.proposalLifetime().call() == LIFETIME
    assert c.proposalCount().call() == 0
    assert member(s, 1) == (
        "Lead Bank",
        s.g1.address,
        roles(Role.Governor, Role.LeadBank, Role.Operator),
        True,
    )
    assert member(s, 4) == ("Partner C", s.partner.address, roles(Role.Partner), True)
    assert [c.memberIdOf(a.address).call() for a in (s.g1, s.g2, s.g3, s.partner, s.outsider)] == [
        1,
        2,
        3,
        4,
        0,
    ]
    assert c.memberIdOf(ZERO).call() == 0
    assert c.hasRole(Role.LeadBank, s.g1.address).call()
    assert not c.hasRole(Role.LeadBank, s.g2.address).call()
    assert c.isActiveMember(s.partner.address).call()
    assert not c.isActiveMember(s.outsider.address).call()


def test_constructor_emits_MemberAdded_per_member_then_ThresholdChanged_from_0(s: Setup) -> None:
    got = events(s.c, s.deploy_receipt)
    assert [n for n, _ in got] == ["MemberAdded"] * 4 + ["ThresholdChanged"]
    assert got[1][1] == {
        "memberId": 2,
        "key": s.g2.address,
        "name": "Partner A",
        "roles": roles(Role.Governor, Role.Partner),
    }
    assert got[4][1] == {"oldThreshold": 0, "newThreshold": 2}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("threshold_zero", ("ConsortiumInvalidThreshold", (0, 2))),
        ("threshold_above_governors", ("ConsortiumInvalidThreshold", (3, 2))),
        ("lifetime_zero", ("ConsortiumInvalidLifetime", (0,))),
        ("lifetime_above_uint32", ("ConsortiumInvalidLifetime", (2**32,))),
        ("duplicate_key", ("ConsortiumKeyInUse", ("A", 1))),
        ("zero_key", ("ConsortiumZeroKey", ())),
        ("empty_name", ("ConsortiumEmptyName", ())),
        ("undefined_role_bit", ("ConsortiumInvalidRoles", (1 << 7 | 1,))),
    ],
)
def test_constructor_with_bad_charter_reverts_with_named_error(
    w3: Web3, make_account: Any, case: str, expected: tuple[str, tuple[Any, ...]]
) -> None:
    a = make_account(f"ctor:{case}:a", admit=False)
    b = make_account(f"ctor:{case}:b", admit=False)
    gov = roles(Role.Governor)
    charter = [("A", a.address, gov), ("B", b.address, gov)]
    threshold, lifetime = 1, LIFETIME
    if case == "threshold_zero":
        threshold = 0
    elif case == "threshold_above_governors":
        threshold = 3
    elif case == "lifetime_zero":
        lifetime = 0
    elif case == "lifetime_above_uint32":
        lifetime = 2**32
    elif case == "duplicate_key":
        charter[1] = ("B", a.address, gov)
    elif case == "zero_key":
        charter[1] = ("B", ZERO, gov)
    elif case == "empty_name":
        charter[1] = ("", b.address, gov)
    elif case == "undefined_role_bit":
        charter[1] = ("B", b.address, 1 << 7 | 1)
    name, args = expected
    if args and args[0] == "A":
        args = (a.address, *args[1:])
    assert deploy_error(Chain(w3), a, charter, threshold, lifetime) == (name, args)


# ------------------------------------------------------------------------------------ role checks


@pytest.mark.parametrize("function", ["propose", "approve", "execute"])
def test_non_governor_member_calling_governance_reverts_with_ConsortiumUnauthorized(
    s: Setup, function: str
) -> None:
    pid, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    fn = (
        s.c.functions.propose(Kind.SetParameter, param_args(b"p", 1))
        if function == "propose"
        else getattr(s.c.functions, function)(pid)
    )
    s.chain.rejects(s.partner, fn, "ConsortiumUnauthorized", s.partner.address, Role.Governor)
    assert s.c.functions.proposalCount().call() == 1
    assert proposal(s, pid)[3] == 1


@pytest.mark.parametrize("function", ["propose", "approve", "execute"])
def test_non_member_calling_governance_reverts_with_ConsortiumUnauthorized(s: Setup, function: str) -> None:
    pid, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    fn = (
        s.c.functions.propose(Kind.SetParameter, param_args(b"p", 1))
        if function == "propose"
        else getattr(s.c.functions, function)(pid)
    )
    assert s.chain.error_of_call(s.outsider.address, fn) == (
        "ConsortiumUnauthorized",
        (s.outsider.address, Role.Governor),
    )


def test_removed_governor_proposing_reverts_with_ConsortiumUnauthorized(s: Setup) -> None:
    s.pass_(Kind.RemoveMember, id_args(3))
    fn = s.c.functions.propose(Kind.SetParameter, param_args(b"p", 1))
    assert s.chain.error_of_call(s.g3.address, fn) == (
        "ConsortiumUnauthorized",
        (s.g3.address, Role.Governor),
    )


def test_governor_whose_governor_role_was_revoked_cannot_approve(s: Setup) -> None:
    s.pass_(Kind.RevokeRole, role_args(3, Role.Governor))
    pid, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    s.chain.rejects(s.g3, s.c.functions.approve(pid), "ConsortiumUnauthorized", s.g3.address, Role.Governor)


# ------------------------------------------------------------------------------ governance paths


def test_propose_below_threshold_records_proposal_and_proposer_approval_only(s: Setup) -> None:
    args = param_args(b"p", 1)
    pid, receipt = s.propose(s.g1, Kind.SetParameter, args)
    deadline = s.chain.w3.eth.get_block(receipt.blockNumber)["timestamp"] + LIFETIME
    assert pid == 1
    assert events(s.c, receipt) == [
        (
            "ProposalCreated",
            {
                "proposalId": 1,
                "proposerId": 1,
                "kind": Kind.SetParameter,
                "args": args,
                "deadline": deadline,
            },
        ),
        ("ProposalApproved", {"proposalId": 1, "memberId": 1, "approvals": 1}),
    ]
    assert proposal(s, 1) == (Kind.SetParameter, args, 1, 1, deadline, False)
    assert s.c.functions.hasApproved(1, 1).call()
    assert not s.c.functions.hasApproved(1, 2).call()
    assert s.c.functions.proposalCount().call() == 1
    assert s.c.functions.parameter(b"p".ljust(32, b"\0")).call() == 0
    pid2, _ = s.propose(s.g2, Kind.SetParameter, args)
    assert pid2 == 2


def test_approve_reaching_threshold_executes_and_emits_ProposalExecuted_last(s: Setup) -> None:
    pid, receipt = s.pass_(Kind.SetParameter, param_args(b"rate", 7))
    names = [n for n, _ in events(s.c, receipt)]
    assert names == ["ProposalApproved", "ParameterSet", "ProposalExecuted"]
    assert events(s.c, receipt)[0][1] == {"proposalId": pid, "memberId": 2, "approvals": 2}
    assert events(s.c, receipt)[2][1] == {"proposalId": pid}
    assert proposal(s, pid)[3] == 2 and proposal(s, pid)[5] is True


def test_propose_with_threshold_1_executes_immediately(s: Setup) -> None:
    s.pass_(Kind.SetThreshold, id_args(1))
    pid, receipt = s.propose(s.g3, Kind.SetParameter, param_args(b"x", 3))
    assert [n for n, _ in events(s.c, receipt)] == [
        "ProposalCreated",
        "ProposalApproved",
        "ParameterSet",
        "ProposalExecuted",
    ]
    assert proposal(s, pid)[5] is True


def test_add_member_executed_registers_next_id_and_emits_MemberAdded(s: Setup) -> None:
    new = s.make("new")
    r = roles(Role.Governor, Role.Arbitrator)
    pid, receipt = s.pass_(Kind.AddMember, add_args("Arbiter", new.address, r))
    assert events(s.c, receipt)[1] == (
        "MemberAdded",
        {"memberId": 5, "key": new.address, "name": "Arbiter", "roles": r},
    )
    assert member(s, 5) == ("Arbiter", new.address, r, True)
    assert s.c.functions.memberIdOf(new.address).call() == 5
    assert s.c.functions.memberCount().call() == 5
    assert s.c.functions.governorCount().call() == 4
    assert s.c.functions.hasRole(Role.Arbitrator, new.address).call()
    s.chain.transact(new, s.c.functions.propose(Kind.SetParameter, param_args(b"q", 1)))


def test_remove_member_executed_deactivates_frees_key_and_drops_roles(s: Setup) -> None:
    pid, receipt = s.pass_(Kind.RemoveMember, id_args(3))
    assert events(s.c, receipt)[1] == ("MemberRemoved", {"memberId": 3, "key": s.g3.address})
    assert member(s, 3)[3] is False
    assert member(s, 3)[1] == s.g3.address
    assert s.c.functions.memberIdOf(s.g3.address).call() == 0
    assert not s.c.functions.isActiveMember(s.g3.address).call()
    assert not any(s.c.functions.hasRole(r, s.g3.address).call() for r in Role)
    assert s.c.functions.governorCount().call() == 2
    # The freed key can join again, under a new id.
    s.pass_(Kind.AddMember, add_args("Partner B again", s.g3.address, roles(Role.Partner)))
    assert s.c.functions.memberIdOf(s.g3.address).call() == 5
    assert member(s, 3)[3] is False


def test_grant_role_executed_adds_role_and_counts_new_governor(s: Setup) -> None:
    _, receipt = s.pass_(Kind.GrantRole, role_args(4, Role.Governor))
    assert events(s.c, receipt)[1] == ("RoleGranted", {"memberId": 4, "role": Role.Governor})
    assert member(s, 4)[2] == roles(Role.Partner, Role.Governor)
    assert s.c.functions.hasRole(Role.Governor, s.partner.address).call()
    assert s.c.functions.governorCount().call() == 4


def test_revoke_role_executed_removes_role_and_uncounts_governor(s: Setup) -> None:
    _, receipt = s.pass_(Kind.RevokeRole, role_args(1, Role.LeadBank))
    assert events(s.c, receipt)[1] == ("RoleRevoked", {"memberId": 1, "role": Role.LeadBank})
    assert not s.c.functions.hasRole(Role.LeadBank, s.g1.address).call()
    assert member(s, 1)[2] == roles(Role.Governor, Role.Operator)
    s.pass_(Kind.RevokeRole, role_args(3, Role.Governor))
    assert s.c.functions.governorCount().call() == 2


def test_set_threshold_executed_emits_ThresholdChanged_with_old_and_new(s: Setup) -> None:
    _, receipt = s.pass_(Kind.SetThreshold, id_args(3))
    assert events(s.c, receipt)[1] == ("ThresholdChanged", {"oldThreshold": 2, "newThreshold": 3})
    assert s.c.functions.threshold().call() == 3
    pid, _ = s.pass_(Kind.SetParameter, param_args(b"p", 1))
    assert proposal(s, pid)[5] is False
    s.chain.transact(s.g3, s.c.functions.approve(pid))
    assert proposal(s, pid)[5] is True


def test_set_parameter_executed_emits_ParameterSet_with_old_and_new_values(s: Setup) -> None:
    name = b"leadShareBp".ljust(32, b"\0")
    _, receipt = s.pass_(Kind.SetParameter, param_args(b"leadShareBp", 2000))
    assert events(s.c, receipt)[1] == (
        "ParameterSet",
        {"name": name, "oldValue": 0, "newValue": 2000},
    )
    _, receipt = s.pass_(Kind.SetParameter, param_args(b"leadShareBp", 2500))
    assert events(s.c, receipt)[1] == (
        "ParameterSet",
        {"name": name, "oldValue": 2000, "newValue": 2500},
    )
    assert s.c.functions.parameter(name).call() == 2500


def _governed(s: Setup) -> Contract:
    """A second Consortium whose only governor key is `s.c` itself: a contract that trusts
    `msg.sender == consortium`, reached by governed calls."""
    target, _ = deploy(s.chain, s.g1, [("Consortium", s.c.address, roles(Role.Governor))], 1)
    return target


def test_call_executed_runs_target_as_consortium_and_emits_GovernedCallExecuted(s: Setup) -> None:
    target = _governed(s)
    data = bytes.fromhex(target.encode_abi("propose", [Kind.SetParameter, param_args(b"limit", 42)])[2:])
    pid, receipt = s.pass_(Kind.Call, call_args(target.address, data))
    assert target.functions.parameter(b"limit".ljust(32, b"\0")).call() == 42
    assert [n for n, _ in events(s.c, receipt)] == [
        "ProposalApproved",
        "GovernedCallExecuted",
        "ProposalExecuted",
    ]
    assert events(s.c, receipt)[1][1] == {"proposalId": pid, "target": target.address, "data": data}
    assert [n for n, _ in events(target, receipt)] == [
        "ProposalCreated",
        "ProposalApproved",
        "ParameterSet",
        "ProposalExecuted",
    ]


def test_call_whose_target_reverts_reverts_with_ConsortiumCallFailed_and_stays_open(
    s: Setup,
) -> None:
    target = _governed(s)
    data = bytes.fromhex(target.encode_abi("approve", [999])[2:])
    pid, _ = s.propose(s.g1, Kind.Call, call_args(target.address, data))
    reason = keccak(text="ConsortiumUnknownProposal(uint256)")[:4] + encode(["uint256"], [999])
    s.chain.rejects(s.g2, s.c.functions.approve(pid), "ConsortiumCallFailed", target.address, reason)
    assert proposal(s, pid)[3] == 1 and proposal(s, pid)[5] is False
    assert not s.c.functions.hasApproved(pid, 2).call()


def test_call_to_account_without_code_reverts_with_ConsortiumCallTargetNotContract(
    s: Setup,
) -> None:
    fn = s.c.functions.propose(Kind.Call, call_args(s.outsider.address, b"\x12\x34"))
    s.chain.rejects(s.g1, fn, "ConsortiumCallTargetNotContract", s.outsider.address)


# ---------------------------------------------------------------------------- failing proposals


def test_second_approval_by_same_member_reverts_with_ConsortiumAlreadyApproved(s: Setup) -> None:
    s.pass_(Kind.SetThreshold, id_args(3))
    pid, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    s.chain.rejects(s.g1, s.c.functions.approve(pid), "ConsortiumAlreadyApproved", pid, 1)
    s.chain.transact(s.g2, s.c.functions.approve(pid))
    s.chain.rejects(s.g2, s.c.functions.approve(pid), "ConsortiumAlreadyApproved", pid, 2)
    assert proposal(s, pid)[3] == 2 and proposal(s, pid)[5] is False


def test_approve_after_deadline_reverts_with_ConsortiumProposalExpired(s: Setup) -> None:
    pid, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    deadline = proposal(s, pid)[4]
    s.chain.advance_past(deadline)
    s.chain.rejects(s.g2, s.c.functions.approve(pid), "ConsortiumProposalExpired", pid, deadline)
    s.chain.rejects(s.g2, s.c.functions.execute(pid), "ConsortiumProposalExpired", pid, deadline)
    assert proposal(s, pid)[5] is False


def test_approve_at_exactly_the_deadline_still_executes(s: Setup) -> None:
    pid, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    deadline = proposal(s, pid)[4]
    response = s.chain.w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [deadline])
    if "error" in response:
        pytest.skip("node cannot pin the next block's timestamp")
    receipt = s.chain.transact(s.g2, s.c.functions.approve(pid))
    assert s.chain.w3.eth.get_block(receipt.blockNumber)["timestamp"] == deadline
    assert proposal(s, pid)[5] is True


def test_execute_below_threshold_reverts_with_ConsortiumBelowThreshold(s: Setup) -> None:
    pid, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    s.chain.rejects(s.g2, s.c.functions.execute(pid), "ConsortiumBelowThreshold", pid, 1, 2)


def test_execute_after_threshold_lowered_runs_pending_proposal(s: Setup) -> None:
    pid, _ = s.propose(s.g3, Kind.SetParameter, param_args(b"p", 9))
    s.pass_(Kind.SetThreshold, id_args(1))
    receipt = s.chain.transact(s.g2, s.c.functions.execute(pid))
    assert [n for n, _ in events(s.c, receipt)] == ["ParameterSet", "ProposalExecuted"]
    assert s.c.functions.parameter(b"p".ljust(32, b"\0")).call() == 9
    assert proposal(s, pid)[3] == 1


@pytest.mark.parametrize("function", ["approve", "execute"])
@pytest.mark.parametrize("pid", [0, 2])
def test_unknown_proposal_reverts_with_ConsortiumUnknownProposal(s: Setup, function: str, pid: int) -> None:
    s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    s.chain.rejects(s.g2, getattr(s.c.functions, function)(pid), "ConsortiumUnknownProposal", pid)
    assert s.chain.error_of_call(s.g2.address, s.c.functions.proposal(pid)) == (
        "ConsortiumUnknownProposal",
        (pid,),
    )


@pytest.mark.parametrize("function", ["approve", "execute"])
def test_executed_proposal_reverts_with_ConsortiumProposalAlreadyExecuted(s: Setup, function: str) -> None:
    pid, _ = s.pass_(Kind.SetParameter, param_args(b"p", 1))
    s.chain.rejects(s.g3, getattr(s.c.functions, function)(pid), "ConsortiumProposalAlreadyExecuted", pid)


@pytest.mark.parametrize("value", [0, 4])
def test_set_threshold_outside_1_to_governors_reverts_with_ConsortiumInvalidThreshold(
    s: Setup, value: int
) -> None:
    fn = s.c.functions.propose(Kind.SetThreshold, id_args(value))
    s.chain.rejects(s.g1, fn, "ConsortiumInvalidThreshold", value, 3)


def test_removing_governors_below_threshold_reverts_with_ConsortiumInvalidThreshold(
    s: Setup,
) -> None:
    s.pass_(Kind.RemoveMember, id_args(3))
    s.chain.rejects(
        s.g1,
        s.c.functions.propose(Kind.RemoveMember, id_args(2)),
        "ConsortiumInvalidThreshold",
        2,
        1,
    )
    s.chain.rejects(
        s.g1,
        s.c.functions.propose(Kind.RevokeRole, role_args(2, Role.Governor)),
        "ConsortiumInvalidThreshold",
        2,
        1,
    )
    s.pass_(Kind.SetThreshold, id_args(1))
    s.chain.transact(s.g1, s.c.functions.propose(Kind.RemoveMember, id_args(2)))
    assert s.c.functions.governorCount().call() == 1
    # The last governor can neither leave nor stop governing.
    s.chain.rejects(
        s.g1,
        s.c.functions.propose(Kind.RemoveMember, id_args(1)),
        "ConsortiumInvalidThreshold",
        1,
        0,
    )
    s.chain.rejects(
        s.g1,
        s.c.functions.propose(Kind.RevokeRole, role_args(1, Role.Governor)),
        "ConsortiumInvalidThreshold",
        1,
        0,
    )


def test_proposal_valid_when_proposed_but_not_when_executed_reverts_and_stays_open(
    s: Setup,
) -> None:
    first, _ = s.propose(s.g1, Kind.RemoveMember, id_args(3))
    second, _ = s.propose(s.g1, Kind.RemoveMember, id_args(2))
    s.chain.transact(s.g2, s.c.functions.approve(first))
    s.chain.rejects(s.g2, s.c.functions.approve(second), "ConsortiumInvalidThreshold", 2, 1)
    assert proposal(s, second)[5] is False and s.c.functions.governorCount().call() == 2


@pytest.mark.parametrize(
    ("kind", "make_args", "error"),
    [
        (Kind.AddMember, lambda s: add_args("X", s.g2.address, 0), ("ConsortiumKeyInUse", "g2", 2)),
        (Kind.AddMember, lambda s: add_args("X", ZERO, 0), ("ConsortiumZeroKey",)),
        (Kind.AddMember, lambda s: add_args("", s.outsider.address, 0), ("ConsortiumEmptyName",)),
        (
            Kind.AddMember,
            lambda s: add_args("X", s.outsider.address, 1 << 7),
            ("ConsortiumInvalidRoles", 1 << 7),
        ),
        (
            Kind.AddMember,
            lambda s: add_args("X", s.outsider.address, 2**255),
            ("ConsortiumInvalidRoles", 2**255),
        ),
        (Kind.RotateKey, lambda s: key_args(1, s.g3.address), ("ConsortiumKeyInUse", "g3", 3)),
        (Kind.RotateKey, lambda s: key_args(1, s.g1.address), ("ConsortiumKeyInUse", "g1", 1)),
        (Kind.RotateKey, lambda s: key_args(1, ZERO), ("ConsortiumZeroKey",)),
        (Kind.RotateKey, lambda s: key_args(9, s.outsider.address), ("ConsortiumUnknownMember", 9)),
        (Kind.RemoveMember, lambda s: id_args(0), ("ConsortiumUnknownMember", 0)),
        (Kind.RemoveMember, lambda s: id_args(5), ("ConsortiumUnknownMember", 5)),
        (Kind.GrantRole, lambda s: role_args(4, 7), ("ConsortiumInvalidRole", 7)),
        (
            Kind.GrantRole,
            lambda s: role_args(4, Role.Partner),
            ("ConsortiumRoleAlreadyGranted", 4, Role.Partner),
        ),
        (
            Kind.RevokeRole,
            lambda s: role_args(4, Role.Auditor),
            ("ConsortiumRoleNotGranted", 4, Role.Auditor),
        ),
        (Kind.SetParameter, lambda s: param_args(b"", 1), ("ConsortiumEmptyName",)),
        (
            Kind.RemoveMember,
            lambda s: b"\0" * 31,
            ("ConsortiumMalformedArgs", Kind.RemoveMember, 31),
        ),
        (Kind.GrantRole, lambda s: id_args(4), ("ConsortiumMalformedArgs", Kind.GrantRole, 32)),
        (Kind.AddMember, lambda s: id_args(4), ("ConsortiumMalformedArgs", Kind.AddMember, 32)),
        (Kind.Call, lambda s: b"", ("ConsortiumMalformedArgs", Kind.Call, 0)),
    ],
)
def test_propose_with_bad_args_reverts_with_named_error_and_records_nothing(
    s: Setup, kind: Kind, make_args: Any, error: tuple[Any, ...]
) -> None:
    name, *args = error
    args = [getattr(s, a).address if isinstance(a, str) else a for a in args]
    s.chain.rejects(s.g1, s.c.functions.propose(kind, make_args(s)), name, *args)
    assert s.c.functions.proposalCount().call() == 0


def test_actions_on_removed_member_revert_with_ConsortiumMemberInactive(s: Setup) -> None:
    s.pass_(Kind.RemoveMember, id_args(4))
    for kind, args in [
        (Kind.RemoveMember, id_args(4)),
        (Kind.GrantRole, role_args(4, 0)),
        (Kind.RevokeRole, role_args(4, Role.Partner)),
        (Kind.RotateKey, key_args(4, s.outsider.address)),
    ]:
        s.chain.rejects(s.g1, s.c.functions.propose(kind, args), "ConsortiumMemberInactive", 4)


def test_member_view_of_unknown_id_reverts_with_ConsortiumUnknownMember(s: Setup) -> None:
    assert s.chain.error_of_call(s.g1.address, s.c.functions.member(5)) == (
        "ConsortiumUnknownMember",
        (5,),
    )


# ------------------------------------------------------------------------------------ rotate key


def test_rotate_key_moves_every_right_to_new_key_and_blocks_reapproval(s: Setup) -> None:
    new = s.make("g1-new")
    pending, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    _, receipt = s.pass_(Kind.RotateKey, key_args(1, new.address))
    assert events(s.c, receipt)[1] == (
        "KeyRotated",
        {"memberId": 1, "oldKey": s.g1.address, "newKey": new.address},
    )
    c = s.c.functions
    assert member(s, 1) == (
        "Lead Bank",
        new.address,
        roles(Role.Governor, Role.LeadBank, Role.Operator),
        True,
    )
    assert c.memberIdOf(s.g1.address).call() == 0 and c.memberIdOf(new.address).call() == 1
    assert not any(c.hasRole(r, s.g1.address).call() for r in Role)
    assert all(c.hasRole(r, new.address).call() for r in (Role.Governor, Role.LeadBank))
    assert not c.isActiveMember(s.g1.address).call() and c.isActiveMember(new.address).call()
    assert s.chain.error_of_call(s.g1.address, c.propose(Kind.SetParameter, param_args(b"q", 1))) == (
        "ConsortiumUnauthorized",
        (s.g1.address, Role.Governor),
    )
    s.chain.rejects(new, c.approve(pending), "ConsortiumAlreadyApproved", pending, 1)
    other, _ = s.propose(s.g2, Kind.SetParameter, param_args(b"q", 2))
    s.chain.transact(new, c.approve(other))
    assert c.hasApproved(other, 1).call() and proposal(s, other)[5] is True


# ------------------------------------------------------------------------- transactionAllowed


@pytest.mark.parametrize(
    ("who", "creation", "allowed"),
    [
        ("operator", False, True),
        ("operator", True, True),
        ("member", False, True),
        ("member", True, False),
        ("removed", False, False),
        ("removed", True, False),
        ("rotated_away", False, False),
        ("rotated_away", True, False),
        ("rotated_to", True, True),
        ("outsider", False, False),
        ("zero", False, False),
    ],
)
def test_transaction_allowed_truth_table(s: Setup, who: str, creation: bool, allowed: bool) -> None:
    new, operator = s.make("rotated-to"), s.make("operator")
    s.pass_(Kind.RemoveMember, id_args(4))
    s.pass_(Kind.AddMember, add_args("Ops", operator.address, roles(Role.Operator)))
    s.pass_(Kind.RotateKey, key_args(1, new.address))
    sender = {
        "operator": operator.address,
        "member": s.g2.address,
        "removed": s.partner.address,
        "rotated_away": s.g1.address,
        "rotated_to": new.address,
        "outsider": s.outsider.address,
        "zero": ZERO,
    }[who]
    target = ZERO if creation else s.c.address
    assert s.c.functions.transactionAllowed(sender, target, 0, 0, 21000, b"\x01").call() is allowed


# ------------------------------------------------------------------------------------------ gas


def test_gas_of_propose_approve_execute_stays_within_budget(s: Setup) -> None:
    """SetParameter proposals; prints the figures (run with -s)."""
    _, first = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    _, approve_execute = s.pass_(Kind.SetParameter, param_args(b"p", 2))
    pending, later = s.propose(s.g3, Kind.SetParameter, param_args(b"p", 3))
    s.pass_(Kind.SetThreshold, id_args(1))
    execute = s.chain.transact(s.g2, s.c.functions.execute(pending))
    gas = {
        "propose (first ever)": first.gasUsed,
        "propose": later.gasUsed,
        "approve + execute": approve_execute.gasUsed,
        "execute": execute.gasUsed,
    }
    print(f"\nConsortium gas, SetParameter proposals: {gas}")
    assert gas["propose (first ever)"] < 175_000
    assert gas["propose"] < 160_000
    assert gas["approve + execute"] < 85_000
    assert gas["execute"] < 60_000


def test_gas_of_approve_below_threshold_stays_within_budget(s: Setup) -> None:
    s.pass_(Kind.SetThreshold, id_args(3))
    pid, _ = s.propose(s.g1, Kind.SetParameter, param_args(b"p", 1))
    approve = s.chain.transact(s.g2, s.c.functions.approve(pid))
    print(f"\nConsortium gas, approve without executing: {approve.gasUsed}")
    assert approve.gasUsed < 45_000
