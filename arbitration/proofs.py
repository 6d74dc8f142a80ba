"""Evidence bundles from the index: one item's proof, or a whole case as a zip.

``evidence_proof(index, eid)`` is a bundle v1 (``arbitration.bundle``) of one item: its record,
its RFC 6962 path in its anchoring batch (rebuilt from the batch's indexed leaves) and the
batch's anchor — chain id, registry address, block number and hash, tx hash, block time,
submitter. It verifies with ``verify_bundle(..., require_complete_chains=False)``.

``case_bundle_zip(index, vault, case_id)`` is a deterministic zip (fixed order and times) of:

- ``bundle.json`` — bundle v1 of every indexed item of the case's loan, in chain order, anchors
  filled, ``case_id`` = the case id as 32 bytes;
- ``case.json`` — the case view, its opening block/tx, the award hash and signature, and the
  award's EIP-712 typed data (domain name, version, chainId, verifyingContract; message) so the
  signature is checked offline (``arbitration.chain_check.check_award``); plus the items
  anchored after the opening (``later_additions``);
- ``ciphertexts/<ciphertext sha256 hex>.bin`` — each item's sealed blob from the vault (re-hashed
  on read: a tampered blob raises ``BlobTamperedError`` instead of being shipped);
- ``receipts/<0x tx hash>.json`` — ``{"receipt": ..., "block": ...}``: the raw
  ``eth_getTransactionReceipt`` JSON of every anchoring tx and its block's raw header JSON.

On a consortium network both bundles are v2: each anchored batch also carries the validators'
proof of its anchoring block (``arbitration.consensus``: Ethereum header, CometBFT commits on
heights N and N+1, trie proofs of the anchoring transaction and receipt).

``read_case_zip`` parses such a zip back (for ``coledger evidence verify``).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_utils import to_checksum_address

from . import _evidence_abi as ev
from .bundle import Anchor, Batch, Bundle, BundleItem, dump_bundle, parse_bundle
from .errors import BundleFormatError, CaseNotIndexedError, EvidenceIndexError, EvidenceNotIndexedError
from .index import EvidenceIndex, IndexedCase, IndexedItem
from .merkle import MerkleTree

__all__ = [
    "CASE_JSON_VERSION",
    "CaseZip",
    "case_bundle",
    "case_bundle_zip",
    "case_json",
    "evidence_proof",
    "loan_bundle",
    "read_case_zip",
]

CASE_JSON_VERSION = 1
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_ZIP_MEMBER = 256 * 1024 * 1024


def _anchor(index: EvidenceIndex, root: bytes) -> Anchor:
    info = index.anchor(root)
    chain_id = index.chain_id
    if info is None or chain_id is None:
        raise EvidenceIndexError(f"anchor 0x{root.hex()} is not in the index")
    return Anchor(
        chain_id=chain_id,
        contract=bytes.fromhex(index.addresses["EvidenceRegistry"][2:]),
        block_number=info.block_number,
        block_hash=info.block_hash,
        tx_hash=info.tx_hash,
        timestamp=info.timestamp,
        submitter=bytes.fromhex(info.submitter[2:]),
    )


def _bundle(index: EvidenceIndex, items: Sequence[IndexedItem], case_id: bytes | None) -> Bundle:
    """A bundle of ``items`` (kept in the given order), each with its path in its batch."""
    trees: dict[bytes, MerkleTree] = {}
    batches: dict[bytes, Batch] = {}
    out: list[BundleItem] = []
    for it in items:
        tree = trees.get(it.batch_root)
        if tree is None:
            leaves = index.batch_records(it.batch_root)
            tree = MerkleTree([r.item_hash() for r in leaves])
            if tree.root != it.batch_root or tree.size != it.batch_size:
                raise EvidenceIndexError(f"indexed leaves of batch 0x{it.batch_root.hex()} do not rebuild its root")
            trees[it.batch_root] = tree
            batches[it.batch_root] = Batch(tree.root, tree.size, _anchor(index, it.batch_root))
        if tree.leaf_hash(it.leaf_index) != it.item_hash:
            raise EvidenceIndexError(
                f"leaf {it.leaf_index} of batch 0x{it.batch_root.hex()} is not item 0x{it.evidence_id.hex()}")
        proof = tuple(tree.inclusion_proof(it.leaf_index))
        out.append(BundleItem(it.record(), tree.root, tree.size, it.leaf_index, proof))
    ordered = sorted(batches.values(), key=lambda b: (b.anchor.block_number or 0, b.root))
    bundle = Bundle(case_id, tuple(ordered), tuple(out))
    return _with_consensus(index, bundle)


def _with_consensus(index: EvidenceIndex, bundle: Bundle) -> Bundle:
    """On a consortium network, add each anchor's proof from the validators' signatures (bundle
    v2), so that an arbitrator verifies the anchoring time without trusting this institution."""
    if index.w3 is None:
        return bundle
    info = index.w3.provider.make_request("coledger_nodeInfo", [])
    result = info.get("result") if isinstance(info, dict) else None
    if not isinstance(result, dict) or result.get("consensus") != "cometbft":
        return bundle
    from .consensus import fetch_anchor_consensus

    w3 = index.w3

    def call(method: str, params: list[Any]) -> Any:
        reply = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in reply:
            raise EvidenceIndexError(f"{method}{params} failed: {reply['error']}")
        return reply.get("result")

    proofs = []
    for b in bundle.batches:
        a = b.anchor
        if not a.anchored or a.tx_hash is None or a.block_number is None:
            proofs.append(None)
            continue
        try:
            proofs.append(fetch_anchor_consensus(call, a.tx_hash, a.block_number))
        except LookupError as exc:
            raise EvidenceIndexError(f"the consensus proof of batch 0x{b.root.hex()} is not "
                                     f"ready: {exc}") from exc
    return replace(bundle, consensus=tuple(proofs))


def evidence_proof(index: EvidenceIndex, evidence_id: bytes) -> Bundle:
    """A one-item bundle proving ``evidence_id``'s inclusion in its anchored batch."""
    it = index.item(evidence_id)
    if it is None:
        raise EvidenceNotIndexedError("0x" + bytes(evidence_id).hex())
    return _bundle(index, [it], None)


