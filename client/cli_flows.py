"""`coledger flows ...`: closed-loop virtual accounts from the command line.

`flows watch` is the live alert feed a bank's monitoring desk leaves running: it prints every
FLAG / VERIFY / HOLD as the chain records it and keeps a cursor file, so a restart resumes
exactly after the last alert it printed (no repeats, no gaps).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from client.borrower import borrower_id, load_or_create_borrower_key
from client.config import DataDir
from client.connection import DEFAULT_RPC_URL, connect
from client.consortium import ConsortiumClient
from client.errors import CoLedgerValueError
from client.flow_rules import Action, FlowInput, FlowKind, Rule, RuleSet
from client.flows import AlertCursor, FundFlowsClient
from client.keys import Keystore, demo_password
from client.tx import TransactionPipeline

__all__ = ["STANDARD_RULES", "register"]

DAY = 86_400
# A conservative starting rule set (amounts in fen): large or frequent P2P transfers, cash,
# off-platform spending, debt rolling and fast outflow are stopped or checked. Governance tunes it.
STANDARD_RULES = RuleSet(
    p2p_single_max=500_000, p2p_single_action=Action.VERIFY,
    p2p_max_count=5, p2p_window=DAY, p2p_count_action=Action.FLAG,
    cash_single_max=200_000, cash_single_action=Action.VERIFY,
    cash_max_share_bp=3_000, cash_share_action=Action.HOLD,
    off_platform_max_share_bp=3_000, off_platform_action=Action.VERIFY,
    prohibited_category_action=Action.HOLD,
    debt_rolling_days=30, debt_rolling_action=Action.HOLD,
    velocity_window=DAY, velocity_max_share_bp=8_000, velocity_action=Action.FLAG,
)
# Merchant category codes loan money must not reach: securities brokers, gambling, real estate.
PROHIBITED_MCC = (6211, 7995, 6513)
_KINDS = {
    "merchant": FlowKind.MERCHANT_PAYMENT, "p2p": FlowKind.P2P_TRANSFER,
    "cash": FlowKind.CASH_WITHDRAWAL, "off-platform": FlowKind.OFF_PLATFORM_PAYMENT,
    "repayment": FlowKind.REPAYMENT, "refund": FlowKind.REFUND,
}


def _common(p: argparse.ArgumentParser, signing: bool) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("./coledger-data"))
    p.add_argument("--rpc", help=f"JSON-RPC URL (default: the data dir's node, else {DEFAULT_RPC_URL})")
    if signing:
        p.add_argument("--as", dest="signer", required=True, help="keystore name of the signing key")


def _account_args(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--national-id", help="hashed locally into the pseudonymous account id")
    who.add_argument("--account", help="0x + 64 hex: the pseudonymous account id")


def register(sub: Any) -> None:
    flows = sub.add_parser("flows", help="virtual-account fund flows, rules, holds, alerts")
    actions = flows.add_subparsers(dest="flows_command", required=True, metavar="ACTION")
    p = actions.add_parser("sync", help="credit a disbursed loan's proceeds to its virtual account")
    _common(p, True)
    p.add_argument("loan_id", type=int)
    p.set_defaults(func=_sync)
    p = actions.add_parser("record", help="record one flow, or a JSON file of flows as batches")
    _common(p, True)
    p.add_argument("--file", type=Path, help="JSON list of {account|national_id, kind, amount, mcc, "
                   "counterparty, to_other_lender}")
    p.add_argument("--national-id")
    p.add_argument("--account")
    p.add_argument("--kind", choices=sorted(_KINDS))
    p.add_argument("--amount", type=int, help="fen")
    p.add_argument("--mcc", type=int, default=0, help="merchant category code")
    p.add_argument("--counterparty", default="0x" + "00" * 32)
    p.add_argument("--to-other-lender", action="store_true")
    p.set_defaults(func=_record)
    p = actions.add_parser("account", help="balance, reserve, hold, history of a virtual account")
    _common(p, False)
    _account_args(p)
    p.set_defaults(func=_account)
    p = actions.add_parser("verify", help="resolve a pending (VERIFY) flow (lead bank)")
    _common(p, True)
    p.add_argument("flow_id", type=int)
    p.add_argument("--attestation", required=True, help="0x + 64 hex: hash of the SMS/face check")
    p.add_argument("--reject", action="store_true", help="reject instead of approve")
    p.set_defaults(func=_verify)
    p = actions.add_parser("release", help="release a held account (lead bank)")
    _common(p, True)
    _account_args(p)
    p.add_argument("--reason", required=True, help="0x + 64 hex: hash of the release reason")
    p.set_defaults(func=_release)
    for name, text in (("close", "close a virtual account with zero balance (lead bank)"),
                       ("reopen", "reopen a closed virtual account (lead bank)")):
        p = actions.add_parser(name, help=text)
        _common(p, True)
        _account_args(p)
        p.add_argument("--reason", required=True, help=f"0x + 64 hex: hash of the reason to {name}")
        p.set_defaults(func=_close, reopen=name == "reopen")
    p = actions.add_parser("rules", help="propose the standard rule set for a product (governance)")
    _common(p, True)
    p.add_argument("--product", type=int, required=True)
    p.set_defaults(func=_rules)
    p = actions.add_parser("watch", help="print FLAG / VERIFY / HOLD alerts live, resumably")
    _common(p, False)
    p.add_argument("--cursor-file", type=Path, help="resume after the alert recorded here")
    p.add_argument("--once", action="store_true", help="print what is there now and exit")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    p.set_defaults(func=_watch)


def _client(args: argparse.Namespace, signing: bool = True) -> FundFlowsClient:
    data = DataDir(args.data_dir)
    record = data.read_deployment()
    w3 = connect(args.rpc or record.get("rpc_url", DEFAULT_RPC_URL))
    pipeline = None
    if signing:
        keystore = Keystore(data.keystore, demo_password(data.keystore))
        pipeline = TransactionPipeline(w3, keystore.load(args.signer))
    return FundFlowsClient(w3, record["contracts"]["FundFlows"], pipeline)


def _hex32(text: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError as exc:
        raise CoLedgerValueError(f"{what} is not hex: {text!r}") from exc
    if len(raw) != 32:
        raise CoLedgerValueError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def _account_id(args: argparse.Namespace, national_id: str | None, account: str | None) -> bytes:
    if national_id:
        return borrower_id(national_id, load_or_create_borrower_key(DataDir(args.data_dir).keystore))
    if account:
        return _hex32(account, "account")
    raise CoLedgerValueError("give --national-id or --account")


def _sync(args: argparse.Namespace) -> int:
    receipt = _client(args).sync_drawdown(args.loan_id)
    print(f"loan {args.loan_id} synced into its virtual account (block {receipt['blockNumber']})")
    return 0


def _flow_from(args: argparse.Namespace, item: dict[str, Any]) -> FlowInput:
    kind = item.get("kind")
    if kind not in _KINDS:
        raise CoLedgerValueError(f"unknown flow kind {kind!r} (kinds: {', '.join(sorted(_KINDS))})")
    amount = item.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise CoLedgerValueError(f"flow amount must be a positive integer in fen, got {amount!r}")
    return FlowInput(
        account=_account_id(args, item.get("national_id"), item.get("account")),
        kind=int(_KINDS[kind]), amount=amount, mcc=int(item.get("mcc", 0)),
        counterparty=_hex32(item.get("counterparty", "0x" + "00" * 32), "counterparty"),
        to_other_lender=bool(item.get("to_other_lender", False)),
    )


def _record(args: argparse.Namespace) -> int:
    if args.file:
        try:
            items = json.loads(args.file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CoLedgerValueError(f"cannot read flows from {args.file}: {exc}") from exc
        if not isinstance(items, list):
            raise CoLedgerValueError(f"{args.file} must hold a JSON list of flows")
    else:
        items = [{"national_id": args.national_id, "account": args.account, "kind": args.kind,
                  "amount": args.amount, "mcc": args.mcc, "counterparty": args.counterparty,
                  "to_other_lender": args.to_other_lender}]
    flows = [_flow_from(args, item) for item in items]
    for r in _client(args).record_flows(flows):
        fired = ",".join(rule.name.lower() for rule in Rule if r.rules_fired & (1 << int(rule)))
        spent = " ".join(f"loan {loan}:{amount}" for loan, amount in r.lineage)
        print(f"flow {r.flow_id} {r.kind.name.lower()} {r.amount} fen: {r.verdict.name}"
              f"{' (' + fired + ')' if fired else ''}{' from ' + spent if spent else ''}")
    return 0


_STATUS = {1: "pending", 2: "approved", 3: "rejected"}


def _settlement(client: Any, r: Any) -> dict[str, str]:
    """A Verify flow's fate (the verdict stays what the rules said; the status is what the
    verification decided): pending until settled, then approved (spent) or rejected."""
    if r.verdict.name != "VERIFY":
        return {}
    return {"status": _STATUS.get(client.flow(r.flow_id)["status"], "unknown")}


def _account(args: argparse.Namespace) -> int:
    client = _client(args, signing=False)
    account = _account_id(args, args.national_id, args.account)
    info = client.account(account)
    print(json.dumps({
        "account": "0x" + account.hex(), **vars(info),
        "pending_verifications": client.pending_verifications(account),
        "history": [{"flow": r.flow_id, "kind": r.kind.name.lower(), "amount": r.amount,
                     "verdict": r.verdict.name, **_settlement(client, r),
                     "lineage": [{"loan": loan, "amount": amount} for loan, amount in r.lineage]}
                    for r in client.history(account)],
    }, indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    lineage = _client(args).resolve_verification(
        args.flow_id, _hex32(args.attestation, "attestation"), not args.reject)
    print(f"flow {args.flow_id} {'rejected' if args.reject else 'approved'}"
          f"{' and settled from ' + str(list(lineage)) if lineage else ''}")
    return 0


def _release(args: argparse.Namespace) -> int:
    account = _account_id(args, args.national_id, args.account)
    _client(args).release_hold(account, _hex32(args.reason, "reason"))
    print(f"account 0x{account.hex()} released")
    return 0


def _close(args: argparse.Namespace) -> int:
    account = _account_id(args, args.national_id, args.account)
    client = _client(args)
    reason = _hex32(args.reason, "reason")
    if args.reopen:
        client.reopen_account(account, reason)
    else:
        client.close_account(account, reason)
    print(f"account 0x{account.hex()} {'reopened' if args.reopen else 'closed'}")
    return 0


def _rules(args: argparse.Namespace) -> int:
    client = _client(args)
    record = DataDir(args.data_dir).read_deployment()
    governance = ConsortiumClient(client.w3, record["contracts"]["Consortium"], client.pipeline)
    out = governance.propose_call(client.address, client.set_rules_call(args.product, STANDARD_RULES))
    print(f"proposal {out.proposal_id}: standard rules for product {args.product}"
          f" ({'executed' if out.executed else f'{out.approvals} approval(s) so far'})")
    for mcc in PROHIBITED_MCC:
        out = governance.propose_call(
            client.address, client.set_prohibited_category_call(args.product, mcc, True))
        print(f"proposal {out.proposal_id}: prohibit merchant category {mcc}"
              f" ({'executed' if out.executed else f'{out.approvals} approval(s) so far'})")
    return 0


def _watch(args: argparse.Namespace) -> int:
    client = _client(args, signing=False)
    cursor = AlertCursor()
    if args.cursor_file and args.cursor_file.is_file():
        saved = json.loads(args.cursor_file.read_text())
        cursor = AlertCursor(int(saved["block"]), int(saved["log_index"]))
    stream = [client.alerts(cursor)[0]] if args.once else None
    alerts = stream[0] if stream is not None else client.watch_alerts(cursor, args.poll)
    for alert in alerts:
        fired = ",".join(rule.name.lower() for rule in Rule if alert.rules_fired & (1 << int(rule)))
        print(f"block {alert.block_number} flow {alert.flow_id} account 0x{alert.account.hex()[:16]}.. "
              f"product {alert.product_id}: {alert.verdict.name} ({fired}) tx {alert.tx_hash}",
              flush=True)
        if args.cursor_file:
            tmp = args.cursor_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"block": alert.block_number, "log_index": alert.log_index}))
            tmp.replace(args.cursor_file)
    sys.stdout.flush()
    return 0
