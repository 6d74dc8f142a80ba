"""Evidence items: metadata, sealed content, single-item proof, and the lead bank's upload.

Content is returned *sealed* (decision): the stored ciphertext plus the data key wrapped for the
caller's registered reader key, for client-side decryption (`arbitration.sealing.open_sealed`).
The API never holds plaintext or reader private keys, so a compromised API server leaks nothing
readable. Before anything is returned the blob is re-hashed against the ciphertext hash anchored
on chain; a mismatch is a 409 problem "evidence blob hash mismatch" and the bytes are not served
(409, not 5xx: the server works, the stored evidence conflicts with its anchor).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from fastapi import APIRouter, Response, status
from fastapi.concurrency import run_in_threadpool

from client.consortium import Role

from ...bundle import dump_bundle
from ...errors import BlobNotFoundError, BlobTamperedError, EvidenceIndexError, RecordNotFoundError, VaultConflictError
from ...proofs import evidence_proof
from ...record import EvidenceKind, EvidenceRecord
from ...sealing import WrappedKey
from ...vault import ItemMeta
from ..access_log import AccessAction
from ..deps import (
    CurrentLeadBank,
    CurrentReader,
    IndexDep,
    ReadableEvidence,
    ServicesDep,
    VaultDep,
    VisibleEvidence,
)
from ..problems import (
    AUTH_RESPONSES,
    PROBLEM_RESPONSES,
    Problem,
    blob_hash_mismatch,
    content_missing,
    forbidden,
    not_found,
)
from ..schemas import EvidenceContentPublic, EvidencePublic, UploadEnvelope, UploadPublic, WrappedKeyPublic
from ..views import expected_prev, item_public

router = APIRouter(prefix="/evidence", tags=["evidence"], responses=AUTH_RESPONSES)


@router.get("/{evidence_id}", response_model=EvidencePublic)
def get_evidence(item: VisibleEvidence, index: IndexDep, vault: VaultDep) -> EvidencePublic:
    """Metadata and anchor of one item: hashes, kind, submitter, block, time, tx, chain position."""
    public = item_public(item, item.prev == expected_prev(index, item))
    try:
        stored = vault.record(item.evidence_id)
    except RecordNotFoundError:
        return EvidencePublic(**public.model_dump(), in_vault=False)
    return EvidencePublic(**public.model_dump(), in_vault=True, media_type=stored.media_type, size=stored.size,
                          collected=stored.collected)


@router.get("/{evidence_id}/content", response_model=EvidenceContentPublic,
            responses={409: PROBLEM_RESPONSES[409]})
def get_content(item: ReadableEvidence, member: CurrentReader, services: ServicesDep, index: IndexDep,
                vault: VaultDep, response: Response) -> EvidenceContentPublic:
    """The sealed content and the data key wrapped for the caller's reader key. Lead bank or
    assigned arbitrator only (auditors: 403). Every successful read is appended to the access log
    of the loan's case (case 0 if the loan has none)."""
    loan_cases = [c for c in index.cases_for(member.address, [Role.ARBITRATOR]) if c.loan_id == item.loan_number]
    own_case = loan_cases[-1].case_id if loan_cases else None
    reader = services.reader_keys.of(member.address)
    if reader is None:
        raise forbidden("you have no reader key registered on chain (coledger evidence register-key)")
    wrapped = None
    if own_case is not None:
        wrapped = vault.key_for(item.evidence_id, reader, own_case.to_bytes(32, "big"))
    if wrapped is None:
        wrapped = vault.key_for(item.evidence_id, reader)
    if wrapped is None:
        if not vault.has(item.evidence_id):
            raise content_missing()
        raise forbidden("no data key of this item is wrapped for your reader key")
    blob = _checked_blob(vault, item.evidence_id, item.ciphertext_sha256)
    stored = vault.record(item.evidence_id)
    log_case = own_case
    if log_case is None:
        latest = index.case_of_loan(item.loan_number)
        log_case = 0 if latest is None else latest.case_id
    services.access_log.append(log_case, member.address, AccessAction.CONTENT, item.evidence_id)
    response.headers["Content-Disposition"] = f'attachment; filename="evidence-{item.evidence_id.hex()}.sealed.json"'
    response.headers["Cache-Control"] = "no-store"
    return EvidenceContentPublic(
        evidence_id="0x" + item.evidence_id.hex(),
        ciphertext=base64.b64encode(blob).decode("ascii"),
        wrapped_key=_wrapped_public(wrapped),
        sha256="0x" + item.sha256.hex(),
        sm3="0x" + item.sm3.hex(),
        ciphertext_sha256="0x" + item.ciphertext_sha256.hex(),
        media_type=stored.media_type,
    )