def loan_bundle(index: EvidenceIndex, loan_id: int | bytes, case_id: int | None = None) -> Bundle:
    """Every indexed item of a loan, in chain order (``case_id`` stamped as 32 bytes if given)."""
    items = index.items_of_loan(loan_id)
    if not items:
        raise EvidenceIndexError(f"loan {loan_id!r} has no indexed evidence")
    return _bundle(index, items, None if case_id is None else case_id.to_bytes(32, "big"))


def _case(index: EvidenceIndex, case_id: int) -> IndexedCase:
    case = index.case(case_id)
    if case is None:
        raise CaseNotIndexedError(case_id)
    return case


def case_bundle(index: EvidenceIndex, case_id: int) -> Bundle:
    """The bundle of a case: all items of its loan."""
    return loan_bundle(index, _case(index, case_id).loan_id, case_id)


def case_json(index: EvidenceIndex, case_id: int) -> dict[str, Any]:
    """The ``case.json`` document of a case (see the module docstring)."""
    c = _case(index, case_id)
    chain_id = index.chain_id
    cases_contract = index.addresses.get("ArbitrationCases")
    if chain_id is None or cases_contract is None:
        raise EvidenceIndexError("the index has no chain id or ArbitrationCases address")

    def hx(b: bytes | None) -> str | None:
        return None if b is None else "0x" + b.hex()

    later = [hx(it.evidence_id) for it in index.items_of_loan(c.loan_id) if it.later]
    award = None
    if c.award_hash is not None:
        award = {
            "award_hash": hx(c.award_hash),
            "signature": hx(c.award_signature),
            "block_number": c.award_block,
            "tx_hash": hx(c.award_tx),
            "eip712": ev.award_typed_data(chain_id, cases_contract, c.case_id, c.loan_id, c.award_hash),
        }
    return {
        "version": CASE_JSON_VERSION,
        "chain_id": chain_id,
        "contracts": {
            "EvidenceRegistry": to_checksum_address(index.addresses["EvidenceRegistry"]),
            "ArbitrationCases": to_checksum_address(cases_contract),
        },
        "case_id": c.case_id,
        "loan_id": c.loan_id,
        "status": c.status,
        "arbitrator": c.arbitrator,
        "opener": c.opener,
        "frozen_head": hx(c.frozen_head),
        "frozen_count": c.frozen_count,
        "opened": {
            "block_number": c.opened_block,
            "block_hash": hx(c.opened_block_hash),
            "timestamp": c.opened_at,
            "tx_hash": hx(c.opened_tx),
        },
        "award": award,
        "access_log": None if c.access_log_head is None else {
            "head": hx(c.access_log_head), "entries": c.access_log_entries},
        "eip712_domain": {
            "name": ev.AWARD_DOMAIN_NAME,
            "version": ev.AWARD_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(cases_contract),
        },
        "later_additions": later,
    }


