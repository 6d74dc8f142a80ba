"""RFC 9457 problem details (`application/problem+json`) for every error the API returns.

Why one module: a client (or an attacker) must not learn anything from the shape of an error —
the 401 body is the same whatever was wrong with the token, a 404 for a case the caller may not
see is byte-identical to a 404 for a case that does not exist, and a 500 says nothing but
"internal error". Routes raise `Problem`; FastAPI's own 404/405/422 and any unexpected exception
are converted by the handlers installed by `install`.

`type` is ``about:blank`` when the status code says it all (RFC 9457 section 4.2.1; the title is
then the status phrase) and ``urn:coledger:problem:<slug>`` for the API's own problem kinds.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import BlobTamperedError, EvidenceIndexError, VaultCorruptError

__all__ = [
    "PROBLEM_JSON",
    "ProblemDetails",
    "Problem",
    "unauthorized",
    "forbidden",
    "not_found",
    "blob_hash_mismatch",
    "content_missing",
    "problem_response",
    "install",
    "PROBLEM_RESPONSES",
    "AUTH_RESPONSES",
]

PROBLEM_JSON = "application/problem+json"
URN = "urn:coledger:problem:"
log = logging.getLogger("arbitration.api")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; extension members (e.g. ``errors``) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None


class Problem(Exception):
    """Raise from a route or dependency to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.status = int(status)
        self.type = f"{URN}{kind}" if kind else "about:blank"
        self.title = title or HTTPStatus(self.status).phrase
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(f"{self.status} {self.title}: {detail}")

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail is not None:
            out["detail"] = self.detail
        out.update(self.extra)
        return out


def unauthorized() -> Problem:
    """The one 401: missing, malformed, forged, expired, replayed — all look the same."""
    return Problem(
        401,
        "a valid bearer token is required",
        headers={"WWW-Authenticate": 'Bearer realm="coledger"'},
    )


def forbidden(detail: str) -> Problem:
    return Problem(403, detail)


def not_found() -> Problem:
    """The one 404 for resources: nonexistent and not-visible-to-you are indistinguishable."""
    return Problem(404, "no such resource")


def blob_hash_mismatch(address: str) -> Problem:
    """The stored blob no longer hashes to the ciphertext hash anchored on chain (409, never served)."""
    return Problem(409, f"evidence blob hash mismatch: the stored blob no longer hashes to its anchored "
                        f"ciphertext hash 0x{address}; it is not served", kind="evidence-blob-hash-mismatch",
                   title="Evidence blob hash mismatch")


def content_missing() -> Problem:
    """A visible item whose sealed content this API's vault does not hold."""
    return Problem(404, "the sealed content of this item is not in this API's vault", kind="evidence-content-missing",
                   title="Evidence content not stored")


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, headers=problem.headers,
                        media_type=PROBLEM_JSON)


async def _on_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return problem_response(not_found())
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 500 else None
    if exc.status_code == 405:
        detail = "method not allowed on this resource"
    if exc.status_code == 413:
        limit = getattr(exc, "limit", None)
        return problem_response(Problem(413, detail, kind="payload-too-large", title="Payload too large",
                                        extra={} if limit is None else {"limit": limit}))
    headers = dict(exc.headers or {})
    return problem_response(Problem(exc.status_code, detail, headers=headers))


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Locations and messages only: echoing the offending input back would reflect attacker bytes.
    errors = [
        {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    return problem_response(
        Problem(422, "the request is not valid", kind="validation", title="Request validation failed",
                extra={"errors": errors})
    )


async def _on_tampered(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BlobTamperedError)
    return problem_response(blob_hash_mismatch(exc.address))


async def _on_vault_corrupt(request: Request, exc: Exception) -> JSONResponse:
    log.error("corrupt vault file on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(Problem(409, "a vault file of this evidence does not parse or does not match its name; "
                                         "it is not served", kind="evidence-vault-corrupt",
                                    title="Evidence vault file corrupt"))


async def _on_index(request: Request, exc: Exception) -> JSONResponse:
    log.error("evidence index error on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(Problem(503, "the evidence index is not available; retry later",
                                    headers={"Retry-After": "2"}))


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("service unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(Problem(503, "a backend (chain node or storage) is unavailable; retry later",
                                    headers={"Retry-After": "2"}))


async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(Problem(500, "internal error"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(BlobTamperedError, _on_tampered)
    app.add_exception_handler(VaultCorruptError, _on_vault_corrupt)
    app.add_exception_handler(EvidenceIndexError, _on_index)
    app.add_exception_handler(OSError, _on_unavailable)  # connection refused, timeouts, disk errors
    app.add_exception_handler(Exception, _on_crash)


def _doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": ProblemDetails.model_json_schema()}}}


#: OpenAPI `responses=` for routes behind authentication.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc("missing, malformed, forged or expired token (one body for all)"),
    403: _doc("a member without the role this route needs"),
    404: _doc("no such resource, or one the caller may not see (indistinguishable)"),
    409: _doc("the stored evidence disagrees with its anchor (e.g. blob hash mismatch), a write conflicts, or "
              "the chain has not reached the `min_block` asked for"),
    413: _doc("the request body is over the limit"),
    422: _doc("request validation failed"),
}

#: The problems every authenticated route may answer.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {k: PROBLEM_RESPONSES[k] for k in (401, 403, 404, 409, 422)}
