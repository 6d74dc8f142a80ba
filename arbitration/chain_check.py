"""Check a bundle's anchors (and a case's award) against a chain the verifier chooses.

``verify_bundle`` proves a bundle is internally consistent; this module proves its anchors are
on chain. It speaks plain JSON-RPC over ``urllib`` to ``rpc_url`` — no web3, no index, no
artifacts — so an arbitration body can point it at its own node. For every batch:

1. ``eth_chainId`` equals the anchor's chain id;
2. ``eth_getTransactionReceipt(tx_hash)`` exists, has status 1, and the anchor's block number
   and hash;
3. the receipt has a log from the anchor's contract that anchors this root: an
   ``EvidenceBatchAnchored`` with the root topic and the bundle's tree size, or — for a batch of
   one — an ``EvidenceAnchored`` whose item hash is the root; its submitter is the anchor's;
4. ``eth_getBlockByNumber(block_number)`` has the anchor's block hash and timestamp.

The first difference raises ``AnchorMismatchError(batch_root, field, detail)``; an endpoint that
cannot be reached raises ``ChainUnreachableError``. ``check_award`` recovers the EIP-712 signer
of a case's award offline (eth-account) and compares it with the case's arbitrator;
``check_case`` also finds the case's opening and award transactions on chain.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from . import _evidence_abi as ev
from .bundle import Bundle
from .errors import AnchorMismatchError, AwardSignatureError, CaseMismatchError, ChainRpcError, ChainUnreachableError

__all__ = ["AnchorCheck", "JsonRpc", "check_anchors", "check_award", "check_case", "find_anchor_log"]


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """One batch anchor found on chain as the bundle says."""

    batch_root: bytes
    tree_size: int
    event: str  # "EvidenceBatchAnchored" or "EvidenceAnchored"
    contract: bytes
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    timestamp: int


class JsonRpc:
    """A minimal JSON-RPC 2.0 client over urllib (one request per call)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ChainUnreachableError(url, "only http(s) JSON-RPC endpoints are supported")
        self.url = url
        self.timeout = timeout
        self._id = 0

    def call(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) only
                raw = response.read()
        except urllib.error.HTTPError as e:
            raw = e.read()  # JSON-RPC errors may come with HTTP 4xx/5xx
            if not raw:
                raise ChainUnreachableError(self.url, f"HTTP {e.code}") from e
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise ChainUnreachableError(self.url, str(getattr(e, "reason", e))) from e
        try:
            reply = json.loads(raw)
        except ValueError as e:
            raise ChainUnreachableError(self.url, "the answer is not JSON") from e
        if not isinstance(reply, dict):
            raise ChainUnreachableError(self.url, "the answer is not a JSON-RPC response object")
        if reply.get("error") is not None:
            raise ChainRpcError(method, reply["error"])
        return reply.get("result")


def _hx(b: bytes | None) -> str:
    return "None" if b is None else "0x" + b.hex()


def find_anchor_log(logs: list[dict[str, Any]], contract: bytes, root: bytes, size: int) -> tuple[str, bytes] | None:
    """(event name, submitter) of the receipt log anchoring ``root`` from ``contract``, if any."""
    for log in logs:
        if ev.hexbytes(log.get("address", "0x")) != contract:
            continue
        t = ev.topics(log)
        data = ev.hexbytes(log.get("data", "0x"))
        if len(t) == 4 and t[0] == ev.BATCH_ANCHORED and t[2] == root:
            return "EvidenceBatchAnchored", ev.address_of(t[3])
        if size == 1 and len(t) == 4 and t[0] == ev.EVIDENCE_ANCHORED and data[32:64] == root:
            return "EvidenceAnchored", ev.address_of(t[3])
    return None