def _rpc(index: EvidenceIndex, method: str, params: list[Any]) -> Any:
    if index.w3 is None:
        raise EvidenceIndexError("the index has no chain connection to fetch receipts")
    reply = index.w3.provider.make_request(method, params)
    if "error" in reply or reply.get("result") is None:
        raise EvidenceIndexError(f"{method}{params} failed: {reply.get('error', 'null result')}")
    return reply["result"]


def _member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def case_bundle_zip(index: EvidenceIndex, vault: Any, case_id: int) -> bytes:
    """The case zip (see the module docstring); needs the index's chain connection for receipts."""
    bundle = case_bundle(index, case_id)
    doc = case_json(index, case_id)
    members: dict[str, bytes] = {"bundle.json": dump_bundle(bundle), "case.json": _json_bytes(doc)}
    for it in bundle.items:
        name = f"ciphertexts/{it.record.ciphertext_sha256.hex()}.bin"
        if name not in members:
            members[name] = vault.blob(it.record.evidence_id)
    for b in bundle.batches:
        assert b.anchor.tx_hash is not None and b.anchor.block_number is not None
        tx = "0x" + b.anchor.tx_hash.hex()
        name = f"receipts/{tx}.json"
        if name not in members:
            receipt = _rpc(index, "eth_getTransactionReceipt", [tx])
            block = _rpc(index, "eth_getBlockByNumber", [hex(b.anchor.block_number), False])
            members[name] = _json_bytes({"receipt": receipt, "block": block})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in sorted(members, key=lambda n: (n.count("/"), n)):
            _member(zf, name, members[name])
    return out.getvalue()


@dataclass(frozen=True)
class CaseZip:
    """A parsed case zip: the bundle, ``case.json``, ciphertexts by evidence id, receipts by tx hash."""

    bundle: Bundle
    case: dict[str, Any]
    ciphertexts: dict[bytes, bytes]
    receipts: dict[str, dict[str, Any]]


def read_case_zip(data: bytes) -> CaseZip:
    """Parse a case zip; ``BundleFormatError`` names a missing or malformed member."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise BundleFormatError("zip", f"not a zip file: {e}") from e
    with zf:
        def read(name: str) -> bytes:
            info = zf.getinfo(name)
            if info.file_size > _MAX_ZIP_MEMBER:
                raise BundleFormatError(name, f"member of {info.file_size} bytes is too large")
            return zf.read(name)

        names = set(zf.namelist())
        for required in ("bundle.json", "case.json"):
            if required not in names:
                raise BundleFormatError(required, "missing from the case zip")
        bundle = parse_bundle(read("bundle.json"))
        try:
            case = json.loads(read("case.json"))
        except ValueError as e:
            raise BundleFormatError("case.json", f"invalid JSON: {e}") from e
        by_cipher = {it.record.ciphertext_sha256.hex(): it.record.evidence_id for it in bundle.items}
        ciphertexts: dict[bytes, bytes] = {}
        receipts: dict[str, dict[str, Any]] = {}
        for name in sorted(names):
            if name.startswith("ciphertexts/") and name.endswith(".bin"):
                eid = by_cipher.get(name[len("ciphertexts/"):-4])
                if eid is None:
                    raise BundleFormatError(name, "ciphertext of no item in the bundle")
                ciphertexts[eid] = read(name)
            elif name.startswith("receipts/") and name.endswith(".json"):
                try:
                    receipts[name[len("receipts/"):-5]] = json.loads(read(name))
                except ValueError as e:
                    raise BundleFormatError(name, f"invalid JSON: {e}") from e
    return CaseZip(bundle, case, ciphertexts, receipts)
