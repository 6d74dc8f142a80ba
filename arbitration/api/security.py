"""Sign-in: single-use challenges, EIP-191 signatures, HMAC bearer tokens, on-chain roles.

Flow: `POST /auth/challenge {address}` -> a nonce and a message naming it; the member signs the
message with its key (`personal_sign`, EIP-191 version 0x45); `POST /auth/token {address, nonce,
signature}` -> a bearer token if the signature recovers to `address`, the nonce was issued for
that address, has not expired and was never used (the nonce is consumed by the first attempt,
right or wrong: a replay always fails), and `address` is an active Consortium member.

Tokens are ``base64url(payload) "." base64url(HMAC-SHA256(secret, label || payload))`` (unpadded,
canonical: the unused bits of the last character must be zero, so a token has one spelling) with
payload ``{"v":1,"sub":address,"iat":..,"exp":..,"jti":..}``. They carry no roles: roles are read
from the Consortium on every request (cached `role_cache_seconds`), so a revoked role or a removed
member loses access within seconds, not at token expiry.

Challenges live in process memory (one API process per vault; a restart simply invalidates the
outstanding ones), bounded by `max_challenges`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_hex_address, to_checksum_address

from client.consortium import ConsortiumClient, Role

__all__ = ["Challenge", "ChallengeStore", "TokenCodec", "TokenClaims", "RoleCache", "recover_signer",
           "normalize_address"]

_TOKEN_LABEL = b"coledger-api-token-v1."
_MAX_TOKEN_CHARS = 1024
_CLOCK_SKEW = 5
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def normalize_address(value: str) -> str | None:
    """Checksummed address, or None if `value` is not a 20-byte hex address."""
    if not isinstance(value, str) or not is_hex_address(value):
        return None
    return str(to_checksum_address(value))


@dataclass(frozen=True)
class Challenge:
    address: str
    nonce: str
    message: str
    expires_at: int


class ChallengeStore:
    """Outstanding sign-in challenges; each nonce can be consumed once."""

    def __init__(self, ttl: int, capacity: int, chain_id: int, api_name: str = "coledger arbitration API",
                 clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._chain_id = chain_id
        self._name = api_name
        self._clock = clock
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Challenge] = OrderedDict()

    def issue(self, address: str) -> Challenge:
        now = int(self._clock())
        nonce = secrets.token_hex(16)
        expires = now + self._ttl
        message = (
            f"{self._name} sign-in\n"
            f"Address: {address}\n"
            f"Chain ID: {self._chain_id}\n"
            f"Nonce: {nonce}\n"
            f"Issued At: {now}\n"
            f"Expires At: {expires}"
        )
        challenge = Challenge(address, nonce, message, expires)
        with self._lock:
            self._prune(now)
            while len(self._open) >= self._capacity:  # oldest first: a flood only hurts itself
                self._open.popitem(last=False)
            self._open[nonce] = challenge
        return challenge

    def consume(self, address: str, nonce: str) -> Challenge | None:
        """The challenge for `nonce` if it was issued to `address` and is still live; always removes it."""
        with self._lock:
            challenge = self._open.pop(nonce, None)
        if challenge is None or challenge.address != address or challenge.expires_at < self._clock():
            return None
        return challenge

    def _prune(self, now: int) -> None:
        while self._open:
            first = next(iter(self._open.values()))
            if first.expires_at >= now:
                break
            self._open.popitem(last=False)


def recover_signer(message: str, signature: str) -> str | None:
    """The address that signed `message` with EIP-191 personal_sign, or None if unrecoverable."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65:
            return None
        return str(Account.recover_message(encode_defunct(text=message), signature=raw))
    except Exception:  # noqa: BLE001 - any malformed signature is simply "not signed"
        return None


@dataclass(frozen=True)
class TokenClaims:
    address: str
    issued_at: int
    expires_at: int


