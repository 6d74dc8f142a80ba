"""`coledger product|line|loan|book`: the co-lending verbs of the CLI.

Partners' keys never leave them: `loan commit` signs (or transacts) with the partner's own key.
In the demo data dir all institutions' keystores sit side by side, so `loan draw --partners`
can collect each partner's signature with that partner's key in one command — which is exactly
what the partners would each do on their own machines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from client.book import lender_book, portfolio
from client.borrower import borrower_id, load_or_create_borrower_key
from client.commitments import Commitment
from client.config import DataDir
from client.connection import DEFAULT_RPC_URL, connect
from client.consortium import ConsortiumClient
from client.errors import CoLedgerValueError
from client.keys import Keystore, demo_password
from client.lending import CollectionStep, DrawdownInfo, LendingClient
from client.lending_math import schedule
from client.products import weloan_terms
from client.suite import LendingAddresses
from client.tx import TransactionPipeline

__all__ = ["register"]


def _chain_args(p: argparse.ArgumentParser, signing: bool = True) -> None:
    p.add_argument("--data-dir", type=Path, default=Path("./coledger-data"))
    p.add_argument("--rpc", help=f"JSON-RPC URL (default: the data dir's node, else {DEFAULT_RPC_URL})")
    if signing:
        p.add_argument("--as", dest="signer", required=True, help="keystore name of the signing key")


def register(sub: Any) -> None:
    """Add the lending subcommands to the top-level parser's subparsers."""
    product = sub.add_parser("product", help="loan products").add_subparsers(
        dest="product_command", required=True, metavar="ACTION")
    create = product.add_parser("create", help="define a product (lead bank, or --governance)")
    _chain_args(create)
    create.add_argument("--name", default="WeLoan-style consumer")
    create.add_argument("--rate-bp", type=int, default=1_800, help="annual rate, basis points")
    create.add_argument("--partners", required=True, help="partner member ids, comma separated")
    create.add_argument("--governance", action="store_true",
                        help="propose it as a governance call instead of defining it directly")
    create.set_defaults(func=_product_create)
    show = product.add_parser("show", help="show a product")
    _chain_args(show, signing=False)
    show.add_argument("product_id", type=int)
    show.set_defaults(func=_product_show)

    line = sub.add_parser("line", help="credit lines").add_subparsers(
        dest="line_command", required=True, metavar="ACTION")
    opened = line.add_parser("open", help="open a credit line for a borrower (lead bank)")
    _chain_args(opened)
    opened.add_argument("--product", type=int, required=True)
    opened.add_argument("--national-id", required=True, help="hashed locally; never sent")
    opened.add_argument("--limit", type=int, required=True, help="fen")
    opened.add_argument("--score-band", type=int, required=True)
    opened.add_argument("--model-hash", required=True, type=hash32,
                        help="0x + 64 hex: decision model version")
    opened.set_defaults(func=_line_open)

    loan = sub.add_parser("loan", help="drawdowns, repayments, delinquency").add_subparsers(
        dest="loan_command", required=True, metavar="ACTION")
    draw = loan.add_parser("draw", help="propose a drawdown; with --partners, collect and disburse")
    _chain_args(draw)
    draw.add_argument("--line", type=int, required=True)
    draw.add_argument("--amount", type=int, required=True, help="fen")
    draw.add_argument("--installments", type=int, required=True)
    draw.add_argument("--partners", help="keystore names of partners who sign (demo data dir)")
    draw.set_defaults(func=_loan_draw)
    commit = loan.add_parser("commit", help="a partner commits its share by its own transaction")
    _chain_args(commit)
    commit.add_argument("drawdown_id", type=int)
    commit.set_defaults(func=_loan_commit)
    disburse = loan.add_parser("disburse", help="disburse once every partner committed (lead)")
    _chain_args(disburse)
    disburse.add_argument("drawdown_id", type=int)
    disburse.set_defaults(func=_loan_disburse)
    repay = loan.add_parser("repay", help="record a borrower repayment (lead bank)")
    _chain_args(repay)
    repay.add_argument("loan_id", type=int)
    repay.add_argument("amount", type=int, help="fen")
    repay.set_defaults(func=_loan_repay)
    show_loan = loan.add_parser("show", help="a loan's state, dues, lenders and schedule")
    _chain_args(show_loan, signing=False)
    show_loan.add_argument("loan_id", type=int)
    show_loan.add_argument("--history", action="store_true", help="also list every event of the loan")
    show_loan.set_defaults(func=_loan_show)
    classify = loan.add_parser("classify", help="accrue penalty and classify a loan now")
    _chain_args(classify)
    classify.add_argument("loan_id", type=int)
    classify.set_defaults(func=_loan_classify)
    step = loan.add_parser("collect", help="record a collection step (lead bank)")
    _chain_args(step)
    step.add_argument("loan_id", type=int)
    step.add_argument("step", choices=[s.name.lower().replace("_", "-") for s in CollectionStep][1:])
    step.add_argument("--evidence-hash", type=hash32, default=bytes(32),
                      help="0x + 64 hex: the collection record's hash (e.g. `sha256sum FILE`, "
                           "prefixed 0x)")
    step.set_defaults(func=_loan_collect)

    book = sub.add_parser("book", help="a lender's book by classification, and the portfolio NPL ratio")
    _chain_args(book, signing=False)
    book.add_argument("--member", type=int, help="member id (default: the portfolio only)")
    book.set_defaults(func=_book)