def check_anchors(bundle: Bundle, rpc_url: str, *, case_json: Mapping[str, Any] | None = None,
                  timeout: float = 10.0) -> list[AnchorCheck]:
    """Check every batch anchor of ``bundle`` on the chain at ``rpc_url`` (and ``case_json``'s
    award signature and transactions, if given); returns what was found, batch by batch."""
    rpc = JsonRpc(rpc_url, timeout)
    chain_id = ev.hexint(rpc.call("eth_chainId", []))
    out: list[AnchorCheck] = []
    for b in bundle.batches:
        a = b.anchor

        def fail(field: str, detail: str, root: bytes = b.root) -> AnchorMismatchError:
            return AnchorMismatchError(root, field, detail)

        if not a.anchored or a.tx_hash is None or a.contract is None or a.block_hash is None:
            raise fail("anchor", "the bundle carries no anchor for this batch")
        if a.chain_id != chain_id:
            raise fail("chain_id", f"bundle says chain {a.chain_id}, {rpc_url} serves chain {chain_id}")
        receipt = rpc.call("eth_getTransactionReceipt", [_hx(a.tx_hash)])
        if not isinstance(receipt, dict):
            raise fail("tx_hash", f"the chain has no transaction {_hx(a.tx_hash)}")
        if ev.hexint(receipt.get("status", "0x0")) != 1:
            raise fail("status", f"transaction {_hx(a.tx_hash)} failed (status {receipt.get('status')})")
        if ev.hexint(receipt["blockNumber"]) != a.block_number:
            raise fail("block_number", f"transaction is in block {ev.hexint(receipt['blockNumber'])}, "
                                       f"bundle says {a.block_number}")
        if ev.hexbytes(receipt["blockHash"]) != a.block_hash:
            raise fail("block_hash", f"transaction's block hash is {receipt['blockHash']}, bundle says "
                                     f"{_hx(a.block_hash)}")
        logs = receipt.get("logs") or []
        if not any(ev.hexbytes(log.get("address", "0x")) == a.contract for log in logs):
            raise fail("contract", f"transaction {_hx(a.tx_hash)} has no log from {_hx(a.contract)}")
        found = find_anchor_log(logs, a.contract, b.root, b.tree_size)
        if found is None:
            raise fail("root", f"no log of {_hx(a.contract)} in the transaction anchors this root")
        event, submitter = found
        if event == "EvidenceBatchAnchored":
            log = next(x for x in logs if len(ev.topics(x)) == 4 and ev.topics(x)[2] == b.root
                       and ev.topics(x)[0] == ev.BATCH_ANCHORED)
            size = int.from_bytes(ev.hexbytes(log.get("data", "0x"))[:32], "big")
            if size != b.tree_size:
                raise fail("tree_size", f"chain anchored size {size}, bundle says {b.tree_size}")
        if a.submitter is not None and submitter != a.submitter:
            raise fail("submitter", f"anchored by {_hx(submitter)}, bundle says {_hx(a.submitter)}")
        header = rpc.call("eth_getBlockByNumber", [hex(a.block_number or 0), False])
        if not isinstance(header, dict):
            raise fail("block_number", f"the chain has no block {a.block_number}")
        if ev.hexbytes(header["hash"]) != a.block_hash:
            raise fail("block_hash", f"block {a.block_number} has hash {header['hash']}, "
                                     f"bundle says {_hx(a.block_hash)}")
        if ev.hexint(header["timestamp"]) != a.timestamp:
            raise fail("timestamp", f"block {a.block_number} has time {ev.hexint(header['timestamp'])}, "
                                    f"bundle says {a.timestamp}")
        out.append(AnchorCheck(b.root, b.tree_size, event, a.contract, a.block_number or 0, a.block_hash,
                               a.tx_hash, a.timestamp or 0))
    if case_json is not None:
        check_case(case_json, rpc_url, timeout=timeout)
    return out


def _case_id(case_json: Mapping[str, Any]) -> int:
    try:
        return int(case_json["case_id"])
    except (KeyError, TypeError, ValueError):
        return 0


