"""`GET /healthz`: is the chain reachable and the index following it. No authentication."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import ServicesDep
from ..schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
def healthz(services: ServicesDep) -> HealthPublic:
    try:
        head: int | None = int(services.w3.eth.block_number)
    except Exception:  # noqa: BLE001 - reported as degraded, never as a 5xx
        head = None
    error = services.index.last_error
    return HealthPublic(
        status="ok" if head is not None and error is None else "degraded",
        chain_id=services.chain_id,
        chain_head=head,
        index_error=None if error is None else "the index could not follow the chain (see the server log)",
        access_log_anchoring=services.anchorer is not None,
    )
