"""Shared setup of the evidence-contract tests.

Each module deploys a Consortium of its own (roles granted by a test never leak into another
module) and the contracts under test, from a governor that also holds Operator. Every key is
also admitted to the session's admission Consortium (`make_account`), so it may transact on the
embedded node; what the *contracts* let it do is decided by the module's own Consortium.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from arbitration.record import EvidenceKind, EvidenceRecord
from client.consortium import Role, roles_mask
from client.contracts import deploy
from client.errors import ContractRevert
from client.tx import Call, TransactionPipeline

REVERT_GAS = 1_000_000


@dataclass(frozen=True)
class Actor:
    label: str
    account: LocalAccount
    pipeline: TransactionPipeline

    @property
    def address(self) -> str:
        return str(self.account.address)


def make_actors(
    w3: Web3, make_account: Callable[..., LocalAccount], tag: str, labels: dict[str, tuple[Role, ...]],
    extra: tuple[str, ...] = ("outsider",),
) -> dict[str, Actor]:
    """Keys for `labels` (and `extra` keys holding no role in the module's Consortium)."""
    actors = {}
    for label in [*labels, *extra]:
        account = make_account(f"evidence-chain-{tag}-{label}")
        actors[label] = Actor(label, account, TransactionPipeline(w3, account))
    return actors


def deploy_consortium_for(actors: dict[str, Actor], labels: dict[str, tuple[Role, ...]], governor: str) -> str:
    charter = [(label, actors[label].address, roles_mask(roles)) for label, roles in labels.items()]
    return deploy(actors[governor].pipeline, "Consortium", charter, 1, 86_400, [])


def raw_call(contract: Contract, fn: str, *args: Any) -> Call:
    """A call built without the client's argument checks (to reach the contract's own)."""
    return Call(to=contract.address, data=bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:]), label=fn)


def revert_of(actor: Actor, call: Call) -> ContractRevert:
    """The revert `call` from `actor` meets at estimation, and again as a mined transaction."""
    reverts = []
    for gas in (None, REVERT_GAS):
        try:
            actor.pipeline.transact(Call(call.to, call.data, gas=gas, label=call.label))
        except ContractRevert as exc:
            reverts.append(exc)
        else:
            raise AssertionError(f"{call.label} from {actor.label} did not revert")
    first, mined = reverts
    assert (first.name, first.args_by_name) == (mined.name, mined.args_by_name)
    return first


def assert_reverts(actor: Actor, call: Call, name: str, **args: Any) -> None:
    err = revert_of(actor, call)
    assert (err.name, err.args_by_name) == (name, args)


def random_record(loan_id: int = 1, kind: EvidenceKind = EvidenceKind.COLLECTION_LOG,
                  prev: bytes = bytes(32)) -> EvidenceRecord:
    return EvidenceRecord(
        evidence_id=os.urandom(32), kind=kind, loan_id=loan_id.to_bytes(32, "big"),
        sha256=os.urandom(32), sm3=os.urandom(32), ciphertext_sha256=os.urandom(32), prev=prev,
    )


def record_args(r: EvidenceRecord) -> tuple[Any, ...]:
    """`anchorItem` / `anchor_item` arguments of record `r`, in order."""
    return (r.evidence_id, r.loan_id, int(r.kind), r.sha256, r.sm3, r.ciphertext_sha256, r.prev)
