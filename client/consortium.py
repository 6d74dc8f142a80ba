"""Typed API for the Consortium contract: members, roles, parameters and M-of-N governance.

Every change to membership, roles, keys, threshold or parameters is a proposal that executes when
enough governors approve it; this module builds those proposals, sends them through the caller's
own `TransactionPipeline` (signed locally) and reads the outcome from the receipt's events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from eth_abi import encode
from eth_utils import is_address, keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD as _DISCARD
from web3.types import TxReceipt

from client.contracts import bind, create_address, deploy
from client.errors import CoLedgerValueError, DeploymentError
from client.parameters import check_value, lookup
from client.tx import Call, TransactionPipeline

__all__ = [
    "ActionKind",
    "CharterMember",
    "ConsortiumClient",
    "MemberInfo",
    "ProposalInfo",
    "ProposalOutcome",
    "Role",
    "ValidatorInit",
    "deploy_consortium",
    "expected_consortium_address",
    "parameter_key",
    "roles_from_mask",
    "roles_mask",
]


class Role(IntEnum):
    """Consortium roles; the on-chain role set is a bitmask of `1 << role`."""

    LEAD_BANK = 0
    PARTNER = 1
    ARBITRATOR = 2
    AUDITOR = 3
    GOVERNOR = 4
    OPERATOR = 5
    GATEWAY = 6

    @classmethod
    def parse(cls, text: str) -> Role:
        """Role from a name such as ``lead-bank``, ``LeadBank`` or ``LEAD_BANK``."""
        key = text.replace("-", "").replace("_", "").lower()
        for role in cls:
            if role.name.replace("_", "").lower() == key:
                return role
        names = ", ".join(r.name.lower().replace("_", "-") for r in cls)
        raise CoLedgerValueError(f"unknown role {text!r} (roles: {names})")


class ActionKind(IntEnum):
    """What a governance proposal does (mirrors `IConsortium.ActionKind`)."""

    ADD_MEMBER = 0
    REMOVE_MEMBER = 1
    GRANT_ROLE = 2
    REVOKE_ROLE = 3
    ROTATE_KEY = 4
    SET_THRESHOLD = 5
    SET_PARAMETER = 6
    CALL = 7
    ADD_VALIDATOR = 8
    REMOVE_VALIDATOR = 9
    SET_VALIDATOR_POWER = 10


def roles_mask(roles: Iterable[Role]) -> int:
    mask = 0
    for role in roles:
        mask |= 1 << int(role)
    return mask


def roles_from_mask(mask: int) -> frozenset[Role]:
    return frozenset(r for r in Role if mask & (1 << int(r)))


def parameter_key(name: str) -> bytes:
    """The bytes32 key of a named governance parameter: keccak256 of its name."""
    if not name:
        raise CoLedgerValueError("parameter name is empty")
    return bytes(keccak(text=name))


@dataclass(frozen=True)
class CharterMember:
    """A founding member written into the Consortium's constructor."""

    name: str
    key: str
    roles: frozenset[Role]


class ValidatorInit(Protocol):
    """A genesis validator for the Consortium's constructor (`IConsortium.ValidatorInit`);
    `client.validators.GenesisValidator` is one, any object with these attributes will do."""

    @property
    def member_id(self) -> int: ...
    @property
    def consensus_key(self) -> bytes: ...  # ed25519 public key, 32 bytes
    @property
    def power(self) -> int: ...
    @property
    def node_id(self) -> bytes: ...  # 20 bytes


@dataclass(frozen=True)
class MemberInfo:
    member_id: int
    name: str
    key: str
    roles: frozenset[Role]
    active: bool


@dataclass(frozen=True)
class ProposalInfo:
    proposal_id: int
    kind: ActionKind
    args: bytes
    proposer_id: int
    approvals: int
    deadline: int
    executed: bool


@dataclass(frozen=True)
class ProposalOutcome:
    """What a propose/approve/execute transaction did."""

    proposal_id: int
    approvals: int
    executed: bool
    receipt: TxReceipt


def expected_consortium_address(bootstrap_address: str) -> str:
    """The Consortium is the bootstrap key's first creation (nonce 0), by convention."""
    return create_address(to_checksum_address(bootstrap_address), 0)


