"""The `coledger` command: build, node, keys and consortium governance.

Every subcommand that writes to the chain signs locally with a key from an encrypted keystore
(`--as NAME`); errors are printed as one clear line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from client.audit.cli import register as register_audit
from client.cli_devtime import add_advance_time_command
from client.cli_errors import run_guarded
from client.cli_flows import register as register_flows
from client.cli_governance import add_parameters_command, add_proposal_command, proposal_id
from client.cli_lending import register as register_lending
from client.cli_network import cmd_node_start_validator
from client.cli_network import register as register_network
from client.cli_node import register_node_tools
from client.cli_validators import KINDS as VALIDATOR_KINDS
from client.cli_validators import add_propose_kinds, add_validators_command
from client.cli_validators import propose as propose_validator_change
from client.config import DataDir
from client.connection import DEFAULT_RPC_URL, connect
from client.consortium import ConsortiumClient, ProposalOutcome, Role
from client.errors import ConfigError
from client.keys import Keystore, demo_password
from client.tx import TransactionPipeline

__all__ = ["PLUGIN_GROUP", "main", "build_parser"]

DEFAULT_DATA_DIR = Path("./coledger-data")
#: Entry-point group of CLI plugins: each entry point is a `register(subparsers)` function.
#: Packages built on the SDK (the evidence service registers `evidence` and `api`) add commands
#: this way, so `client` never imports them.
PLUGIN_GROUP = "coledger.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coledger",
        description="coledger: permissioned blockchain lending ledger (co-lending, fund flows, evidence)",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (for reporting a bug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="compile contracts/ into client/artifacts (solc-js or native solc)")
    build.add_argument("--check", action="store_true", help="only verify the committed artifacts are current")
    build.set_defaults(func=_cmd_build)

    node = sub.add_parser("node", help="the embedded private chain node")
    node_sub = node.add_subparsers(dest="node_command", required=True, metavar="ACTION")
    start = node_sub.add_parser("start", help="start the node; deploy the consortium on first start")
    start.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    start.add_argument("--config", type=Path, help="consortium config (default: the demo consortium)")
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--port", type=int, default=8545)
    start.add_argument("--block-period", type=float, help="seconds between blocks (0 = on demand)")
    start.add_argument("--allow-time-travel", action="store_true",
                       help="enable evm_increaseTime/evm_mine (tests and simulations only)")
    start.add_argument("--consensus", choices=("solo", "cometbft"), default="solo",
                       help="solo: this node seals every block (default); cometbft: run one "
                            "consortium validator from --home")
    start.add_argument("--home", type=Path,
                       help="validator home (with --consensus cometbft), e.g. "
                            "coledger-network/validator-0")
    start.add_argument("--cors-origin", action="append", metavar="ORIGIN", type=_cors_origin,
                       help="a web page origin allowed to call the JSON-RPC from a browser, e.g. "
                            "https://remix.ethereum.org (repeatable; local pages always may)")
    start.add_argument("--ws-max-connections", type=_positive_int, default=128, metavar="N",
                       help="WebSocket clients on the JSON-RPC port at once (default 128; "
                            "one more gets 503)")
    start.set_defaults(func=_cmd_node_start)
    register_node_tools(node_sub, DEFAULT_DATA_DIR)
    add_advance_time_command(node_sub)

    keys = sub.add_parser("keys", help="encrypted keystores")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    new = keys_sub.add_parser("new", help="create a key")
    new.add_argument("name")
    _add_keystore_args(new)
    new.set_defaults(func=_cmd_keys_new)
    lst = keys_sub.add_parser("list", help="list keys and addresses")
    _add_keystore_args(lst)
    lst.set_defaults(func=_cmd_keys_list)

    cons = sub.add_parser("consortium", help="members, roles and M-of-N governance")
    cons_sub = cons.add_subparsers(dest="consortium_command", required=True, metavar="ACTION")
    members = cons_sub.add_parser("members", help="list members, roles and the threshold")
    _add_chain_args(members)
    members.add_argument("--all", action="store_true", help="include removed members")
    members.set_defaults(func=_cmd_members)

    add_proposal_command(cons_sub, _add_chain_args, _consortium)
    add_parameters_command(cons_sub, _add_chain_args, _consortium)

    propose = cons_sub.add_parser("propose", help="propose a governance change (as a governor)")
    _add_chain_args(propose, signing=True)
    kinds = propose.add_subparsers(dest="kind", required=True, metavar="KIND")
    k = kinds.add_parser("add-member", help="add a member")
    k.add_argument("name")
    k.add_argument("address")
    k.add_argument("--roles", required=True, help="comma separated, e.g. partner,governor")
    k = kinds.add_parser("remove-member", help="remove a member")
    k.add_argument("member_id", type=int)
    for verb in ("grant-role", "revoke-role"):
        k = kinds.add_parser(verb, help=f"{verb.split('-')[0]} a role")
        k.add_argument("member_id", type=int)
        k.add_argument("role")
    k = kinds.add_parser("rotate-key", help="replace a member's signing key")
    k.add_argument("member_id", type=int)
    k.add_argument("new_address")
    k = kinds.add_parser("set-threshold", help="change M of the M-of-N approval rule")
    k.add_argument("threshold", type=int)
    k = kinds.add_parser("set-parameter", help="set a governed parameter (integer, in its unit; "
                         "`consortium parameters` lists the names)")
    k.add_argument("name")
    k.add_argument("value", type=int)
    add_propose_kinds(kinds)
    propose.set_defaults(func=_cmd_propose)
    add_validators_command(cons_sub, _add_chain_args, _consortium)

    for verb in ("approve", "execute"):
        p = cons_sub.add_parser(verb, help=f"{verb} a proposal (as a governor)")
        _add_chain_args(p, signing=True)
        p.add_argument("proposal_id", type=proposal_id)
        p.set_defaults(func=_cmd_vote, verb=verb)
    register_lending(sub)
    register_flows(sub)
    register_audit(sub)
    register_network(sub)
    _register_plugins(sub)
    return parser


def _register_plugins(sub: Any) -> None:
    """Let each installed `coledger.commands` plugin add its subcommands (name order).

    A plugin that fails to import is reported on one line and skipped: the core commands keep
    working when an optional package is broken or half installed.
    """
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure of a plugin is reported the same way
            print(f"coledger: warning: plugin {ep.name!r} ({ep.value}) not loaded: {exc}", file=sys.stderr)
            continue
        register(sub)


def _add_keystore_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="keys live in DATA_DIR/keystore (password: $COLEDGER_KEYSTORE_PASSWORD)")


def _add_chain_args(p: argparse.ArgumentParser, signing: bool = False) -> None:
    _add_keystore_args(p)
    p.add_argument("--rpc", help=f"JSON-RPC URL (default: the data dir's node, else {DEFAULT_RPC_URL})")
    p.add_argument("--consortium", help="Consortium address (default: the data dir's deployment)")
    if signing:
        p.add_argument("--as", dest="signer", required=True, help="keystore name of the signing key")


def _keystore(args: argparse.Namespace) -> Keystore:
    directory = DataDir(args.data_dir).keystore
    return Keystore(directory, demo_password(directory))


def _consortium(args: argparse.Namespace) -> ConsortiumClient:
    data = DataDir(args.data_dir)
    record = data.read_deployment() if not (args.rpc and args.consortium) else {}
    w3 = connect(args.rpc or record.get("rpc_url", DEFAULT_RPC_URL))
    address = args.consortium or record["contracts"]["Consortium"]
    pipeline = None
    if getattr(args, "signer", None):
        pipeline = TransactionPipeline(w3, _keystore(args).load(args.signer))
    return ConsortiumClient(w3, address, pipeline)


def _cmd_build(args: argparse.Namespace) -> int:
    from client.artifacts import ARTIFACTS_DIR
    from client.build import build

    if args.check:
        result = build(out_dir=None)
        stale = [n for n, text in result.files.items()
                 if not (ARTIFACTS_DIR / n).is_file() or (ARTIFACTS_DIR / n).read_text() != text]
        if stale:
            print(f"artifacts out of date: {', '.join(stale)}; run `coledger build`", file=sys.stderr)
            return 1
        print(f"artifacts current (solc {result.compiler})")
        return 0
    result = build()
    print(f"compiled with solc {result.compiler}: {len(result.files) - 1} artifacts in {ARTIFACTS_DIR}")
    return 0


def _cmd_node_start(args: argparse.Namespace) -> int:
    from client.node_start import NodeStartOptions, prepare_and_start

    if args.consensus == "cometbft":
        if args.home is None:
            raise ConfigError("--consensus cometbft needs --home DIR (a validator home created by "
                              "`coledger network init`)")
        return cmd_node_start_validator(args.home)
    if args.home is not None:
        raise ConfigError("--home is for --consensus cometbft; the solo node uses --data-dir")

    node = prepare_and_start(NodeStartOptions(
        data_dir=args.data_dir, config=args.config, host=args.host, port=args.port,
        block_period=args.block_period, allow_time_travel=args.allow_time_travel,
        cors_origins=tuple(args.cors_origin or ()),
        ws_max_connections=args.ws_max_connections,
    ))
    node.serve_forever()
    return 0


def _cmd_keys_new(args: argparse.Namespace) -> int:
    account = _keystore(args).create(args.name)
    print(f"{args.name} {account.address}")
    return 0


def _cmd_keys_list(args: argparse.Namespace) -> int:
    store = _keystore(args)
    for name in store.names():
        print(f"{name:<16} {store.address(name)}")
    return 0


def _cmd_members(args: argparse.Namespace) -> int:
    c = _consortium(args)
    print(f"Consortium {c.address}: threshold {c.threshold()} of {c.governor_count()} governors")
    for m in c.members(include_removed=args.all):
        roles = ",".join(sorted(r.name.lower().replace("_", "-") for r in m.roles))
        state = "" if m.active else "  (removed)"
        print(f"  #{m.member_id} {m.name:<24} {m.key}  {roles}{state}")
    return 0


def _cmd_propose(args: argparse.Namespace) -> int:
    c = _consortium(args)
    kind = args.kind
    if kind in VALIDATOR_KINDS:
        outcome = propose_validator_change(args, c)
    elif kind == "add-member":
        roles = [Role.parse(r) for r in args.roles.split(",") if r]
        outcome = c.propose_add_member(args.name, args.address, roles)
    elif kind == "remove-member":
        outcome = c.propose_remove_member(args.member_id)
    elif kind == "grant-role":
        outcome = c.propose_grant_role(args.member_id, Role.parse(args.role))
    elif kind == "revoke-role":
        outcome = c.propose_revoke_role(args.member_id, Role.parse(args.role))
    elif kind == "rotate-key":
        outcome = c.propose_rotate_key(args.member_id, args.new_address)
    elif kind == "set-threshold":
        outcome = c.propose_set_threshold(args.threshold)
    else:
        outcome = c.propose_set_parameter(args.name, args.value)
    _print_outcome("proposed", outcome, c)
    return 0


def _cmd_vote(args: argparse.Namespace) -> int:
    c = _consortium(args)
    outcome = c.approve(args.proposal_id) if args.verb == "approve" else c.execute(args.proposal_id)
    _print_outcome(f"{args.verb}d", outcome, c)
    return 0


def _print_outcome(verb: str, outcome: ProposalOutcome, c: ConsortiumClient) -> None:
    state = "executed" if outcome.executed else f"{outcome.approvals} of {c.threshold()} approvals"
    tx = outcome.receipt["transactionHash"].hex()
    print(f"proposal {outcome.proposal_id} {verb}: {state} (tx 0x{tx.removeprefix('0x')}, "
          f"block {outcome.receipt['blockNumber']})")


def _positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _cors_origin(text: str) -> str:
    """argparse type: an origin (scheme://host[:port], or *), named in the usage error if not."""
    from node.cors import parse_origin

    try:
        return parse_origin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: args.func(args), debug=bool(getattr(args, "debug", False)))


if __name__ == "__main__":
    sys.exit(main())