class TokenCodec:
    """HMAC-SHA256 bearer tokens bound to one secret."""

    def __init__(self, secret: bytes, ttl: int, clock: Callable[[], float] = time.time) -> None:
        self._key = hashlib.sha256(b"coledger-api-token-key\x00" + secret).digest()
        self._ttl = ttl
        self._clock = clock

    @property
    def ttl(self) -> int:
        return self._ttl

    def issue(self, address: str) -> tuple[str, int]:
        now = int(self._clock())
        payload = {"v": 1, "sub": address, "iat": now, "exp": now + self._ttl, "jti": secrets.token_hex(8)}
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(self._mac(body))}", now + self._ttl

    def verify(self, token: str) -> TokenClaims | None:
        """Claims of a genuine, unexpired token; None for anything else (no reason given)."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            given = _unb64(mac)
            if not hmac.compare_digest(given, self._mac(body)):
                return None
            payload = json.loads(_unb64(body))
            address = normalize_address(payload["sub"])
            iat, exp = payload["iat"], payload["exp"]
            if payload.get("v") != 1 or address is None or not (isinstance(iat, int) and isinstance(exp, int)):
                return None
        except (ValueError, KeyError, TypeError):
            return None
        now = self._clock()
        if exp <= now or iat > now + _CLOCK_SKEW:
            return None
        return TokenClaims(address, iat, exp)

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, _TOKEN_LABEL + body.encode("ascii", "replace"), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Decode unpadded base64url, accepting only the one string `_b64` gives for the bytes.

    Why canonical: the last character of a length-2 or -3 remainder carries unused low bits that
    decoders ignore, so without the round-trip check one token had several accepted spellings (a
    token's string is what gets logged, compared and revoked; each token must have exactly one).
    """
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not canonical base64url (nonzero padding bits)")
    return raw


class _Read:
    """One chain read of a member's roles, in flight; later callers may wait for it (single flight)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.done = threading.Event()
        self.ok = False


class RoleCache:
    """Roles of active Consortium members, read on chain and cached for `ttl` seconds.

    An answer is never older than `ttl`: it comes from a chain read that began at most `ttl`
    before the lookup. Reads are single-flight per address: concurrent lookups of an expired entry
    wait for the one read in flight (if it began within `ttl` before them; else for a new one)
    instead of each making its own two eth_calls. Past half the `ttl` the first lookup refreshes
    the entry while the others keep using the still-valid one, so a steady stream of requests
    rarely waits for the chain at all.
    """

    def __init__(self, consortium: ConsortiumClient, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._consortium = consortium
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, int, frozenset[Role] | None]] = {}
        self._reads: dict[str, _Read] = {}

    def lookup(self, address: str) -> tuple[int, frozenset[Role]] | None:
        """(member id, roles) of an active member, None for anyone else."""
        now = self._clock()
        while True:
            with self._lock:
                hit = self._cache.get(address)
                read = self._reads.get(address)
                if hit is not None and now - hit[0] < self._ttl and (
                        read is not None or now - hit[0] < self._ttl / 2):
                    return None if hit[2] is None else (hit[1], hit[2])
                if read is None:  # this lookup reads
                    read = self._reads[address] = _Read(self._clock())
                    break
            read.done.wait()  # then: its answer, if it began recently enough; else loop and read anew
            if read.ok and now - read.started < self._ttl:
                with self._lock:
                    hit = self._cache.get(address)
                if hit is not None and hit[0] >= read.started:
                    return None if hit[2] is None else (hit[1], hit[2])
        try:
            member_id = self._consortium.member_id_of(address)
            roles: frozenset[Role] | None = None
            if member_id:
                info = self._consortium.member(member_id)
                if info.active and info.key == address:
                    roles = info.roles
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[address] = (read.started, member_id, roles)
            read.ok = True
        finally:
            with self._lock:
                self._reads.pop(address, None)
            read.done.set()
        return None if roles is None else (member_id, roles)
