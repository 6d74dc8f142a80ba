"""Sign-in: `POST /auth/challenge` then `POST /auth/token` (see `arbitration.api.security`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import COOKIE_NAME, ServicesDep
from ..problems import PROBLEM_RESPONSES, Problem, unauthorized
from ..schemas import ChallengePublic, ChallengeRequest, TokenPublic, TokenRequest
from ..security import normalize_address, recover_signer

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/challenge", response_model=ChallengePublic, responses={422: PROBLEM_RESPONSES[422]})
def challenge(body: ChallengeRequest, services: ServicesDep) -> ChallengePublic:
    """A single-use nonce and the exact message to sign. Issued to any address (membership is checked
    at `/auth/token`, so this endpoint does not reveal who is a member)."""
    address = normalize_address(body.address)
    if address is None:
        raise Problem(422, "address is not a valid hex address", kind="validation")
    c = services.challenges.issue(address)
    return ChallengePublic(address=c.address, nonce=c.nonce, message=c.message, expires_at=c.expires_at)


@router.post("/token", response_model=TokenPublic,
             responses={401: PROBLEM_RESPONSES[401], 422: PROBLEM_RESPONSES[422]})
def token(body: TokenRequest, response: Response, services: ServicesDep) -> TokenPublic:
    """Exchange a signed challenge for a bearer token (`Authorization: Bearer ...`).

    401, always with the same body, if the nonce is unknown, expired, issued to another address or
    already used, if the signature does not recover to `address`, or if `address` is not an active
    Consortium member. With `set_cookie`, the token is also set as an HttpOnly, SameSite=Strict
    cookie that the GET routes accept (the browser case page and its download links)."""
    address = normalize_address(body.address)
    if address is None:
        raise unauthorized()
    challenge = services.challenges.consume(address, body.nonce)
    if challenge is None or recover_signer(challenge.message, body.signature) != address:
        raise unauthorized()
    member = services.roles.lookup(address)
    if member is None:
        raise unauthorized()
    value, expires_at = services.tokens.issue(address)
    if body.set_cookie:
        response.set_cookie(
            COOKIE_NAME, value, max_age=services.tokens.ttl, httponly=True, samesite="strict",
            secure=services.settings.cookie_secure, path="/",
        )
    roles = sorted(r.name.lower().replace("_", "-") for r in member[1])
    return TokenPublic(access_token=value, expires_at=expires_at, address=address, roles=roles)
