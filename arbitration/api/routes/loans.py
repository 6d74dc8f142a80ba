"""A loan's evidence (in hash-chain order, paged) and its timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ..deps import IndexDep, ServicesDep, VisibleLoan
from ..problems import AUTH_RESPONSES
from ..schemas import EvidenceListPublic, TimelinePublic
from ..views import items_with_links, timeline_entry

router = APIRouter(prefix="/loans", tags=["loans"], responses=AUTH_RESPONSES)

MAX_PAGE = 1000


@router.get("/{loan_id}/evidence", response_model=EvidenceListPublic)
def loan_evidence(
    loan_id: VisibleLoan,
    index: IndexDep,
    services: ServicesDep,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="chain position to continue after")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Response:
    """The loan's anchored items in hash-chain order: kind, hashes, submitter, block number and time,
    transaction, batch, chain position, whether each chain link holds, and whether the item was
    added after the case opened."""
    # The caller is authenticated and may see the loan (dependencies); the page is the same for
    # every such caller, so it is computed once per index state (`PageCache`).
    key = ("loan-evidence", loan_id, after, limit)
    state = (services.index.version, index.cursor)  # before the query: an entry is never newer than its state
    body = services.pages.get(key, state)
    if body is None:
        items = index.items_of_loan(loan_id, limit=limit + 1, after=after)
        more = len(items) > limit
        items = items[:limit]
        page = EvidenceListPublic(
            loan_id=loan_id,
            items=items_with_links(index, items),
            next_after=items[-1].position if more and items else None,
        )
        body = page.model_dump_json().encode()
        services.pages.put(key, state, body)
    return Response(body, media_type="application/json")


@router.get("/{loan_id}/timeline", response_model=TimelinePublic)
def loan_timeline(loan_id: VisibleLoan, index: IndexDep) -> TimelinePublic:
    """Disbursement, fund flows with their verdicts, repayments, classification and collection
    steps, default, evidence items and case events, in chain order (block, log index, leaf)."""
    return TimelinePublic(loan_id=loan_id, entries=[timeline_entry(e) for e in index.timeline(loan_id)])
