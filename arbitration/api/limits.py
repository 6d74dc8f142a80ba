"""Request body limits, enforced twice: from `Content-Length` before anything is read, and by
counting the bytes actually received (a chunked or lying client cannot get past it either).

`POST /evidence/upload` may carry `max_upload_bytes` (the whole HTTP body: the JSON envelope with
the base64 ciphertext); every other route at most `SMALL_BODY_BYTES`. Over the limit the answer
is a 413 problem (`urn:coledger:problem:payload-too-large`), and the body is never buffered.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import PROBLEM_JSON, Problem

__all__ = ["SMALL_BODY_BYTES", "PayloadTooLarge", "BodyLimitMiddleware", "too_large"]

SMALL_BODY_BYTES = 64 * 1024


def too_large(limit: int) -> Problem:
    return Problem(413, f"the request body exceeds the limit of {limit} bytes", kind="payload-too-large",
                   title="Payload too large", extra={"limit": limit})


class PayloadTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit (FastAPI re-raises HTTPExceptions
    from body parsing unchanged, so the problem handler turns it into the 413 document)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the request body exceeds the limit of {limit} bytes")
        self.limit = limit


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
        if declared is not None:
            try:
                length = int(declared)
                if length < 0:
                    raise ValueError
            except ValueError:
                await _send_problem(send, Problem(400, "invalid Content-Length header"))
                return
            if length > limit:
                await _send_problem(send, too_large(limit))
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        await self.app(scope, limited, send)


async def _send_problem(send: Send, problem: Problem) -> None:
    body = json.dumps(problem.body()).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