def _checked_blob(vault: VaultDep, evidence_id: bytes, anchored_sha256: bytes) -> bytes:
    """The blob, re-hashed by the vault against its record AND here against the anchored hash
    (a rewritten vault record pointing at another blob is caught too)."""
    try:
        blob = vault.blob(evidence_id)
    except BlobTamperedError as exc:
        raise blob_hash_mismatch(exc.address) from exc
    except (RecordNotFoundError, BlobNotFoundError) as exc:
        raise content_missing() from exc
    if hashlib.sha256(blob).digest() != anchored_sha256:
        raise blob_hash_mismatch(anchored_sha256.hex())
    return blob


def _wrapped_public(wk: WrappedKey) -> WrappedKeyPublic:
    return WrappedKeyPublic(reader="0x" + wk.reader.hex(), case_id="0x" + wk.case_id.hex(),
                            sealed="0x" + wk.sealed.hex())


@router.get("/{evidence_id}/proof", response_class=Response,
            responses={200: {"content": {"application/json": {}},
                             "description": "a bundle (v1; v2 on a consortium network) of this one item"}})
def get_proof(item: VisibleEvidence, index: IndexDep) -> Response:
    """A one-item bundle: the record, its RFC 6962 inclusion path and its batch's anchor; on a
    consortium network (v2) also the validators' commits proving the anchoring block and time.
    `coledger evidence verify` checks it offline (`--validators GENESIS` for the commits) and
    against a chain RPC of the verifier's choice."""
    try:
        bundle = evidence_proof(index, item.evidence_id)
    except EvidenceIndexError as exc:
        raise Problem(409, "the item's batch is not fully indexed yet", kind="proof-not-ready") from exc
    return Response(dump_bundle(bundle), media_type="application/json")


@router.post("/upload", response_model=UploadPublic, status_code=status.HTTP_201_CREATED,
             responses={409: PROBLEM_RESPONSES[409], 413: PROBLEM_RESPONSES[413]})
async def upload(envelope: UploadEnvelope, member: CurrentLeadBank, services: ServicesDep) -> UploadPublic:
    """Store one sealed item (as `arbitration.sealing.seal` makes it) in the vault, for a loan the
    caller leads. The caller anchors the record itself (before or after the upload; the index
    links the two). Write-once: the same envelope again is accepted, a different one under the same
    evidence id is a 409, as is a record that disagrees with the one already anchored.
    The whole HTTP body is limited to `max_upload_bytes` (413 problem)."""
    return await run_in_threadpool(_store, envelope, member.address, member.member_id, services)


def _b(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text[2:])


def _store(envelope: UploadEnvelope, address: str, member_id: int, services: ServicesDep) -> UploadPublic:
    r = envelope.record
    try:
        kind = EvidenceKind.from_json_name(r.kind)
    except KeyError:
        raise Problem(422, f"unknown evidence kind {r.kind[:32]!r}", kind="validation") from None
    record = EvidenceRecord(_b(r.evidence_id), kind, _b(r.loan_id), _b(r.sha256), _b(r.sm3),
                            _b(r.ciphertext_sha256), _b(r.prev))
    loan = int.from_bytes(record.loan_id, "big")
    if not 0 < loan < 2**64 or services.loans.lead_member(loan) != member_id:
        raise not_found()  # a loan the caller does not lead is, to it, no loan at all
    try:
        blob = base64.b64decode(envelope.ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise Problem(422, "ciphertext is not valid base64", kind="validation") from None
    if hashlib.sha256(blob).digest() != record.ciphertext_sha256:
        raise Problem(422, "the ciphertext does not hash to record.ciphertext_sha256", kind="validation")
    keys = []
    for i, wk in enumerate(envelope.wrapped_keys):
        try:
            reader, case_id, sealed = _b(wk.reader), _b(wk.case_id), _b(wk.sealed)
        except ValueError:
            raise Problem(422, f"wrapped_keys[{i}] is not hex", kind="validation") from None
        if len(reader) != 32 or len(case_id) != 32 or not 0 < len(sealed) <= 1024:
            raise Problem(422, f"wrapped_keys[{i}]: reader and case_id are 32 bytes, sealed 1..1024",
                          kind="validation")
        keys.append(WrappedKey(reader, case_id, sealed))
    anchored = services.registry.item(record.evidence_id)
    if anchored is not None and (anchored.item_hash != record.item_hash() or anchored.submitter != address):
        raise Problem(409, "a different record (or another submitter's) is anchored under this evidence id",
                      kind="evidence-conflict")
    meta = ItemMeta(submitter=address, media_type=envelope.media_type, collected=envelope.collected)
    try:
        stored = services.vault.put_item(record, blob, keys, meta)
    except VaultConflictError as exc:
        raise Problem(409, "different content is already stored under this evidence id",
                      kind="evidence-conflict") from exc
    except ValueError as exc:
        raise Problem(422, "the envelope was refused by the vault", kind="validation") from exc
    return UploadPublic(evidence_id=r.evidence_id.lower(), item_hash="0x" + record.item_hash().hex(),
                        ciphertext_sha256="0x" + record.ciphertext_sha256.hex(), size=stored.size,
                        anchored=anchored is not None)