def check_award(case_json: Mapping[str, Any]) -> str | None:
    """Recover the award's EIP-712 signer offline; raise ``AwardSignatureError`` unless it is the
    case's arbitrator. Returns the signer (``None`` if the case has no award yet)."""
    case_id = _case_id(case_json)
    award = case_json.get("award")
    if award is None:
        return None
    try:
        typed = award["eip712"]
        message = typed["message"]
        domain = typed["domain"]
        signature = ev.hexbytes(award["signature"])
        arbitrator = to_checksum_address(case_json["arbitrator"])
    except (KeyError, TypeError, ValueError) as e:
        raise CaseMismatchError(case_id, "award", f"case.json award is malformed: {e!r}") from e
    expected = {
        "caseId": case_id, "loanId": case_json.get("loan_id"), "awardHash": award.get("award_hash")}
    for key, want in expected.items():
        if message.get(key) != want:
            raise CaseMismatchError(case_id, f"award.eip712.message.{key}", f"{message.get(key)!r}, want {want!r}")
    want_domain = case_json.get("eip712_domain")
    if want_domain is not None and domain != want_domain:
        raise CaseMismatchError(case_id, "award.eip712.domain", "differs from eip712_domain")
    try:
        recovered = str(Account.recover_message(encode_typed_data(full_message=dict(typed)), signature=signature))
    except Exception as e:  # noqa: BLE001 - any malformed signature is a signature failure
        raise AwardSignatureError(case_id, arbitrator, f"nothing ({e})") from e
    if recovered != arbitrator:
        raise AwardSignatureError(case_id, arbitrator, recovered)
    return recovered


def _receipt_log(rpc: JsonRpc, case_id: int, tx: str, contract: bytes, topic0: bytes, field: str) -> dict[str, Any]:
    receipt = rpc.call("eth_getTransactionReceipt", [tx])
    if not isinstance(receipt, dict) or ev.hexint(receipt.get("status", "0x0")) != 1:
        raise CaseMismatchError(case_id, field, f"transaction {tx} is missing or failed")
    for log in receipt.get("logs") or []:
        t = ev.topics(log)
        if ev.hexbytes(log.get("address", "0x")) == contract and t and t[0] == topic0 \
                and int.from_bytes(t[1], "big") == case_id:
            return dict(log)
    raise CaseMismatchError(case_id, field, f"transaction {tx} has no such event of case {case_id}")


def check_case(case_json: Mapping[str, Any], rpc_url: str, *, timeout: float = 10.0) -> None:
    """Check ``case.json`` on chain: the opening tx emitted its CaseOpened (loan, arbitrator,
    frozen head and count), the award tx its AwardRecorded (hash, signature) — and the award
    signature offline."""
    case_id = _case_id(case_json)
    check_award(case_json)
    rpc = JsonRpc(rpc_url, timeout)
    try:
        contract = ev.hexbytes(case_json["contracts"]["ArbitrationCases"])
        opened = case_json["opened"]
        if ev.hexint(rpc.call("eth_chainId", [])) != case_json["chain_id"]:
            raise CaseMismatchError(case_id, "chain_id", f"{rpc_url} serves another chain")
        log = _receipt_log(rpc, case_id, opened["tx_hash"], contract, ev.CASE_OPENED, "opened.tx_hash")
        decoded = ev.decode(log)
        if not isinstance(decoded, ev.CaseOpenedLog) or (
            decoded.loan_id, to_checksum_address(decoded.arbitrator), "0x" + decoded.frozen_head.hex(),
            decoded.frozen_count,
        ) != (case_json["loan_id"], to_checksum_address(case_json["arbitrator"]), case_json["frozen_head"],
              case_json["frozen_count"]):
            raise CaseMismatchError(case_id, "opened", "CaseOpened on chain differs from case.json")
        if ev.hexint(log["blockNumber"]) != opened["block_number"] or log["blockHash"] != opened["block_hash"]:
            raise CaseMismatchError(case_id, "opened.block_number", "the opening tx is in another block")
        award = case_json.get("award")
        if award is not None:
            log = _receipt_log(rpc, case_id, award["tx_hash"], contract, ev.AWARD_RECORDED, "award.tx_hash")
            decoded = ev.decode(log)
            if not isinstance(decoded, ev.AwardRecordedLog) or (
                "0x" + decoded.award_hash.hex(), "0x" + decoded.signature.hex()
            ) != (award["award_hash"], award["signature"]):
                raise CaseMismatchError(case_id, "award", "AwardRecorded on chain differs from case.json")
    except (KeyError, TypeError, ValueError) as e:
        raise CaseMismatchError(case_id, "case.json", f"malformed: {e!r}") from e
