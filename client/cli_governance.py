"""`coledger consortium parameters` and `coledger consortium proposal N`, for people and machines.

Why a module of its own: both read the deployment record to name contracts (a governed call's
target, CreditLines for the exposure cap in force) and print the chain's integers beside their
readable forms; `--json` gives the same content for scripts.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from web3.exceptions import ContractCustomError

from client.config import DataDir
from client.consortium import ConsortiumClient
from client.errors import CoLedgerValueError
from client.parameter_view import parameter_rows
from client.proposal_view import describe_proposal
from client.revert import decode_revert

__all__ = ["ProposalNotFoundError", "add_parameters_command", "add_proposal_command", "proposal_id"]

Consortium = Callable[[argparse.Namespace], ConsortiumClient]


class ProposalNotFoundError(CoLedgerValueError):
    """`consortium proposal N` for an id the Consortium does not have."""


def proposal_id(text: str) -> int:
    """argparse type: a proposal id (1 .. 2^256 - 1), named in the usage error if not."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"proposal id {text!r} is not an integer") from None
    if not 1 <= value < 2**256:
        raise argparse.ArgumentTypeError(f"proposal id {text} is not a positive integer below 2^256")
    return value


def add_parameters_command(cons_sub: Any, add_chain_args: Callable[[argparse.ArgumentParser], None],
                           consortium: Consortium) -> None:
    """Add `consortium parameters [--json]`."""
    p = cons_sub.add_parser("parameters", help="list the governed parameters: value, value in force, meaning")
    add_chain_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=lambda args: _cmd_parameters(args, consortium(args)))


def add_proposal_command(cons_sub: Any, add_chain_args: Callable[[argparse.ArgumentParser], None],
                         consortium: Consortium) -> None:
    """Add `consortium proposal N [--json]`."""
    p = cons_sub.add_parser("proposal", help="show one proposal, decoded (what it does, approvals, status)")
    add_chain_args(p)
    p.add_argument("proposal_id", type=proposal_id)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=lambda args: _cmd_proposal(args, consortium(args)))


def _contracts(args: argparse.Namespace) -> dict[str, str]:
    """The deployment record's contract addresses, if this data dir has one."""
    data = DataDir(args.data_dir)
    if not data.deployment.is_file():
        return {}
    return dict(data.read_deployment().get("contracts", {}))


def _cmd_parameters(args: argparse.Namespace, c: ConsortiumClient) -> int:
    rows = parameter_rows(c, _contracts(args))
    if args.json:
        print(json.dumps([r.as_json() for r in rows], indent=2))
        return 0
    print(f"Consortium {c.address}: {len(rows)} governed parameters "
          f"(change one: `coledger consortium propose --as GOVERNOR set-parameter NAME VALUE`)")
    for r in rows:
        p = r.parameter
        stored = f"set to {r.value:,}" if r.value else "not set (0)"
        print(f"  {p.name}  [{p.unit.value}, read by {p.read_by}]")
        print(f"      {stored}; in force: {r.in_force_text}")
        print(f"      {p.meaning}")
    return 0


def _cmd_proposal(args: argparse.Namespace, c: ConsortiumClient) -> int:
    try:
        c.proposal(args.proposal_id)
    except ContractCustomError as exc:  # ConsortiumUnknownProposal: say which ids exist
        count = int(c.contract.functions.proposalCount().call())
        known = f"1..{count}" if count else "none yet"
        revert = decode_revert(exc.data if isinstance(exc.data, str | bytes) else None)
        raise ProposalNotFoundError(f"the chain refused: {revert} (proposals on this chain: {known})") from exc
    view = describe_proposal(c, args.proposal_id, _contracts(args))
    if args.json:
        print(json.dumps(view.as_json(), indent=2, default=str))
    else:
        print("\n".join(view.lines()))
    return 0
