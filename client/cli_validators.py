"""`coledger consortium validators` and the `consortium propose` kinds of the validator registry.

Why a module of its own: adding a validator reads key material from a validator home (the
consensus key signs the proof of possession), which the other governance kinds never touch.
Everything the user typed is checked — member, home, key, power — before any transaction is
signed, so a mistake is one line, exit status 2, and nothing sent.
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client.consortium import ConsortiumClient, ProposalOutcome
from client.errors import CoLedgerValueError, ConfigError
from client.validators import MAX_POWER, ValidatorsClient, load_validator_home, parse_consensus_key

__all__ = ["KINDS", "add_propose_kinds", "add_validators_command", "propose"]

#: the `consortium propose` kinds this module handles
KINDS = ("add-validator", "remove-validator", "set-validator-power")


def _power(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"power {text!r} is not an integer") from None
    if not 1 <= value <= MAX_POWER:
        raise argparse.ArgumentTypeError(f"power {value} is outside 1..{MAX_POWER}")
    return value


def add_propose_kinds(kinds: Any) -> None:
    """Add the validator kinds to `consortium propose`'s subparsers."""
    k = kinds.add_parser("add-validator", help="add a member's validator (signs its proof of possession)")
    k.add_argument("--member", required=True, help="the member running it: name or id")
    k.add_argument("--validator-home", required=True, type=Path,
                   help="the validator's home (cometbft/config/priv_validator_key.json, node id)")
    k.add_argument("--power", type=_power, default=10, help="voting power (default 10)")
    k = kinds.add_parser("remove-validator", help="remove a validator")
    k.add_argument("key", help="consensus public key: base64 (as CometBFT writes it) or 0x-hex")
    k = kinds.add_parser("set-validator-power", help="change a validator's voting power")
    k.add_argument("key", help="consensus public key: base64 (as CometBFT writes it) or 0x-hex")
    k.add_argument("power", type=_power)


def add_validators_command(cons_sub: Any, add_chain_args: Callable[[argparse.ArgumentParser], None],
                           consortium: Callable[[argparse.Namespace], ConsortiumClient]) -> None:
    """Add `consortium validators [--json]`."""
    p = cons_sub.add_parser("validators", help="list the validator set (key, power, member, node, since)")
    add_chain_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=lambda args: _cmd_validators(args, consortium(args)))


def _member_id(c: ConsortiumClient, text: str) -> int:
    """A member id from an id or an active member's name (case-insensitive)."""
    if text.isdigit():
        member_id = int(text)
        if not 1 <= member_id <= c.member_count():
            raise CoLedgerValueError(f"--member {text}: no member has id {member_id}")
        return member_id
    found = [m for m in c.members() if m.name.lower() == text.strip().lower()]
    if not found:
        names = ", ".join(m.name for m in c.members())
        raise CoLedgerValueError(f"--member {text!r}: no active member has that name (members: {names})")
    return found[0].member_id


def propose(args: argparse.Namespace, c: ConsortiumClient) -> ProposalOutcome:
    """Run one of :data:`KINDS` (all input checked before anything is signed)."""
    v = ValidatorsClient(c)
    if args.kind == "add-validator":
        member_id = _member_id(c, args.member)
        try:
            home = load_validator_home(args.validator_home)
        except ConfigError as exc:
            raise ConfigError(f"--validator-home {args.validator_home}: {exc}") from exc
        return v.propose_add_validator(member_id, home, args.power)
    key = parse_consensus_key(args.key)
    if args.kind == "remove-validator":
        return v.propose_remove_validator(key)
    return v.propose_set_validator_power(key, args.power)


def _cmd_validators(args: argparse.Namespace, c: ConsortiumClient) -> int:
    names = {m.member_id: m.name for m in c.members(include_removed=True)}
    rows = [{"key": base64.b64encode(x.consensus_key).decode(), "key_hex": "0x" + x.consensus_key.hex(),
             "power": x.power, "member_id": x.member_id, "member": names.get(x.member_id, "?"),
             "node_id": x.node_id.hex(), "since_block": x.since_block}
            for x in ValidatorsClient(c).validators()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    total = sum(r["power"] for r in rows)
    print(f"Consortium {c.address}: {len(rows)} validators, total power {total}")
    for r in rows:
        print(f"  {r['key']}  {r['key_hex']}  power {r['power']:<5} #{r['member_id']} {r['member']:<20} "
              f"node {r['node_id']}  since block {r['since_block']}")
    return 0