def deploy_consortium(
    pipeline: TransactionPipeline,
    charter: Iterable[CharterMember],
    threshold: int,
    proposal_lifetime: int,
    validators: Sequence[ValidatorInit] = (),
) -> tuple[str, bool]:
    """Deploy the Consortium from the bootstrap key if it is not there; (address, deployed_now).

    Idempotent: the address is fixed by the bootstrap key's nonce 0, so a second start finds the
    code there and deploys nothing. `validators` are the network's genesis validators (none on a
    solo node); their member ids refer to the charter's order, from 1.
    """
    members = list(charter)
    if not members:
        raise CoLedgerValueError("the charter has no members")
    expected = expected_consortium_address(pipeline.address)
    if pipeline.w3.eth.get_code(expected):
        return expected, False
    if pipeline.w3.eth.get_transaction_count(pipeline.address, "pending") != 0:
        raise DeploymentError(
            f"bootstrap key {pipeline.address} has already sent transactions but there is no "
            f"Consortium at {expected}: this chain was not set up by coledger"
        )
    encoded = [(m.name, to_checksum_address(m.key), roles_mask(m.roles)) for m in members]
    genesis = [_validator_init(v) for v in validators]
    address = deploy(pipeline, "Consortium", encoded, threshold, proposal_lifetime, genesis)
    if address != expected:
        raise DeploymentError(f"Consortium deployed at {address}, expected {expected}")
    return address, True