def _client(args: argparse.Namespace, signing: bool = True) -> tuple[LendingClient, Keystore]:
    data = DataDir(args.data_dir)
    record = data.read_deployment()
    w3 = connect(args.rpc or record.get("rpc_url", DEFAULT_RPC_URL))
    contracts = record["contracts"]
    addresses = LendingAddresses(contracts["ProductCatalog"], contracts["LoanLedger"],
                                 contracts["CreditLines"])
    keystore = Keystore(data.keystore, demo_password(data.keystore))
    pipeline = TransactionPipeline(w3, keystore.load(args.signer)) if signing else None
    return LendingClient(w3, addresses, pipeline), keystore


def _consortium(client: LendingClient, args: argparse.Namespace) -> ConsortiumClient:
    record = DataDir(args.data_dir).read_deployment()
    return ConsortiumClient(client.w3, record["contracts"]["Consortium"], client.pipeline)


def _ids(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise CoLedgerValueError(f"expected comma-separated member ids, got {text!r}") from exc


def _product_create(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    consortium = _consortium(client, args)
    lead_id = consortium.member_id_of(client.pipeline.address)  # type: ignore[union-attr]
    terms = weloan_terms(lead_id, _ids(args.partners), name=args.name, annual_rate_bp=args.rate_bp)
    if args.governance:
        outcome = consortium.propose_call(client.addresses.ProductCatalog, client.define_product_call(terms))
        state = "executed" if outcome.executed else f"{outcome.approvals} approval(s); needs more"
        print(f"governance proposal {outcome.proposal_id} to define {terms.name!r}: {state}")
        return 0
    print(f"product {client.define_product(terms)} defined: {terms.name!r}")
    return 0


def _product_show(args: argparse.Namespace) -> int:
    client, _ = _client(args, signing=False)
    terms, active = client.product(args.product_id)
    out = {k: (sorted(v) if isinstance(v, frozenset) else v) for k, v in vars(terms).items()}
    print(json.dumps({"product": args.product_id, "active": active, **out}, indent=2, default=list))
    return 0


def hash32(text: str) -> bytes:
    """argparse type: a 32-byte hash as 0x + 64 hex digits (a clear usage error otherwise)."""
    body = text.removeprefix("0x")
    try:
        value = bytes.fromhex(body)
    except ValueError:
        value = b""
    if len(value) != 32 or len(body) != 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not 0x followed by 64 hex digits")
    return value


def _line_open(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    key = load_or_create_borrower_key(DataDir(args.data_dir).keystore)
    borrower = borrower_id(args.national_id, key)
    line_id = client.open_line(args.product, borrower, args.limit, args.score_band,
                               args.model_hash)
    print(f"line {line_id} opened for borrower 0x{borrower.hex()} (limit {args.limit} fen)")
    return 0


def _print_drawdown(d: DrawdownInfo) -> None:
    parts = ", ".join(f"member {m}: {a}" for m, a in d.parts)
    print(f"drawdown {d.drawdown_id}: {d.amount} fen over {d.installments} installments; parts {parts}")


def _loan_draw(args: argparse.Namespace) -> int:
    client, keystore = _client(args)
    drawdown = client.propose_drawdown(args.line, args.amount, args.installments)
    _print_drawdown(drawdown)
    if not args.partners:
        print("waiting for partner commitments: `coledger loan commit ID --as PARTNER`")
        return 0
    consortium = _consortium(client, args)
    commitments: dict[int, Commitment] = {}
    for name in args.partners.split(","):
        partner = keystore.load(name)
        member = consortium.member_id_of(partner.address)
        commitments[member] = client.sign_commitment(partner, drawdown, member)
    partner_ids = [m for m, _ in drawdown.parts[1:]]
    receipt = client.disburse(drawdown, partner_ids, commitments)
    print(f"disbursed loan {drawdown.drawdown_id} in block {receipt['blockNumber']}")
    return 0


def _loan_commit(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    receipt = client.commit(args.drawdown_id)
    print(f"committed to drawdown {args.drawdown_id} in block {receipt['blockNumber']}")
    return 0


def _loan_disburse(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    view = client.drawdown(args.drawdown_id)
    receipt = client.disburse(view, [m for m, _ in view.parts[1:]], {})
    print(f"disbursed loan {args.drawdown_id} in block {receipt['blockNumber']}")
    return 0


def _loan_repay(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    r = client.repay(args.loan_id, args.amount)
    print(f"repaid {r.amount} fen on loan {r.loan_id}: penalty {r.to_penalty}, interest "
          f"{r.to_interest}, principal {r.to_principal}")
    for member, principal, interest, penalty in r.lender_credits:
        print(f"  member {member}: principal {principal}, interest {interest}, penalty {penalty}")
    return 0


def _loan_show(args: argparse.Namespace) -> int:
    client, _ = _client(args, signing=False)
    info = client.loan(args.loan_id)
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    fields = {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in info.fields.items()}
    rows = schedule(int(fields["principal"]), int(fields["annualRateBp"]), int(fields["installments"]))
    print(json.dumps({
        "loan": args.loan_id, **fields, "status": info.status.name.lower(),
        "category": info.category.name.lower(), "collectionStep": fields["collectionStep"],
        "due_now": client.due_at(args.loan_id, now),
        "lenders": [vars(p) for p in info.lenders],
        "schedule": [{"i": r.index, "due": int(fields["start"]) + r.due_offset_seconds,
                      "principal": r.principal, "interest": r.interest} for r in rows],
        **({"history": client.history(args.loan_id)} if args.history else {}),
    }, indent=2))
    return 0


def _loan_classify(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    category = client.classify(args.loan_id)
    print(f"loan {args.loan_id}: {category.name.lower().replace('_', ' ')}")
    return 0


def _loan_collect(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    step = CollectionStep[args.step.upper().replace("-", "_")]
    receipt = client.record_collection_step(args.loan_id, step, args.evidence_hash)
    print(f"loan {args.loan_id}: {args.step} recorded in block {receipt['blockNumber']}")
    return 0


def _book(args: argparse.Namespace) -> int:
    client, _ = _client(args, signing=False)
    if args.member is not None:
        book = lender_book(client, args.member)
        print(f"member {args.member}: {book.outstanding} fen outstanding in {book.loans} loans")
        for category, amount in book.by_category.items():
            print(f"  {category.name.lower():<16} {amount:>14}")
    p = portfolio(client)
    bp = p.npl_ratio_bp
    print(f"portfolio: {p.outstanding} fen outstanding; non-performing {p.non_performing} fen; "
          f"NPL ratio {bp // 100}.{bp % 100:02d}% ({bp} bp); loans active "
          f"{p.loans_active}, closed {p.loans_closed}, defaulted {p.loans_defaulted}")
    return 0

