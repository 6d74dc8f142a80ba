"""Request body limits, enforced before any route sees the body: its size from `Content-Length`
before anything is read and by counting the bytes actually received (a chunked or lying client
cannot get past it either), then its JSON nesting depth.

`POST /evidence/upload` may carry `max_upload_bytes` (the whole HTTP body: the JSON envelope with
the base64 ciphertext); every other route at most `SMALL_BODY_BYTES`. Over the limit the answer
is a 413 problem (`urn:coledger:problem:payload-too-large`), and no more than the limit is ever
buffered. A body nesting arrays/objects deeper than `MAX_JSON_DEPTH` is a 400 problem
(`urn:coledger:problem:json-too-deep`) before the JSON decoder, which recurses in C once per level
(80,000 levels overflowed the thread stack: issue 13, defect 4), ever sees it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import PROBLEM_JSON, Problem

__all__ = ["SMALL_BODY_BYTES", "MAX_JSON_DEPTH", "BodyLimitMiddleware", "too_large",
           "too_deep", "json_too_deep"]

SMALL_BODY_BYTES = 64 * 1024
#: Every request document of this API nests a handful of levels.
MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")
_RUNS = re.compile(rb"\[+|\]+")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body` nests arrays/objects deeper than `limit`, strings skipped (linear, mostly in C).

    Passes that remove the innermost `[]` pairs count the depth while they shrink the text fast;
    a walk over the runs of brackets finishes. Unbalanced or unterminated input counts
    conservatively: what matters is that the decoder never recurses past `limit`.
    (The node has the same guard in `node._guard`; the API does not import the node.)
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    # Cut strings out cheaply: drop escaped backslashes and quotes (JSON escapes pair up left to
    # right), keep only quotes and brackets (a hex string becomes ""), then cut the "..." pieces.
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    s = _STRING.sub(b"", body.translate(None, _NOT_STRUCTURE))
    return _bracket_depth_exceeds(s.translate(_SQUARE, _NOT_BRACKETS), limit)


def _bracket_depth_exceeds(s: bytes, limit: int) -> bool:
    """Whether a string of only '[' and ']' nests deeper than `limit` (unbalanced opens count)."""
    if s.count(b"[") <= limit:
        return False
    depth = 0
    while s:
        t = s.replace(b"[]", b"")
        shrunk = len(s) - len(t)
        if not shrunk:
            return depth + s.count(b"[") > limit
        s = t
        depth += 1
        if depth > limit:
            return True
        if shrunk * 4 < len(s):
            break
    level = depth
    for run in _RUNS.finditer(s):
        width = run.end() - run.start()
        level += width if s[run.start()] == 0x5B else -width
        if level > limit:
            return True
    return False


def too_deep(limit: int) -> Problem:
    return Problem(400, f"the JSON body nests deeper than {limit} levels", kind="json-too-deep",
                   title="JSON nested too deeply", extra={"limit": limit})


def too_large(limit: int) -> Problem:
    return Problem(413, f"the request body exceeds the limit of {limit} bytes", kind="payload-too-large",
                   title="Payload too large", extra={"limit": limit})


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
        # The whole body is read here (never more than `limit`) so that its depth is known before
        # FastAPI decodes it; the app then receives it as one message.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay(message, receive), send)
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _send_problem(send, too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_too_deep(body):
            await _send_problem(send, too_deep(MAX_JSON_DEPTH))
            return
        await self.app(scope, _replay({"type": "http.request", "body": body, "more_body": False}, receive),
                       send)


def _replay(first: Message, receive: Receive) -> Receive:
    """`receive` that answers `first` once, then whatever the connection says (a disconnect)."""
    pending = [first]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


async def _send_problem(send: Send, problem: Problem) -> None:
    body = json.dumps(problem.body()).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
