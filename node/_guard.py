"""Input guards that run before any recursive parser sees a request.

Why: the C JSON decoder and the RLP decoder recurse once per nesting level. py_ecc raises the
interpreter's recursion limit to 100,000 on import, so an 80,000-deep ``[[[[...`` body overflowed
the serving thread's C stack (a segfault, not an exception). Nesting is therefore bounded by a
linear scan before parsing, and the recursion limit is put back to py-evm's own figure.
"""

from __future__ import annotations

import re
import sys

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_RLP_DEPTH",
    "json_too_deep",
    "rlp_too_deep",
    "sane_recursion_limit",
]

#: JSON-RPC requests nest a few levels (batch > request > params > object > list); 128 is ample.
MAX_JSON_DEPTH = 128
#: A typed transaction nests 4 levels (tx > access list > entry > storage keys).
MAX_RLP_DEPTH = 16

_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")
_RUNS = re.compile(rb"\[+|\]+")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays/objects deeper than ``limit`` (strings are skipped).

    Linear and in C: strings are cut out, every byte but brackets dropped, then innermost
    ``[]`` pairs are removed once per pass, so the number of passes is the nesting depth.
    An unterminated string or unbalanced brackets count conservatively (the parser refuses
    such a body anyway; what matters is that it never recurses past ``limit``).
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
    # Each pass removes the innermost pairs, so passes count depth; cheap while they shrink the
    # string fast. Once they stop doing so, one walk over the runs of brackets finishes the job.
    depth = 0
    while s:
        t = s.replace(b"[]", b"")
        shrunk = len(s) - len(t)
        if not shrunk:
            return depth + s.count(b"[") > limit  # leftover ']]..[[': unbalanced opens nest
        s = t
        depth += 1
        if depth > limit:
            return True
        if shrunk * 4 < len(s):
            break
    level = depth  # the passes took exactly `depth` levels off the deepest point
    for run in _RUNS.finditer(s):
        width = run.end() - run.start()
        if s[run.start()] == 0x5B:  # '['
            level += width
            if level > limit:
                return True
        else:
            level -= width
    return False


def rlp_too_deep(raw: bytes, limit: int = MAX_RLP_DEPTH) -> str | None:
    """Why ``raw`` (an RLP item, optionally behind a typed-transaction byte) may not be decoded,
    or None: lists nested deeper than ``limit``, or lengths that run past the end.

    Iterative, so no recursion however the bytes are built.
    """
    pos = 1 if raw and raw[0] < 0x80 and len(raw) > 1 and raw[1] >= 0xC0 else 0
    ends: list[int] = [len(raw)]
    n = len(raw)
    while pos < n:
        b = raw[pos]
        if b < 0x80:
            pos += 1
        elif b < 0xB8:
            pos += 1 + b - 0x80
        elif b < 0xC0:
            k = b - 0xB7
            pos += 1 + k + int.from_bytes(raw[pos + 1:pos + 1 + k], "big")
        else:
            if b < 0xF8:
                start, length = pos + 1, b - 0xC0
            else:
                k = b - 0xF7
                start, length = pos + 1 + k, int.from_bytes(raw[pos + 1:pos + 1 + k], "big")
            end = start + length
            if end > ends[-1]:
                return "a list runs past the end of its enclosing item"
            ends.append(end)
            if len(ends) - 1 > limit:
                return f"lists nested deeper than {limit} levels"
            pos = start
        if pos > ends[-1]:
            return "an item runs past the end of its enclosing list"
        while len(ends) > 1 and pos == ends[-1]:
            ends.pop()
    return None


def sane_recursion_limit() -> int:
    """Put the recursion limit back to py-evm's (1024 EVM call frames), undoing py_ecc's 100,000.

    py_ecc is imported first so that its import-time raise cannot come after this one.
    Returns the limit now in force.
    """
    import py_ecc  # noqa: F401  (its import raises the limit; it must already have happened)
    from eth import EVM_RECURSION_LIMIT

    if sys.getrecursionlimit() > EVM_RECURSION_LIMIT:
        sys.setrecursionlimit(EVM_RECURSION_LIMIT)
    return sys.getrecursionlimit()
