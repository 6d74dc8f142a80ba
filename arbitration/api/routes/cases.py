"""Cases: list, view, access log, and the case zip (`case_bundle_zip`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from ...errors import BlobNotFoundError, BlobTamperedError, EvidenceIndexError, RecordNotFoundError
from ...proofs import case_bundle_zip
from ..access_log import AccessAction
from ..deps import CurrentReader, CurrentViewer, IndexDep, ReadableCase, ServicesDep, VaultDep, VisibleCase
from ..problems import AUTH_RESPONSES, PROBLEM_RESPONSES, Problem, blob_hash_mismatch, content_missing
from ..schemas import AccessEntriesPublic, CasePublic, CasesPublic
from ..views import access_entry, case_base, case_public

router = APIRouter(prefix="/cases", tags=["cases"], responses=AUTH_RESPONSES)


@router.get("", response_model=CasesPublic)
def list_cases(member: CurrentViewer, index: IndexDep) -> CasesPublic:
    """The cases the caller may see: an arbitrator its assigned cases, a lead bank those it opened,
    an auditor all."""
    return CasesPublic(cases=[case_base(c) for c in index.cases_for(member.address, member.roles)])


@router.get("/{case_id}", response_model=CasePublic)
def get_case(case: VisibleCase, services: ServicesDep) -> CasePublic:
    """The case, its award, and its access log: the local head and count, and the head last anchored
    on chain (`anchored_*`, from the AccessLogAnchored events)."""
    return case_public(case, services.access_log, services.anchorer is not None)


@router.get("/{case_id}/access-log", response_model=AccessEntriesPublic)
def get_access_log(
    case: VisibleCase,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="entries after this sequence number")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AccessEntriesPublic:
    """Entries of the case's hash-chained access log (who read what, when)."""
    entries = services.access_log.entries(case.case_id, after, limit)
    return AccessEntriesPublic(case_id=case.case_id, entries=[access_entry(e) for e in entries])


@router.get(
    "/{case_id}/bundle",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the case zip"},
               409: PROBLEM_RESPONSES[409]},
)
async def get_bundle(case: ReadableCase, member: CurrentReader, index: IndexDep, vault: VaultDep,
                     services: ServicesDep) -> Response:
    """The case zip: bundle.json (every item of the loan with proofs and anchors), case.json (the
    case, award and its EIP-712 data), ciphertexts/, receipts/ — for `coledger evidence verify`.
    Lead bank (opener) or assigned arbitrator; logged in the case's access log."""
    try:
        data = await run_in_threadpool(case_bundle_zip, index, vault, case.case_id)
    except BlobTamperedError as exc:
        raise blob_hash_mismatch(exc.address) from exc
    except (RecordNotFoundError, BlobNotFoundError) as exc:
        raise content_missing() from exc
    except EvidenceIndexError as exc:
        raise Problem(409, "the case's evidence is not fully indexed yet (or the loan has none)",
                      kind="case-not-ready") from exc
    await run_in_threadpool(services.access_log.append, case.case_id, member.address, AccessAction.BUNDLE,
                            case.case_id.to_bytes(32, "big"))
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="case-{case.case_id}.zip"'})
