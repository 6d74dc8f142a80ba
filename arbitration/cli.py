"""`coledger evidence ...` and `coledger api start`: the evidence service's CLI plugin.

Registered through the `coledger.commands` entry point (pyproject.toml), so `client` never
imports `arbitration`. Conventions are the SDK CLI's: `--data-dir` (keystore, deployment.json;
the vault defaults to DATA_DIR/evidence), `--rpc`, `--as NAME` for the signing key; an error is
one line on stderr with exit status 2. `evidence verify` exits 0 when the bundle verifies, 1 when
a check fails (naming the item and the check), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

from client.config import DataDir
from client.connection import DEFAULT_RPC_URL, connect
from client.errors import CoLedgerError
from client.evidence_chain import CaseStatus
from client.keys import Keystore, demo_password

from ._api_cli import register_api_client_commands
from ._verify_cli import verify_command
from .demo.cli import register as register_demo
from .errors import ArbitrationError
from .reader_keys import derive_reader_key
from .submit import EvidenceSubmitter, guess_media_type, parse_kind
from .vault import EvidenceVault

__all__ = ["register", "DEFAULT_API_PORT"]

DEFAULT_API_PORT = 8600
_DEFAULT_DATA_DIR = Path("./coledger-data")
_KINDS = "loan_agreement, disbursement_receipt, repayment_schedule, repayment_record, overdue_notice, " \
         "collection_log, fund_flow_trace, verification_record, other"


class UsageError(Exception):
    """A bad argument found after parsing (missing file, unknown member...): exit 2."""


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a handler; any expected failure becomes one line on stderr and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (UsageError, ArbitrationError, CoLedgerError, ValueError, OSError) as exc:
            print(f"coledger: error: {exc}", file=sys.stderr)
            return 2

    return run


def _common(p: argparse.ArgumentParser, *, chain: bool = True, signing: bool = True, vault: bool = True) -> None:
    p.add_argument("--data-dir", type=Path, default=_DEFAULT_DATA_DIR,
                   help="keys in DATA_DIR/keystore, contracts in DATA_DIR/deployment.json")
    if chain:
        p.add_argument("--rpc", help=f"JSON-RPC URL (default: the data dir's node, else {DEFAULT_RPC_URL})")
    if signing:
        p.add_argument("--as", dest="signer", required=True, help="keystore name of the member's key")
    if vault:
        p.add_argument("--vault", type=Path, help="evidence vault directory (default: DATA_DIR/evidence)")


def register(sub: Any) -> None:
    """Add `evidence` and `api` to the top-level subparsers (the `coledger.commands` entry point)."""
    ev = sub.add_parser("evidence", help="default evidence: submit, anchor, open cases, awards, verify")
    actions = ev.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")

    p = actions.add_parser("register-key", help="publish the member's evidence reader key on chain")
    _common(p, vault=False)
    p.set_defaults(func=_guard(_register_key))

    p = actions.add_parser("submit", help="seal, store and anchor one evidence file (lead bank)")
    _common(p)
    p.add_argument("--loan", type=int, required=True, help="loan id")
    p.add_argument("--kind", required=True, help=f"one of: {_KINDS}")
    p.add_argument("--media-type", help="default: guessed from the file name")
    p.add_argument("--collected", default="", help="how the evidence was collected (free text)")
    p.add_argument("file", type=Path)
    p.set_defaults(func=_guard(_submit))

    p = actions.add_parser("anchor-batch", help="seal and store files, anchor one Merkle root (lead bank)")
    _common(p)
    p.add_argument("--loan", type=int, required=True)
    p.add_argument("--kind", required=True, help=f"one of: {_KINDS}")
    p.add_argument("--collected", default="")
    p.add_argument("files", type=Path, nargs="+")
    p.set_defaults(func=_guard(_anchor_batch))

    p = actions.add_parser("open-case", help="open an arbitration case on a defaulted loan (lead bank)")
    _common(p)
    p.add_argument("--loan", type=int, required=True)
    p.add_argument("--arbitrator", required=True, help="address, consortium member name or keystore name")
    p.set_defaults(func=_guard(_open_case))

    p = actions.add_parser("award", help="sign (EIP-712) and record an award (the case's arbitrator)")
    _common(p, vault=False)
    p.add_argument("--case", type=int, required=True)
    p.add_argument("--award-file", type=Path, required=True, help="the award document; its SHA-256 is recorded")
    p.set_defaults(func=_guard(_award))

    p = actions.add_parser("open", help="decrypt an item from the local vault with the member's reader key")
    _common(p, chain=False)
    p.add_argument("evidence_id", help="0x + 64 hex")
    p.add_argument("--out", type=Path, required=True, help="where to write the plaintext (must not exist)")
    p.set_defaults(func=_guard(_open))

    p = actions.add_parser("verify", help="verify a bundle (.json) or a case bundle (.zip); --rpc checks anchors")
    p.add_argument("bundle", type=Path)
    p.add_argument("--rpc", help="also check every anchor against this chain's JSON-RPC")
    p.add_argument("--validators", type=Path, metavar="FILE",
                   help="a consortium network's genesis.json: check offline that more than 2/3 of "
                        "the validators it names signed each anchoring block, and report its BFT time")
    p.set_defaults(func=verify_command)

    api = sub.add_parser("api", help="the arbitration HTTP API")
    api_actions = api.add_subparsers(dest="api_command", required=True, metavar="ACTION")
    p = api_actions.add_parser("start", help="serve the API (token secret: $COLEDGER_API_TOKEN_SECRET)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_API_PORT)
    p.add_argument("--rpc", help="JSON-RPC URL (default: $COLEDGER_API_RPC_URL, else the data dir's node)")
    p.add_argument("--data-dir", type=Path,
                   help="deployment.json, vault and index from here (default ./coledger-data unless "
                        "COLEDGER_API_* variables name them)")
    p.set_defaults(func=_guard(_api_start))
    register_api_client_commands(api_actions, _guard, _DEFAULT_DATA_DIR, DEFAULT_API_PORT)
    register_demo(sub)


# --- context ----------------------------------------------------------------------------------


def _keystore(args: argparse.Namespace) -> Keystore:
    directory = DataDir(args.data_dir).keystore
    return Keystore(directory, demo_password(directory))


def _vault(args: argparse.Namespace) -> EvidenceVault:
    return EvidenceVault(args.vault if args.vault is not None else args.data_dir / "evidence")


def _contracts(args: argparse.Namespace) -> tuple[Any, dict[str, str]]:
    record = DataDir(args.data_dir).read_deployment()
    contracts = dict(record.get("contracts", {}))
    missing = [n for n in ("EvidenceRegistry", "ArbitrationCases") if n not in contracts]
    if missing:
        raise UsageError(f"{DataDir(args.data_dir).deployment} names no {' or '.join(missing)}: start the "
                         "node with a coledger that deploys the evidence contracts")
    return connect(args.rpc or record.get("rpc_url", DEFAULT_RPC_URL)), contracts


def _submitter(args: argparse.Namespace, vault: bool = True) -> EvidenceSubmitter:
    w3, contracts = _contracts(args)
    account = _keystore(args).load(args.signer)
    store = _vault(args) if vault else EvidenceVault(args.data_dir / "evidence")
    return EvidenceSubmitter(w3, contracts["EvidenceRegistry"], contracts["ArbitrationCases"], account, store)


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    return path.read_bytes()


def _hx(b: bytes) -> str:
    return "0x" + b.hex()


# --- handlers ---------------------------------------------------------------------------------


def _register_key(args: argparse.Namespace) -> int:
    sub = _submitter(args, vault=False)
    sent = sub.ensure_reader_key()
    state = "registered" if sent else "already registered"
    print(f"reader key {_hx(sub.reader_public)} of {args.signer} ({sub.address}): {state}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    content = _read(args.file)
    kind = parse_kind(args.kind)
    sub = _submitter(args)
    media = args.media_type or guess_media_type(args.file.name)
    r = sub.submit_evidence(args.loan, kind, content, media_type=media, collected=args.collected)
    record = sub.vault.record(r.evidence_id).record
    print(f"evidence {_hx(r.evidence_id)} anchored: loan {args.loan}, {kind.json_name}, {len(content)} bytes "
          f"({media})")
    print(f"  item hash {_hx(r.item_hash)}  prev {_hx(record.prev)}")
    print(f"  sha256 {_hx(record.sha256)}  sm3 {_hx(record.sm3)}")
    print(f"  tx {r.tx_hash}  block {r.block_number}")
    return 0


def _anchor_batch(args: argparse.Namespace) -> int:
    kind = parse_kind(args.kind)
    contents = [_read(f) for f in args.files]
    sub = _submitter(args)
    media = {guess_media_type(f.name) for f in args.files}
    receipt = sub.anchor_batch([(args.loan, kind, c) for c in contents],
                               media_type=media.pop() if len(media) == 1 else "application/octet-stream",
                               collected=args.collected)
    print(f"batch {receipt.batch_id} anchored: root {_hx(receipt.root)}, {receipt.size} items, loan {args.loan}, "
          f"{kind.json_name}")
    for i, (f, eid) in enumerate(zip(args.files, receipt.evidence_ids, strict=True)):
        print(f"  leaf {i}: {_hx(eid)}  {f}")
    print(f"  tx {receipt.tx_hash}  block {receipt.block_number}")
    return 0


def _resolve_member(args: argparse.Namespace, sub: EvidenceSubmitter, who: str) -> str:
    if is_address(who):
        return str(to_checksum_address(who))
    from client.consortium import ConsortiumClient, Role

    record = DataDir(args.data_dir).read_deployment()
    members = ConsortiumClient(sub.w3, record["contracts"]["Consortium"]).members()
    named = [m for m in members if m.name.casefold() == who.casefold()]
    if len(named) == 1:
        return str(to_checksum_address(named[0].key))
    keystore = _keystore(args)
    if keystore.exists(who):
        return keystore.address(who)
    arbitrators = ", ".join(repr(m.name) for m in members if Role.ARBITRATOR in m.roles) or "none"
    raise UsageError(f"no member or key named {who!r} (arbitrators: {arbitrators})")


def _open_case(args: argparse.Namespace) -> int:
    sub = _submitter(args)
    arbitrator = _resolve_member(args, sub, args.arbitrator)
    case_id = sub.open_case(args.loan, arbitrator)
    info = sub.cases.case(case_id)
    print(f"case {case_id} opened on loan {args.loan}: arbitrator {arbitrator}, block {info.opened_block}")
    print(f"  frozen head {_hx(info.frozen_head)}, {info.frozen_count} items; their keys are wrapped for the "
          "arbitrator in the vault")
    return 0


def _award(args: argparse.Namespace) -> int:
    award_hash = hashlib.sha256(_read(args.award_file)).digest()
    sub = _submitter(args, vault=False)
    info = sub.cases.case(args.case)
    if info.status == CaseStatus.NONE:
        raise UsageError(f"case {args.case} does not exist")
    signature = sub.cases.sign_award(sub.account, args.case, info.loan_id, award_hash)
    receipt = sub.cases.record_award(args.case, award_hash, signature)
    tx = receipt["transactionHash"]
    tx_hex = tx if isinstance(tx, str) else _hx(bytes(tx))
    print(f"award recorded on case {args.case} (loan {info.loan_id}): award hash {_hx(award_hash)}")
    print(f"  EIP-712 signature {_hx(signature)}")
    print(f"  tx {tx_hex}  block {receipt['blockNumber']}")
    return 0


def _open(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise UsageError(f"{args.out} exists; choose a new --out file")
    vault = _vault(args)
    account = _keystore(args).load(args.signer)
    plaintext = vault.open(args.evidence_id, derive_reader_key(bytes(account.key)))
    stored = vault.record(args.evidence_id)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(plaintext)
    print(f"evidence {_hx(stored.evidence_id)} ({stored.record.kind.json_name}, {stored.media_type}): "
          f"{len(plaintext)} bytes written to {args.out}")
    print("  ciphertext sha256, plaintext sha256 and sm3 match the record")
    return 0


def _api_start(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        from arbitration.api.settings import ApiSettings
    except ImportError as exc:
        raise UsageError(f"the arbitration API cannot be loaded: {exc}") from exc

    explicit = args.data_dir is not None
    data = DataDir(args.data_dir if explicit else _DEFAULT_DATA_DIR)
    derived: dict[str, Any] = {
        "deployment_file": data.deployment,
        "vault_dir": data.root / "evidence",
        "index_path": data.root / "evidence" / "index.sqlite3",
    }
    overrides = {k: v for k, v in derived.items() if explicit or f"COLEDGER_API_{k.upper()}" not in os.environ}
    if args.rpc:
        overrides["rpc_url"] = args.rpc
    elif "COLEDGER_API_RPC_URL" not in os.environ and data.deployment.is_file():
        overrides["rpc_url"] = data.read_deployment().get("rpc_url", DEFAULT_RPC_URL)
    try:
        settings = ApiSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"API settings: {problems} (set COLEDGER_API_TOKEN_SECRET etc.)") from None
    try:
        from arbitration.api.server import run
    except ImportError as exc:
        raise UsageError(f"the arbitration API cannot be loaded: {exc}") from exc
    print(f"arbitration API on http://{args.host}:{args.port} (vault {settings.vault_dir}, "
          f"chain {settings.rpc_url}); stop with Ctrl-C", flush=True)
    run(settings, args.host, args.port)
    return 0