class ConsortiumClient:
    """Reads and governs one deployed Consortium. Writes need a pipeline (the caller's key)."""

    def __init__(self, w3: Web3, address: str, pipeline: TransactionPipeline | None = None) -> None:
        self.w3 = w3
        self.contract: Contract = bind(w3, "Consortium", address)
        self.address = self.contract.address
        self.pipeline = pipeline

    # -- reads -------------------------------------------------------------------------------

    def member_count(self) -> int:
        return int(self.contract.functions.memberCount().call())

    def member(self, member_id: int) -> MemberInfo:
        name, key, mask, active = self.contract.functions.member(member_id).call()
        return MemberInfo(member_id, name, to_checksum_address(key), roles_from_mask(mask), active)

    def members(self, include_removed: bool = False) -> list[MemberInfo]:
        found = [self.member(i) for i in range(1, self.member_count() + 1)]
        return found if include_removed else [m for m in found if m.active]

    def member_id_of(self, key: str) -> int:
        return int(self.contract.functions.memberIdOf(_address(key, "key")).call())

    def has_role(self, role: Role, account: str) -> bool:
        return bool(self.contract.functions.hasRole(int(role), _address(account, "account")).call())

    def threshold(self) -> int:
        return int(self.contract.functions.threshold().call())

    def governor_count(self) -> int:
        return int(self.contract.functions.governorCount().call())

    def parameter(self, name: str) -> int:
        """The stored value of `name` (any name: a read changes nothing; 0 if never set).
        `client.parameters` has the names the contracts read; `propose_set_parameter` refuses others."""
        return int(self.contract.functions.parameter(parameter_key(name)).call())

    def proposal(self, proposal_id: int) -> ProposalInfo:
        kind, args, proposer, approvals, deadline, executed = (
            self.contract.functions.proposal(proposal_id).call()
        )
        return ProposalInfo(
            proposal_id, ActionKind(kind), bytes(args), proposer, approvals, deadline, executed
        )

    def transaction_allowed(self, sender: str, target: str | None = None) -> bool:
        to = _address(target, "target") if target else "0x" + "00" * 20
        allowed = self.contract.functions.transactionAllowed(
            _address(sender, "sender"), to, 0, 0, 0, b""
        ).call()
        return bool(allowed)

    # -- governance --------------------------------------------------------------------------

    def propose(self, kind: ActionKind, args: bytes) -> ProposalOutcome:
        data = self.contract.encode_abi("propose", args=[int(kind), args])
        return self._outcome(self._pipeline().transact(self._call(data, f"propose {kind.name}")))

    def approve(self, proposal_id: int) -> ProposalOutcome:
        data = self.contract.encode_abi("approve", args=[proposal_id])
        return self._outcome(self._pipeline().transact(self._call(data, "approve")), proposal_id)

    def execute(self, proposal_id: int) -> ProposalOutcome:
        data = self.contract.encode_abi("execute", args=[proposal_id])
        return self._outcome(self._pipeline().transact(self._call(data, "execute")), proposal_id)

    def propose_add_member(self, name: str, key: str, roles: Iterable[Role]) -> ProposalOutcome:
        if not name.strip():
            raise CoLedgerValueError("member name is empty")
        args = encode(["string", "address", "uint256"], [name, _address(key, "key"), roles_mask(roles)])
        return self.propose(ActionKind.ADD_MEMBER, args)

    def propose_remove_member(self, member_id: int) -> ProposalOutcome:
        return self.propose(ActionKind.REMOVE_MEMBER, encode(["uint256"], [_id(member_id)]))

    def propose_grant_role(self, member_id: int, role: Role) -> ProposalOutcome:
        args = encode(["uint256", "uint8"], [_id(member_id), int(role)])
        return self.propose(ActionKind.GRANT_ROLE, args)

    def propose_revoke_role(self, member_id: int, role: Role) -> ProposalOutcome:
        args = encode(["uint256", "uint8"], [_id(member_id), int(role)])
        return self.propose(ActionKind.REVOKE_ROLE, args)

    def propose_rotate_key(self, member_id: int, new_key: str) -> ProposalOutcome:
        args = encode(["uint256", "address"], [_id(member_id), _address(new_key, "new key")])
        return self.propose(ActionKind.ROTATE_KEY, args)

    def propose_set_threshold(self, threshold: int) -> ProposalOutcome:
        if threshold < 1:
            raise CoLedgerValueError(f"threshold must be at least 1, got {threshold}")
        return self.propose(ActionKind.SET_THRESHOLD, encode(["uint256"], [threshold]))

    def propose_set_parameter(self, name: str, value: int) -> ProposalOutcome:
        """Propose setting governed parameter `name` (one of `client.parameters.PARAMETERS`:
        a name no contract reads is refused, with close matches, before anything is signed)."""
        parameter = lookup(name)
        args = encode(["bytes32", "uint256"], [parameter.key, check_value(parameter, value)])
        return self.propose(ActionKind.SET_PARAMETER, args)

    def propose_call(self, target: str, data: bytes) -> ProposalOutcome:
        args = encode(["address", "bytes"], [_address(target, "target"), data])
        return self.propose(ActionKind.CALL, args)

    # -- helpers -----------------------------------------------------------------------------

    def _pipeline(self) -> TransactionPipeline:
        if self.pipeline is None:
            raise CoLedgerValueError("this ConsortiumClient is read-only: give it a pipeline")
        return self.pipeline

    def _call(self, data: Any, label: str) -> Call:
        raw = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
        return Call(to=self.address, data=raw, label=f"Consortium.{label}")

    def _outcome(self, receipt: TxReceipt, proposal_id: int | None = None) -> ProposalOutcome:
        events = self.contract.events
        created = events.ProposalCreated().process_receipt(receipt, errors=_DISCARD)
        approved = events.ProposalApproved().process_receipt(receipt, errors=_DISCARD)
        executed = events.ProposalExecuted().process_receipt(receipt, errors=_DISCARD)
        if created:
            proposal_id = int(created[0]["args"]["proposalId"])
        if proposal_id is None:
            raise DeploymentError("governance receipt carries no ProposalCreated event")
        approvals = int(approved[-1]["args"]["approvals"]) if approved else 0
        done = any(int(e["args"]["proposalId"]) == proposal_id for e in executed)
        return ProposalOutcome(proposal_id, approvals, done, receipt)


def _validator_init(v: ValidatorInit) -> tuple[int, bytes, int, bytes]:
    key, node_id = bytes(v.consensus_key), bytes(v.node_id)
    if len(key) != 32:
        raise CoLedgerValueError(f"genesis validator key is {len(key)} bytes, want 32")
    if len(node_id) != 20:
        raise CoLedgerValueError(f"genesis validator node id is {len(node_id)} bytes, want 20")
    return (_id(v.member_id), key, int(v.power), node_id)


def _address(value: str | None, what: str) -> str:
    if value is None or not is_address(value):
        raise CoLedgerValueError(f"{what} {value!r} is not an Ethereum address")
    return str(to_checksum_address(value))


def _id(member_id: int) -> int:
    if member_id < 1:
        raise CoLedgerValueError(f"member id must be >= 1, got {member_id}")
    return member_id

