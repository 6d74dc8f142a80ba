"""Which web pages may call the node's JSON-RPC from a browser (CORS).

Why a policy and not ``*``: a page the user merely visits could otherwise read the node's
answers (pending transactions, balances) and send it requests. By default only pages served
from the user's own machine (``localhost``, ``127.0.0.1``, ``[::1]``, any port — a dapp in
development, a local Remix) may; anything else is named explicitly with ``--cors-origin``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["CorsPolicy", "LOCAL_HOSTS", "parse_origin"]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def parse_origin(origin: str) -> str:
    """``scheme://host[:port]`` in canonical form; ValueError naming what is wrong."""
    if origin == "*":
        return origin
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"CORS origin {origin!r} must look like http(s)://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"CORS origin {origin!r} must not have a path, query or fragment")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        raise ValueError(f"CORS origin {origin!r} has an invalid port") from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class CorsPolicy:
    """Local origins always (unless ``local`` is False), plus the listed ones (``*``: any)."""

    origins: frozenset[str] = frozenset()
    local: bool = True

    @classmethod
    def from_list(cls, origins: tuple[str, ...] | list[str]) -> CorsPolicy:
        return cls(frozenset(parse_origin(o) for o in origins))

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        if "*" in self.origins:
            return True
        try:
            canonical = parse_origin(origin)
        except ValueError:
            return False
        if canonical in self.origins:
            return True
        host = urlsplit(canonical).hostname or ""
        return self.local and host in LOCAL_HOSTS
